//! `text/event-stream` bodies, read incrementally: [`EventReader`] splits
//! a byte stream into events, decoding each only once it is whole (a
//! character split across chunks stays whole; LF and CRLF both end lines);
//! [`EventRewriter`] passes events through as they arrive and re-encodes
//! only those whose JSON-RPC message a hook changes.

use bytes::{Bytes, BytesMut};

/// Splits a byte stream into SSE events and lets a hook rewrite each event's
/// JSON data.
#[derive(Default)]
pub struct EventRewriter {
    buffer: BytesMut,
}

/// Finds the end of the first event: the blank line that terminates it.
/// Line feeds found by `memchr` (every answer passes through here; a loop
/// over each byte cost a thousand instructions per event).
fn event_end(buffer: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', buffer).find_map(|i| match buffer.get(i + 1) {
        Some(b'\n') => Some(i + 2),
        Some(b'\r') if buffer.get(i + 2) == Some(&b'\n') => Some(i + 3),
        _ => None,
    })
}

/// An event's lines, as `str::lines` splits them (`\n` or `\r\n`), the
/// line feeds found by `memchr`.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(at) = memchr::memchr(b'\n', rest.as_bytes()) else { return Some(std::mem::take(&mut rest)) };
        let line = &rest[..at];
        rest = &rest[at + 1..];
        Some(line.strip_suffix('\r').unwrap_or(line))
    })
}

/// One event: its `event:` name (`message` when absent) and its `data:`
/// lines joined by newlines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

impl Event {
    /// Parses one whole event; `None` when it carries no data (comments,
    /// keep-alives) or is not UTF-8.
    pub fn parse(event: &[u8]) -> Option<Event> {
        let text = std::str::from_utf8(event).ok()?;
        let mut name = None;
        let mut data: Vec<&str> = Vec::new();
        for line in lines(text) {
            if let Some(value) = line.strip_prefix("event:") {
                name = Some(value.trim().to_string());
            } else if let Some(value) = line.strip_prefix("data:") {
                data.push(value.strip_prefix(' ').unwrap_or(value));
            }
        }
        (!data.is_empty()).then(|| Event { name: name.unwrap_or_else(|| "message".into()), data: data.join("\n") })
    }
}

/// Splits a byte stream into whole events.
#[derive(Default)]
pub struct EventReader {
    buffer: BytesMut,
}

impl EventReader {
    /// Feeds a chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        while let Some(end) = event_end(&self.buffer) {
            let event = self.buffer.split_to(end);
            events.extend(Event::parse(&event));
        }
        events
    }

    /// The last event, when the stream ended without its blank line.
    pub fn finish(&mut self) -> Option<Event> {
        Event::parse(&self.buffer.split())
    }
}

/// Every event of a whole body.
pub fn events(body: &[u8]) -> Vec<Event> {
    let mut reader = EventReader::default();
    let mut events = reader.push(body);
    events.extend(reader.finish());
    events
}

impl EventRewriter {
    /// Feeds a chunk; returns the bytes of every event it completed. `hook`
    /// sees each event's data and returns the data to send instead, or
    /// `None` to pass the event on as it came. A chunk of whole events no
    /// hook changes goes out as it came, uncopied.
    pub fn push(&mut self, chunk: Bytes, hook: &mut impl FnMut(&str) -> Option<String>) -> Bytes {
        let input = if self.buffer.is_empty() {
            chunk
        } else {
            self.buffer.extend_from_slice(&chunk);
            self.buffer.split().freeze()
        };
        let (out, rest) = rewrite_events(input, hook);
        self.buffer.extend_from_slice(&rest);
        out
    }

    /// What is left when the stream ends (an unterminated last event).
    pub fn finish(&mut self, hook: &mut impl FnMut(&str) -> Option<String>) -> Bytes {
        let rest = self.buffer.split();
        if rest.is_empty() {
            return Bytes::new();
        }
        match rewrite_event(&rest, hook) {
            Some(rebuilt) => Bytes::from(rebuilt),
            None => rest.freeze(),
        }
    }
}

/// The whole events at the start of `input`, rewritten where the hook
/// changes them, and what follows the last whole one.
fn rewrite_events(input: Bytes, hook: &mut impl FnMut(&str) -> Option<String>) -> (Bytes, Bytes) {
    let mut start = 0;
    // Only once an event changes are the events copied into a new buffer.
    let mut rebuilt: Option<BytesMut> = None;
    while let Some(length) = event_end(&input[start..]) {
        let event = &input[start..start + length];
        match (rewrite_event(event, hook), &mut rebuilt) {
            (Some(changed), Some(out)) => out.extend_from_slice(&changed),
            (Some(changed), None) => {
                let mut out = BytesMut::from(&input[..start]);
                out.extend_from_slice(&changed);
                rebuilt = Some(out);
            }
            (None, Some(out)) => out.extend_from_slice(event),
            (None, None) => {}
        }
        start += length;
    }
    let out = match rebuilt {
        Some(out) => out.freeze(),
        None => input.slice(..start),
    };
    (out, input.slice(start..))
}

