//! JSON pretty-printed for its preview, without building the document in memory: the bytes are
//! checked to be JSON (serde_json, skipping every value), then laid out token by token with two
//! spaces per level, keys in their order and numbers and strings as the file wrote them. Deep
//! nesting is where pretty-printing grows: `[[[[…]]]]` gains a line and its indentation per
//! bracket. The output is counted against the budget as it is written, and stops there.

use crate::core::untrusted::{Budget, Exceeded};

/// A JSON document laid out for reading.
#[derive(Debug, Clone, PartialEq)]
pub struct PrettyJson {
    pub text: String,
    /// Where and why the layout stopped before the end.
    pub stopped: Option<String>,
}

/// `None` when `bytes` are not one JSON document.
pub fn pretty_json(bytes: &[u8], budget: &mut Budget) -> Option<PrettyJson> {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).ok()?;
    let mut out = Layout { text: String::new(), depth: 0 };
    match out.lay_out(bytes, budget) {
        Ok(()) => Some(PrettyJson { text: out.text, stopped: None }),
        Err((at, why)) => Some(PrettyJson {
            text: out.text,
            stopped: Some(format!("Shown up to byte {at} of {}: {why}.", bytes.len())),
        }),
    }
}

struct Layout {
    text: String,
    depth: usize,
}

impl Layout {
    fn write(&mut self, s: &str, budget: &mut Budget) -> Result<(), Exceeded> {
        budget.emit(s.len())?;
        self.text.push_str(s);
        Ok(())
    }

    fn new_line(&mut self, budget: &mut Budget) -> Result<(), Exceeded> {
        budget.emit(1 + 2 * self.depth)?;
        self.text.push('\n');
        self.text.extend(std::iter::repeat_n("  ", self.depth));
        Ok(())
    }

    /// Lays out valid JSON; on a limit, the byte it stopped at and why.
    fn lay_out(&mut self, bytes: &[u8], budget: &mut Budget) -> Result<(), (usize, Exceeded)> {
        let mut i = 0;
        while i < bytes.len() {
            let at = |e| (i, e);
            match bytes[i] {
                b' ' | b'\t' | b'\n' | b'\r' => i += 1,
                open @ (b'{' | b'[') => {
                    budget.element().map_err(at)?;
                    let close = if open == b'{' { b'}' } else { b']' };
                    let next = next_token(bytes, i + 1);
                    if bytes.get(next) == Some(&close) {
                        self.write(if open == b'{' { "{}" } else { "[]" }, budget).map_err(at)?;
                        i = next + 1;
                    } else {
                        self.write(if open == b'{' { "{" } else { "[" }, budget).map_err(at)?;
                        self.depth += 1;
                        self.new_line(budget).map_err(at)?;
                        i += 1;
                    }
                }
                close @ (b'}' | b']') => {
                    self.depth = self.depth.saturating_sub(1);
                    self.new_line(budget).map_err(at)?;
                    self.write(if close == b'}' { "}" } else { "]" }, budget).map_err(at)?;
                    i += 1;
                }
                b',' => {
                    self.write(",", budget).map_err(at)?;
                    self.new_line(budget).map_err(at)?;
                    i += 1;
                }
                b':' => {
                    self.write(": ", budget).map_err(at)?;
                    i += 1;
                }
                b'"' => {
                    let end = string_end(bytes, i);
                    // Valid JSON: the string is valid UTF-8 and ends on a quote.
                    self.write(std::str::from_utf8(&bytes[i..end]).unwrap_or("\"\""), budget).map_err(at)?;
                    i = end;
                }
                _ => {
                    // A number or a literal: up to the next structural character or space.
                    let end = bytes[i..]
                        .iter()
                        .position(|b| matches!(b, b',' | b']' | b'}' | b':' | b' ' | b'\t' | b'\n' | b'\r'))
                        .map_or(bytes.len(), |n| i + n);
                    budget.element().map_err(at)?;
                    self.write(std::str::from_utf8(&bytes[i..end]).unwrap_or(""), budget).map_err(at)?;
                    i = end;
                }
            }
        }
        Ok(())
    }
}

fn next_token(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')).map_or(bytes.len(), |n| from + n)
}

/// Just past the string that starts at `start` (a quote).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::untrusted::Limits;

    fn budget(output: u64) -> Budget {
        Budget::new(Limits { output, ..Limits::ROOMY })
    }

    #[test]
    fn laid_out_as_serde_json_would_keeping_what_the_file_wrote() {
        let input = br#" {"z": 1, "a": [true, null, [], {}], "m": {"k": "v, \"quoted\" ]"}, "n": -1.5e3}"#;
        let pretty = pretty_json(input, &mut budget(u64::MAX)).unwrap();
        let value: serde_json::Value = serde_json::from_slice(input).unwrap();
        let expected = serde_json::to_string_pretty(&value).unwrap().replace("-1500.0", "-1.5e3");
        assert_eq!(pretty.text, expected);
        assert_eq!(pretty.stopped, None);
        assert_eq!(pretty_json(b"[1, 2", &mut budget(u64::MAX)), None, "not JSON");
        assert_eq!(pretty_json(b"{} {}", &mut budget(u64::MAX)), None, "two documents");
    }

    #[test]
    fn deep_nesting_stops_at_the_output_budget_and_says_where() {
        // serde_json refuses more than 128 levels; 100 levels repeated make a wide, deep file.
        let one = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let input = format!("[{}]", vec![one; 2000].join(","));
        let limit = 4 * input.len() as u64;
        let pretty = pretty_json(input.as_bytes(), &mut budget(limit)).unwrap();
        assert!(pretty.text.len() as u64 <= limit, "{} > {limit}", pretty.text.len());
        let stopped = pretty.stopped.unwrap();
        assert!(stopped.starts_with("Shown up to byte ") && stopped.contains("larger than"), "{stopped}");
    }
}
