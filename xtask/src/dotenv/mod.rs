//! A lossless dotenv document: every entry keeps its raw text, so rendering an
//! unedited document gives back the same bytes (CRLF or LF, BOM, trailing
//! spaces, a missing final newline), and editing one value touches nothing else.
//!
//! Keys and values are read with the semantics of the `dotenvy` 0.15 crate:
//! the same logical-line joining for quoted values that span lines, the same
//! quotes, escapes, `export` prefix, comments and `$NAME`/`${NAME}`
//! substitution (including its quirk that `$A_B` stops at the underscore).
//! The property tests check this against dotenvy itself.

use std::collections::HashMap;
use std::fmt;

mod parse;

use parse::{join_state, parse_assignment, read_value, write_value, JoinState};

/// Why a file could not be read. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// How a value was quoted, which is how an edited value is written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    None,
    Single,
    Double,
}

/// One logical line: a blank line, a comment, or a variable (possibly
/// spanning several physical lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Exactly the bytes of the file, line endings included.
    pub raw: String,
    /// First physical line, 1-based.
    pub line: usize,
    pub var: Option<Var>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    pub key: String,
    /// Byte range of the value's text inside `raw`.
    value_start: usize,
    value_end: usize,
    pub quote: Quote,
}

/// A parsed dotenv file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    bom: bool,
    pub entries: Vec<Entry>,
}

