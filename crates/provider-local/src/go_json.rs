//! JSON laid out byte for byte as Go's `json.MarshalIndent(v, "", "")` writes it.
//!
//! The original `file` plugin writes its instance files that way, and files written by either
//! implementation should be indistinguishable. Go's layout with an empty prefix and indent puts
//! every member and element on its own line without indentation, writes `": "` between key and
//! value, keeps empty `{}` and `[]` on one line, and escapes `<`, `>`, `&`, U+2028 and U+2029 in
//! strings (`\u003c`...). The Go of the original's era (before 1.22) wrote the control characters
//! other than `\n`, `\r` and `\t` as `\u00XX`.
//!
//! The input is `serde_json`'s compact output, which has no whitespace outside strings, so the
//! layout is a single pass that only has to know whether it is inside a string.

use serde::Serialize;

/// Serializes `value` as Go's `json.MarshalIndent(value, "", "")`.
pub(crate) fn marshal_indent_flat<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let compact = serde_json::to_vec(value)?;
    Ok(relayout(&compact))
}

/// Lays out compact JSON the way Go's `json.Indent` does with an empty prefix and indent.
fn relayout(compact: &[u8]) -> Vec<u8> {
    // Newlines, `": "` and escapes make the output a little longer than the input.
    let mut out = Vec::with_capacity(compact.len() + compact.len() / 4);
    let mut in_string = false;
    let mut i = 0;
    while i < compact.len() {
        let byte = compact[i];
        if in_string {
            i += copy_string_byte(compact, i, &mut out);
            in_string = byte != b'"';
            continue;
        }
        match byte {
            b'"' => {
                in_string = true;
                out.push(byte);
            }
            b'{' | b'[' => {
                out.push(byte);
                match compact.get(i + 1) {
                    Some(&next @ (b'}' | b']')) => {
                        out.push(next);
                        i += 1;
                    }
                    _ => out.push(b'\n'),
                }
            }
            b'}' | b']' => {
                out.push(b'\n');
                out.push(byte);
            }
            b',' => out.extend_from_slice(b",\n"),
            b':' => out.extend_from_slice(b": "),
            _ => out.push(byte),
        }
        i += 1;
    }
    out
}

/// Copies the string content at `compact[i]` (or the closing quote) to `out`, re-escaping as Go
/// does, and returns how many input bytes it consumed.
fn copy_string_byte(compact: &[u8], i: usize, out: &mut Vec<u8>) -> usize {
    match compact[i] {
        b'\\' => {
            let escaped = compact.get(i + 1).copied();
            match escaped {
                Some(b'b') => out.extend_from_slice(b"\\u0008"),
                Some(b'f') => out.extend_from_slice(b"\\u000c"),
                Some(c) => out.extend_from_slice(&[b'\\', c]),
                None => out.push(b'\\'),
            }
            2
        }
        b'<' => {
            out.extend_from_slice(b"\\u003c");
            1
        }
        b'>' => {
            out.extend_from_slice(b"\\u003e");
            1
        }
        b'&' => {
            out.extend_from_slice(b"\\u0026");
            1
        }
        // U+2028 and U+2029 in UTF-8.
        0xE2 if compact.get(i + 1) == Some(&0x80) && matches!(compact.get(i + 2), Some(0xA8 | 0xA9)) => {
            let last = if compact[i + 2] == 0xA8 { b'8' } else { b'9' };
            out.extend_from_slice(b"\\u202");
            out.push(last);
            3
        }
        byte => {
            out.push(byte);
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layout(value: serde_json::Value) -> String {
        String::from_utf8(marshal_indent_flat(&value).unwrap()).unwrap()
    }

    #[test]
    fn puts_each_member_on_its_own_line() {
        assert_eq!(
            layout(json!({"a": [1, {"b": null}], "c": {}, "d": [], "e": "x,y:{}"})),
            "{\n\"a\": [\n1,\n{\n\"b\": null\n}\n],\n\"c\": {},\n\"d\": [],\n\"e\": \"x,y:{}\"\n}"
        );
    }

    #[test]
    fn escapes_strings_as_go_does() {
        assert_eq!(
            layout(json!("<a&b>\u{8}\u{c}\n\"\\\u{2028}\u{2029}é")),
            "\"\\u003ca\\u0026b\\u003e\\u0008\\u000c\\n\\\"\\\\\\u2028\\u2029é\""
        );
    }

    #[test]
    fn an_escaped_quote_does_not_end_the_string() {
        assert_eq!(layout(json!({"k\"": "v\",{"})), "{\n\"k\\\"\": \"v\\\",{\"\n}");
    }
}