/// The event with its data replaced, when the hook replaces it.
fn rewrite_event(event: &[u8], hook: &mut impl FnMut(&str) -> Option<String>) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(event).ok()?;
    let mut data = lines(text).filter_map(|line| line.strip_prefix("data:")).map(|d| d.strip_prefix(' ').unwrap_or(d));
    let first = data.next()?;
    // One data line (the usual event) is read where it lies.
    let replaced = match data.next() {
        None => hook(first)?,
        Some(second) => {
            let joined = [first, second].into_iter().chain(data).collect::<Vec<_>>().join("\n");
            hook(&joined)?
        }
    };
    let mut rebuilt = String::new();
    for line in lines(text).filter(|l| !l.is_empty() && !l.starts_with("data:")) {
        rebuilt.push_str(line);
        rebuilt.push('\n');
    }
    rebuilt.push_str("data: ");
    rebuilt.push_str(&replaced);
    rebuilt.push_str("\n\n");
    Some(rebuilt.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn lines_split_as_str_lines_does() {
        for text in ["", "a", "a\n", "a\r\nb", "a\rb\n", "\n\nx\r", "x\r\n\r\n", "data: é\r\r\n", "\r", "a\n\r"] {
            assert_eq!(lines(text).collect::<Vec<_>>(), text.lines().collect::<Vec<_>>(), "{text:?}");
        }
        for text in ["", "a\n", "a\n\n", "a\r\n\r\nb", "a\nb\r\n", "a\n\r\n", "\n\n"] {
            let by_byte = (0..text.len()).find_map(|i| match &text.as_bytes()[i..] {
                [b'\n', b'\n', ..] => Some(i + 2),
                [b'\n', b'\r', b'\n', ..] => Some(i + 3),
                _ => None,
            });
            assert_eq!(event_end(text.as_bytes()), by_byte, "{text:?}");
        }
    }

    #[test]
    fn passes_untouched_events_through_byte_for_byte() {
        let mut rewriter = EventRewriter::default();
        let mut never = |_: &str| None;
        let input = Bytes::from_static(b"event: message\nid: 1\ndata: {\"id\":1}\n\n: comment\n\n");
        let mut out = rewriter.push(input.slice(..10), &mut never).to_vec();
        out.extend_from_slice(&rewriter.push(input.slice(10..), &mut never));
        assert_eq!(out, input);
        let whole = rewriter.push(input.clone(), &mut never);
        assert_eq!(whole.as_ptr(), input.as_ptr(), "whole events no hook changes go out uncopied");
    }

    #[test]
    fn events_are_whole_across_chunks_and_line_endings() {
        let stream = "event: endpoint\r\ndata: /messages?s=1\r\n\r\n: keep-alive\n\ndata: {\"text\":\"héllo\"}\ndata: more\n\n".as_bytes();
        let split = stream.iter().position(|&b| b == 0xc3).unwrap() + 1;
        let mut reader = EventReader::default();
        let mut events = reader.push(&stream[..split]);
        assert_eq!(events.len(), 1, "the first event is whole, the second not yet");
        events.extend(reader.push(&stream[split..]));
        assert_eq!(events[0], Event { name: "endpoint".into(), data: "/messages?s=1".into() });
        assert_eq!(events[1], Event { name: "message".into(), data: "{\"text\":\"héllo\"}\nmore".into() });
        assert_eq!(events.len(), 2, "the comment carries no data");
        assert_eq!(super::events(b"data: tail").len(), 1, "an unterminated last event counts");
    }

    #[test]
    fn rewrites_what_the_hook_changes() {
        let mut rewriter = EventRewriter::default();
        let mut hook = |data: &str| {
            let mut message: Value = serde_json::from_str(data).ok()?;
            (message["id"] == json!(1)).then(|| {
                message["result"] = json!("changed");
                message.to_string()
            })
        };
        let input = "data: {\"id\":0}\n\nevent: message\r\nid: 7\r\ndata: {\"id\":1,\"result\":1}\r\n\r\ndata: {\"id\":2}\n\ndata: {\"id\":3";
        let out = rewriter.push(Bytes::from(input), &mut hook);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "data: {\"id\":0}\n\nevent: message\nid: 7\ndata: {\"id\":1,\"result\":\"changed\"}\n\ndata: {\"id\":2}\n\n"
        );
        assert_eq!(rewriter.finish(&mut hook), Bytes::from_static(b"data: {\"id\":3"), "an unterminated last event as it came");
    }
}
