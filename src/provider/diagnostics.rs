//! Diagnostics: what Terraform shows the user, with the attribute path when
//! one field is at fault.

use super::proto::tfplugin6 as pb;
use crate::model::FieldError;

pub fn error(summary: impl Into<String>, detail: impl Into<String>) -> pb::Diagnostic {
    pb::Diagnostic { severity: pb::diagnostic::Severity::Error as i32, summary: summary.into(), detail: detail.into(), attribute: None }
}

/// An attribute path from a model field path: `rate_limit.period_seconds`,
/// `backend_headers.Authorization` (a map key), `tools[1]` (a set: the path
/// stops at the attribute).
pub fn attribute_path(field: &str, map_attributes: &[&str]) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    let mut steps = Vec::new();
    let mut rest = field;
    while !rest.is_empty() {
        let (segment, tail) = match rest.find('.') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let name = segment.split('[').next().unwrap_or(segment);
        steps.push(pb::attribute_path::Step { selector: Some(Selector::AttributeName(name.to_string())) });
        if map_attributes.contains(&name) && !tail.is_empty() {
            steps.push(pb::attribute_path::Step { selector: Some(Selector::ElementKeyString(tail.to_string())) });
            break;
        }
        rest = tail;
    }
    pb::AttributePath { steps }
}

/// A field error from the model as an attribute diagnostic.
pub fn field(error: &FieldError, map_attributes: &[&str]) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: pb::diagnostic::Severity::Error as i32,
        summary: format!("Invalid {}", error.field.split(['.', '[']).next().unwrap_or(&error.field)),
        detail: format!("{} {}.", error.field, error.reason),
        attribute: Some(attribute_path(&error.field, map_attributes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::attribute_path::step::Selector;

    fn names(path: &pb::AttributePath) -> Vec<String> {
        path.steps
            .iter()
            .map(|s| match &s.selector {
                Some(Selector::AttributeName(n)) => n.clone(),
                Some(Selector::ElementKeyString(k)) => format!("[{k}]"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn paths_follow_nesting_and_map_keys() {
        assert_eq!(names(&attribute_path("rate_limit.period_seconds", &[])), vec!["rate_limit", "period_seconds"]);
        assert_eq!(names(&attribute_path("backend_headers.X.Y", &["backend_headers"])), vec!["backend_headers", "[X.Y]"]);
        assert_eq!(names(&attribute_path("tools[1]", &[])), vec!["tools"]);
    }
}
