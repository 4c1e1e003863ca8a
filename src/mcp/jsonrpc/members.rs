//! A JSON object's members found in its text, without building values:
//! where a traced call's `params` starts, to add its trace context to the
//! client's bytes. serde_json found it as a borrowed `RawValue` and read
//! `params` again for its names, 3,900 instructions a call; this scan
//! reads each byte once. Its text is JSON its caller has already parsed, so
//! it only follows the structure; anything unexpected ends it with None.

use std::borrow::Cow;

/// The offset of the first byte at or after `at` that is not JSON whitespace.
pub(super) fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).copied().is_some_and(is_space) {
        at += 1;
    }
    at
}

/// JSON's whitespace (narrower than ASCII's: no form feed).
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// Calls `member` with the name and the value's first offset of each
/// member of the object whose `{` is at `open`, in order; `member` returns
/// the offset past the value (`value_end`'s, or its own reading's). The
/// offset past the object's `}`, or None when the text is not an object
/// there or `member` says stop. Names are unescaped, so `"par\u0061ms"` is
/// `params`.
pub(super) fn each<'a>(text: &'a str, open: usize, mut member: impl FnMut(Cow<'a, str>, usize) -> Option<usize>) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.get(open) != Some(&b'{') {
        return None;
    }
    let mut at = skip_space(bytes, open + 1);
    if bytes.get(at) == Some(&b'}') {
        return Some(at + 1);
    }
    loop {
        if bytes.get(at) != Some(&b'"') {
            return None;
        }
        let (name_end, escaped) = string_end(bytes, at)?;
        let name = if escaped {
            Cow::Owned(serde_json::from_str::<String>(text.get(at..name_end)?).ok()?)
        } else {
            Cow::Borrowed(text.get(at + 1..name_end - 1)?)
        };
        at = skip_space(bytes, name_end);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at = skip_space(bytes, member(name, skip_space(bytes, at + 1))?);
        match bytes.get(at)? {
            b',' => at = skip_space(bytes, at + 1),
            b'}' => return Some(at + 1),
            _ => return None,
        }
    }
}

/// The offset past the string whose opening quote is at `open`, and
/// whether it holds an escape.
fn string_end(bytes: &[u8], open: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    let mut at = open + 1;
    loop {
        at += bytes.get(at..)?.iter().position(|b| matches!(b, b'"' | b'\\'))?;
        if bytes[at] == b'"' {
            return Some((at + 1, escaped));
        }
        escaped = true;
        at += 2;
    }
}

/// The offset past the value that starts at `start`.
pub(super) fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match bytes.get(start)? {
        b'"' => string_end(bytes, start).map(|(end, _)| end),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut at = start;
            loop {
                match bytes.get(at)? {
                    b'"' => {
                        at = string_end(bytes, at)?.0;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        // A number, true, false or null: up to what follows a value.
        _ => {
            let length = bytes[start..].iter().position(|&b| matches!(b, b',' | b'}' | b']') || is_space(b));
            let end = length.map_or(bytes.len(), |length| start + length);
            (end > start).then_some(end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_and_values(text: &str) -> Option<(Vec<(String, String)>, usize)> {
        let mut found = Vec::new();
        let end = each(text, skip_space(text.as_bytes(), 0), |name, start| {
            let end = value_end(text.as_bytes(), start)?;
            found.push((name.into_owned(), text[start..end].to_string()));
            Some(end)
        })?;
        Some((found, end))
    }

    #[test]
    fn members_are_read_as_serde_json_reads_them() {
        let text = r#" { "a" : 1 , "b\"}" :"x\\" ,"c":{"d":["}",{"e":null}]},"\u0066":[ ],"g":-1.5e3} "#;
        let (found, end) = names_and_values(text).unwrap();
        let pairs: Vec<(&str, &str)> = found.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(pairs, [("a", "1"), ("b\"}", r#""x\\""#), ("c", r#"{"d":["}",{"e":null}]}"#), ("f", "[ ]"), ("g", "-1.5e3")]);
        assert_eq!(&text[end..], " ");
        assert_eq!(names_and_values("{}").unwrap(), (vec![], 2));
    }

    #[test]
    fn what_is_not_an_object_ends_the_scan() {
        for text in ["", "[]", "{", r#"{"a"}"#, r#"{"a":1"#, r#"{"a":{"b":1}"#, r#"{"a":"x}"#, "{1:2}"] {
            assert_eq!(names_and_values(text), None, "{text}");
        }
    }

    #[test]
    fn the_caller_can_stop_the_scan() {
        let mut seen = 0;
        assert_eq!(
            each(r#"{"a":1,"b":2}"#, 0, |_, _| {
                seen += 1;
                None
            }),
            None
        );
        assert_eq!(seen, 1);
    }
}
