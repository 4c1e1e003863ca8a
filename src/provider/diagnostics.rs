//! Diagnostics: what Terraform shows the user, with the attribute path when
//! one field is at fault.

use super::proto::tfplugin6 as pb;
use crate::model::FieldError;

pub fn error(summary: impl Into<String>, detail: impl Into<String>) -> pb::Diagnostic {
    pb::Diagnostic { severity: pb::diagnostic::Severity::Error as i32, summary: summary.into(), detail: detail.into(), attribute: None }
}

pub fn warning(summary: impl Into<String>, detail: impl Into<String>) -> pb::Diagnostic {
    pb::Diagnostic { severity: pb::diagnostic::Severity::Warning as i32, summary: summary.into(), detail: detail.into(), attribute: None }
}

/// An error about one attribute of a configuration.
pub fn at(attribute: &str, summary: impl Into<String>, detail: impl Into<String>) -> pb::Diagnostic {
    pb::Diagnostic { attribute: Some(attribute_path(attribute, &[])), ..error(summary, detail) }
}

/// Checks that the string attributes named are known names (slugs): a
/// diagnostic on each that is not. Unknown values are left for later.
pub fn names(config: &super::dynamic::Value, attributes: &[&str]) -> Vec<pb::Diagnostic> {
    attributes
        .iter()
        .filter_map(|attribute| {
            let value = config.attr(attribute).as_str()?;
            let reason = crate::model::rules::name(value).err()?;
            Some(field(&FieldError { field: attribute.to_string(), reason }, &[]))
        })
        .collect()
}

/// Checks that a string attribute is one of `allowed` (when set and known).
pub fn one_of(config: &super::dynamic::Value, attribute: &str, allowed: &[&str]) -> Option<pb::Diagnostic> {
    let value = config.attr(attribute).as_str()?;
    (!allowed.contains(&value))
        .then(|| at(attribute, format!("Invalid {attribute}"), format!("{attribute} must be one of {}, not {value:?}.", allowed.join(", "))))
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
        // A block list's element (`policy[1].when`); a set's index stops the path.
        let index =
            segment.strip_prefix(name).and_then(|i| i.strip_prefix('[')).and_then(|i| i.strip_suffix(']')).and_then(|i| i.parse::<i64>().ok());
        match index {
            Some(index) if !tail.is_empty() => steps.push(pb::attribute_path::Step { selector: Some(Selector::ElementKeyInt(index)) }),
            Some(_) => break,
            None => {}
        }
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

/// Checks a configuration naming a subscription and one of its two keys
/// (`subscription`, `key`), as the key actions and ephemeral resources do.
pub fn subscription_key_slot(config: &super::dynamic::Value) -> Vec<pb::Diagnostic> {
    let mut found = names(config, &["subscription"]);
    found.extend(one_of(config, "key", &["primary", "secondary"]));
    found
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