impl Document {
    /// Parses the whole file; any line dotenvy would reject is an error.
    pub fn parse(text: &str) -> Result<Document, ParseError> {
        let (doc, unreadable) = Document::parse_lenient(text)?;
        match unreadable.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(doc),
        }
    }

    /// Parses the file, keeping the lines dotenvy rejects as they are (with
    /// their errors) when the rest still has clear line boundaries: Node's
    /// dotenv, which Next.js uses, reads lines such as `MY-KEY=1` or
    /// `KEY: value` that dotenvy refuses. A quote that never closes makes
    /// its own line unreadable, and the lines after it are read afresh.
    pub fn parse_lenient(text: &str) -> Result<(Document, Vec<ParseError>), ParseError> {
        let mut unreadable = Vec::new();
        let (bom, body) = match text.strip_prefix('\u{feff}') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut entries = Vec::new();
        let lines: Vec<&str> = body.split_inclusive('\n').collect();
        let mut next = 0;
        while let Some(first) = lines.get(next).copied() {
            let start_line = next + 1;
            next += 1;
            let mut raw = first.to_string();
            // dotenvy treats a line starting with `#` as a comment before
            // it looks at quotes.
            if first.trim_start().starts_with('#') {
                entries.push(Entry {
                    raw,
                    line: start_line,
                    var: None,
                });
                continue;
            }
            let Some((joined, comment_at)) = join_logical_line(&lines, next - 1, &mut raw) else {
                // A quote that never closes (`TAGLINE=Sally's place`):
                // dotenvy refuses the line; Node's dotenv, which Next.js
                // uses, reads it as it is. This line alone is unreadable,
                // and the next one starts afresh.
                unreadable.push(ParseError {
                    line: start_line,
                    message:
                        "a quote opened here is never closed (or the line ends in a backslash)"
                            .into(),
                });
                entries.push(Entry {
                    raw: first.to_string(),
                    line: start_line,
                    var: None,
                });
                continue;
            };
            next = joined;
            let content_end = comment_at.unwrap_or_else(|| {
                raw.strip_suffix('\n')
                    .map(|r| r.strip_suffix('\r').unwrap_or(r))
                    .unwrap_or(&raw)
                    .len()
            });
            let content = raw[..content_end].trim_end();
            let var = match parse_assignment(content) {
                Ok(var) => var,
                Err(message) => {
                    unreadable.push(ParseError {
                        line: start_line,
                        message,
                    });
                    None
                }
            };
            entries.push(Entry {
                raw,
                line: start_line,
                var,
            });
        }
        Ok((Document { bom, entries }, unreadable))
    }

    /// The file's bytes, identical to the input when nothing was edited.
    pub fn render(&self) -> String {
        let mut s =
            String::with_capacity(self.entries.iter().map(|e| e.raw.len()).sum::<usize>() + 3);
        if self.bom {
            s.push('\u{feff}');
        }
        for e in &self.entries {
            s.push_str(&e.raw);
        }
        s
    }

    /// Indexes of the entries that define `key`, in file order.
    pub fn find(&self, key: &str) -> Vec<usize> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.var.as_ref().map(|v| v.key == key).unwrap_or(false))
            .map(|(i, _)| i)
            .collect()
    }

    /// The one entry that defines `key`, if any. A key defined twice is an
    /// error naming the lines: loaders disagree on which definition wins.
    pub fn find_one(&self, key: &str) -> Result<Option<usize>, String> {
        match self.find(key).as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            many => Err(format!(
                "{key} is defined {} times ({}); dotenv loaders disagree on which wins (dotenvy and Node's dotenv take the first, a shell `source` the last): keep one",
                many.len(),
                many.iter().map(|i| self.line_span(*i)).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// The value of entry `idx` as written: quotes and escapes resolved,
    /// `$` left literal. This is what the user meant to write. `None` when
    /// only substitution makes the value readable (`"a$\"` closes its quote
    /// early in dotenvy): then what was meant cannot be told.
    pub fn try_literal(&self, idx: usize) -> Option<String> {
        let e = &self.entries[idx];
        match &e.var {
            Some(v) => read_value(&e.raw[v.value_start..v.value_end], None)
                .ok()
                .map(|(s, _)| s),
            None => Some(String::new()),
        }
    }

    /// `try_literal`, or the value as dotenvy reads it when that fails.
    pub fn literal(&self, idx: usize) -> String {
        self.try_literal(idx)
            .unwrap_or_else(|| self.loaded_value(idx))
    }

    /// Every variable's value as dotenvy reads it: substitution of `$NAME`
    /// from the process environment first, then earlier lines. (The tests
    /// compare it with dotenvy; commands use `loaded_value`.)
    #[cfg(test)]
    pub fn loaded(&self) -> Vec<(String, String, usize)> {
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut out = Vec::new();
        for e in &self.entries {
            let Some(v) = &e.var else { continue };
            let text = &e.raw[v.value_start..v.value_end];
            let lookup = |name: &str| -> String {
                std::env::var(name)
                    .ok()
                    .or_else(|| seen.get(name).cloned())
                    .unwrap_or_default()
            };
            let value = read_value(text, Some(&lookup))
                .map(|(s, _)| s)
                .unwrap_or_default();
            seen.insert(v.key.clone(), value.clone());
            out.push((v.key.clone(), value, e.line));
        }
        out
    }

    /// The value of entry `idx` as dotenvy reads it, computing only the
    /// earlier definitions it refers to (a 10,000-line file with the URL at
    /// the end costs one value, not ten thousand). dotenvy substitutes the
    /// latest definition of a name above the line, after the environment.
    pub fn loaded_value(&self, idx: usize) -> String {
        let memo = std::cell::RefCell::new(HashMap::new());
        self.loaded_at(idx, &memo, 0)
    }

    fn loaded_at(
        &self,
        idx: usize,
        memo: &std::cell::RefCell<HashMap<usize, String>>,
        depth: usize,
    ) -> String {
        if let Some(v) = memo.borrow().get(&idx) {
            return v.clone();
        }
        let e = &self.entries[idx];
        let Some(v) = &e.var else {
            return String::new();
        };
        let text = &e.raw[v.value_start..v.value_end];
        let lookup = |name: &str| -> String {
            if let Ok(v) = std::env::var(name) {
                return v;
            }
            let earlier = self.entries[..idx]
                .iter()
                .rposition(|e| e.var.as_ref().is_some_and(|v| v.key == name));
            match earlier {
                // A chain of references deeper than any real file: stop
                // rather than risk the stack.
                Some(j) if depth < 256 => self.loaded_at(j, memo, depth + 1),
                _ => String::new(),
            }
        };
        let value = read_value(text, Some(&lookup))
            .map(|(s, _)| s)
            .unwrap_or_default();
        memo.borrow_mut().insert(idx, value.clone());
        value
    }

    /// Replaces the value of entry `idx`, keeping its key, `export`, quote
    /// style, trailing comment and line ending. The style changes only when
    /// the old one cannot carry the new value safely.
    pub fn set_value(&mut self, idx: usize, value: &str) {
        let e = &mut self.entries[idx];
        let Some(v) = &mut e.var else { return };
        let text = write_value(value, v.quote);
        let quote = match text.chars().next() {
            Some('\'') => Quote::Single,
            Some('"') => Quote::Double,
            _ => Quote::None,
        };
        e.raw = format!(
            "{}{}{}",
            &e.raw[..v.value_start],
            text,
            &e.raw[v.value_end..]
        );
        v.value_end = v.value_start + text.len();
        v.quote = quote;
    }

    /// Adds `KEY=value` at the end, in the file's own line ending.
    pub fn append(&mut self, key: &str, value: &str) {
        let eol = if self.entries.iter().any(|e| e.raw.ends_with("\r\n")) {
            "\r\n"
        } else {
            "\n"
        };
        if let Some(last) = self.entries.last_mut() {
            if !last.raw.ends_with('\n') {
                last.raw.push_str(eol);
            }
        }
        let line = self
            .entries
            .iter()
            .map(|e| e.raw.matches('\n').count())
            .sum::<usize>()
            + 1;
        let text = write_value(value, Quote::None);
        let raw = format!("{key}={text}{eol}");
        let value_start = key.len() + 1;
        self.entries.push(Entry {
            line,
            var: Some(Var {
                key: key.to_string(),
                value_start,
                value_end: value_start + text.len(),
                quote: Quote::None,
            }),
            raw,
        });
    }

    /// The physical lines an entry spans, for messages ("lines 4-6").
    pub fn line_span(&self, idx: usize) -> String {
        let e = &self.entries[idx];
        let extra = e.raw.trim_end_matches(['\r', '\n']).matches('\n').count();
        if extra == 0 {
            format!("line {}", e.line)
        } else {
            format!("lines {}-{}", e.line, e.line + extra)
        }
    }
}

/// Joins the physical lines a quoted value spans onto `raw` (which holds
/// line `start`): the index of the line after them and where a comment
/// starts, or None when the quote never closes.
fn join_logical_line(
    lines: &[&str],
    start: usize,
    raw: &mut String,
) -> Option<(usize, Option<usize>)> {
    let mut state = JoinState::Complete;
    let mut comment_at = None;
    let mut offset = 0;
    let mut joined = start + 1;
    loop {
        let (s, c) = join_state(state, &raw[offset..]);
        state = s;
        if let Some(c) = c {
            comment_at = Some(offset + c);
        }
        if matches!(state, JoinState::Complete | JoinState::Comment) {
            return Some((joined, comment_at));
        }
        let more = lines.get(joined)?;
        offset = raw.len();
        raw.push_str(more);
        joined += 1;
    }
}

#[cfg(test)]
pub mod tests_support {
    /// What dotenvy itself reads from `text`, BOM removed as `dotenvy::from_path` does.
    pub fn dotenvy_reads(text: &str) -> Result<Vec<(String, String)>, String> {
        let body = text.strip_prefix('\u{feff}').unwrap_or(text);
        dotenvy::from_read_iter(body.as_bytes())
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests;
