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
    pub fn parse(text: &str) -> Result<Document, ParseError> {
        let (bom, body) = match text.strip_prefix('\u{feff}') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut entries = Vec::new();
        let mut physical = body.split_inclusive('\n').peekable();
        let mut line_no = 1;
        while let Some(first) = physical.next() {
            let start_line = line_no;
            line_no += 1;
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
            let mut state = JoinState::Complete;
            let mut comment_at = None;
            let mut offset = 0;
            loop {
                let (s, c) = join_state(state, &raw[offset..]);
                state = s;
                if let Some(c) = c {
                    comment_at = Some(offset + c);
                }
                if matches!(state, JoinState::Complete | JoinState::Comment) {
                    break;
                }
                match physical.next() {
                    Some(next) => {
                        offset = raw.len();
                        raw.push_str(next);
                        line_no += 1;
                    }
                    None => return Err(ParseError {
                        line: start_line,
                        message:
                            "a quote opened here is never closed (or the line ends in a backslash)"
                                .into(),
                    }),
                }
            }
            let content_end = comment_at.unwrap_or_else(|| {
                raw.strip_suffix('\n')
                    .map(|r| r.strip_suffix('\r').unwrap_or(r))
                    .unwrap_or(&raw)
                    .len()
            });
            let content = raw[..content_end].trim_end();
            let var = parse_assignment(content).map_err(|message| ParseError {
                line: start_line,
                message,
            })?;
            entries.push(Entry {
                raw,
                line: start_line,
                var,
            });
        }
        Ok(Document { bom, entries })
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

/// The states dotenvy uses to decide whether a quoted value continues on
/// the next physical line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum JoinState {
    Complete,
    Escape,
    Single,
    SingleEscape,
    Double,
    DoubleEscape,
    Whitespace,
    Comment,
}

/// Runs the join state machine over one physical line. Returns the new state
/// and, when a comment begins, its byte offset.
fn join_state(mut state: JoinState, line: &str) -> (JoinState, Option<usize>) {
    use JoinState::*;
    for (pos, c) in line.char_indices() {
        state = match state {
            Whitespace if c == '#' => return (Comment, Some(pos)),
            Whitespace | Complete => match c {
                '\\' => Escape,
                '"' => Double,
                '\'' => Single,
                c if state == Complete && c.is_whitespace() && c != '\n' && c != '\r' => Whitespace,
                _ => Complete,
            },
            Escape => Complete,
            Double => match c {
                '\\' => DoubleEscape,
                '"' => Complete,
                _ => Double,
            },
            DoubleEscape => Double,
            Single => match c {
                '\\' => SingleEscape,
                '\'' => Complete,
                _ => Single,
            },
            SingleEscape => Single,
            Comment => unreachable!("returned when the comment began"),
        };
    }
    (state, None)
}

/// Parses `[export] KEY = value` (comment already cut, end trimmed).
fn parse_assignment(content: &str) -> Result<Option<Var>, String> {
    let mut pos = skip_ws(content, 0);
    if pos == content.len() || content[pos..].starts_with('#') {
        return Ok(None);
    }
    let (mut key, mut after) = parse_key(content, pos)?;
    pos = skip_ws(content, after);
    if key == "export" && !content[pos..].starts_with('=') {
        (key, after) = parse_key(content, pos)?;
        pos = skip_ws(content, after);
    }
    if !content[pos..].starts_with('=') {
        return Err(format!(
            "expected `=` after `{key}` (column {}); a line must be KEY=value, a comment starting with #, or blank",
            pos + 1
        ));
    }
    pos = skip_ws(content, pos + 1);
    let rest = &content[pos..];
    let value_end = if rest.is_empty() || rest.starts_with('#') {
        pos
    } else {
        // Validate as dotenvy reads: with substitution, which changes how a
        // backslash or quote after `$` is taken.
        let (_, used) = read_value(rest, Some(&|_: &str| String::new())).map_err(|col| {
            format!(
                "the value of `{key}` cannot be read at column {}: check its quotes, backslashes and spaces (quote a value that contains spaces)",
                pos + col + 1
            )
        })?;
        // dotenvy also fails when `${` is never closed or a quote stays open,
        // which `read_value` reports; substitution cannot add new failures.
        pos + used
    };
    let quote = match rest.chars().next() {
        Some('\'') => Quote::Single,
        Some('"') => Quote::Double,
        _ => Quote::None,
    };
    Ok(Some(Var {
        key,
        value_start: pos,
        value_end,
        quote,
    }))
}

fn skip_ws(s: &str, from: usize) -> usize {
    s[from..]
        .find(|c: char| !c.is_whitespace())
        .map(|i| from + i)
        .unwrap_or(s.len())
}

fn parse_key(s: &str, from: usize) -> Result<(String, usize), String> {
    let rest = &s[from..];
    if !rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        return Err(format!(
            "a variable name must start with a letter or `_` (column {})",
            from + 1
        ));
    }
    let len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(rest.len());
    Ok((rest[..len].to_string(), from + len))
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Subst {
    Off,
    Name,
    Braced,
}

/// Reads a value the way dotenvy does. With `lookup`, `$NAME` is replaced;
/// without it, `$` is an ordinary character (the literal reading).
/// Returns the value and how many bytes of `text` belong to it (the rest is
/// whitespace and a comment), or the 0-based column of the error.
fn read_value(
    text: &str,
    lookup: Option<&dyn Fn(&str) -> String>,
) -> Result<(String, usize), usize> {
    let mut out = String::new();
    let (mut single, mut double, mut escaped, mut trailing) = (false, false, false, false);
    let mut used = text.len();
    let mut mode = Subst::Off;
    let mut name = String::new();
    let substitute = |name: &mut String, out: &mut String| {
        if let Some(f) = lookup {
            out.push_str(&f(name));
        }
        name.clear();
    };
    for (col, (byte, c)) in text.char_indices().enumerate() {
        if trailing {
            match c {
                ' ' | '\t' => continue,
                '#' => break,
                _ => return Err(col),
            }
        } else if escaped {
            match c {
                '\\' | '\'' | '"' | '$' | ' ' => out.push(c),
                'n' => out.push('\n'),
                _ => return Err(col),
            }
            escaped = false;
        } else if single {
            if c == '\'' {
                single = false;
            } else {
                out.push(c);
            }
        } else if mode != Subst::Off {
            if c.is_alphanumeric() {
                name.push(c);
            } else if mode == Subst::Name {
                if c == '{' && name.is_empty() {
                    mode = Subst::Braced;
                } else {
                    substitute(&mut name, &mut out);
                    if c == '$' {
                        mode = Subst::Name;
                    } else {
                        // dotenvy pushes the ending character as is, even a
                        // quote: `"$A"` therefore leaves the quote open.
                        mode = Subst::Off;
                        out.push(c);
                    }
                }
            } else if c == '}' {
                mode = Subst::Off;
                substitute(&mut name, &mut out);
            } else {
                name.push(c);
            }
        } else if c == '$' && lookup.is_some() {
            mode = Subst::Name;
        } else if double {
            match c {
                '"' => double = false,
                '\\' => escaped = true,
                _ => out.push(c),
            }
        } else {
            match c {
                '\'' => single = true,
                '"' => double = true,
                '\\' => escaped = true,
                ' ' | '\t' => {
                    trailing = true;
                    used = byte;
                }
                _ => out.push(c),
            }
        }
    }
    if mode == Subst::Braced || single || double {
        return Err(text.chars().count().saturating_sub(1));
    }
    if mode == Subst::Name {
        substitute(&mut name, &mut out);
    }
    Ok((out, used))
}

/// Characters that some loader would treat specially.
fn is_inert(value: &str) -> bool {
    !value.contains(|c: char| "$#'\"\\`".contains(c) || c.is_whitespace())
}

/// Writes `value` so that dotenvy (and Node's dotenv with dotenv-expand)
/// read it back unchanged, in `style` when that is safe.
fn write_value(value: &str, style: Quote) -> String {
    let single_ok = !value.contains(['\'', '\n', '\r']) && !value.contains('\\');
    match style {
        _ if is_inert(value) && !value.is_empty() => match style {
            Quote::None => value.to_string(),
            Quote::Single => format!("'{value}'"),
            Quote::Double => format!("\"{value}\""),
        },
        Quote::Single if single_ok => format!("'{value}'"),
        _ if single_ok => format!("'{value}'"),
        _ => {
            let mut s = String::from("\"");
            for c in value.chars() {
                match c {
                    '\\' => s.push_str("\\\\"),
                    '"' => s.push_str("\\\""),
                    '$' => s.push_str("\\$"),
                    '\n' => s.push_str("\\n"),
                    c => s.push(c),
                }
            }
            s.push('"');
            s
        }
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
mod tests {
    use super::tests_support::dotenvy_reads;
    use super::*;

    fn ours(text: &str) -> Result<Vec<(String, String)>, ParseError> {
        Ok(Document::parse(text)?
            .loaded()
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect())
    }

    #[test]
    fn renders_back_byte_for_byte() {
        for text in [
            "",
            "A=1",
            "A=1\n",
            "\u{feff}A=1\r\nB='two'\r\n",
            "# comment\n\nexport A=\"x y\"  # trailing\nB=  spaced   \n",
            "M=\"line one\nline two\"\nN=after",
            "S='multi\r\nline'\r\n   \r\n",
        ] {
            let doc = Document::parse(text).unwrap();
            assert_eq!(doc.render(), text, "{text:?}");
        }
    }

    #[test]
    fn reads_like_dotenvy() {
        let text = "\u{feff}A=1\nexport B = \"x $A y\"\nC='lit $A'\nD=a#b\nE=a #b\nF=\"multi\nline\"\nG=${A}_x\nH=$A_B\nI=s\\ ix\nexport=exp\nJ=#x\nK=\"esc \\\" \\$ \\n\"\n";
        assert_eq!(ours(text).unwrap(), dotenvy_reads(text).unwrap());
    }

    #[test]
    fn literal_keeps_dollar() {
        let doc = Document::parse("P='pa$$word'\nQ=pa$word\n").unwrap();
        assert_eq!(doc.literal(0), "pa$$word");
        assert_eq!(doc.literal(1), "pa$word");
        assert_eq!(doc.loaded()[1].1, "pa");
    }

    #[test]
    fn substitution_quirks_match_dotenvy() {
        // dotenvy ends `$NAME` at a quote and keeps the quote as text, so a
        // double-quoted value with `$$` never closes.
        let text = "P=\"pa$$word\"\n";
        assert!(Document::parse(text).is_err());
        assert!(dotenvy_reads(text).is_err());
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("A=1\nB=\"open\nC=3\n", 2),
            ("A=1\nnot a var\n", 2),
            ("A=1\n\nB=a b\n", 3),
            ("1A=x\n", 1),
            ("A=\\q\n", 1),
        ] {
            let err = Document::parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(dotenvy_reads(text).is_err(), "dotenvy accepts {text:?}");
        }
    }

    #[test]
    fn set_value_keeps_the_rest_of_the_line() {
        let cases = [
            (
                "export URL=\"old\"  # note\r\nX=1",
                "export URL=\"new%40\"  # note\r\nX=1",
            ),
            ("URL='old'\n", "URL='new%40'\n"),
            ("URL=old", "URL=new%40"),
            ("URL=", "URL=new%40"),
        ];
        for (before, after) in cases {
            let mut doc = Document::parse(before).unwrap();
            doc.set_value(0, "new%40");
            assert_eq!(doc.render(), after);
            assert_eq!(Document::parse(&doc.render()).unwrap().literal(0), "new%40");
        }
    }

    #[test]
    fn set_value_quotes_only_when_needed() {
        for (style_src, value) in [
            ("A=x", "has $dollar"),
            ("A=\"x\"", "a 'q' $b \\ c"),
            ("A='x'", "it's $x"),
        ] {
            let mut doc = Document::parse(style_src).unwrap();
            doc.set_value(0, value);
            let text = doc.render();
            assert_eq!(dotenvy_reads(&text).unwrap()[0].1, value, "{text}");
        }
    }

    #[test]
    fn append_uses_the_files_line_ending() {
        let mut doc = Document::parse("A=1\r\nB=2").unwrap();
        doc.append("URL", "postgresql://h/db");
        assert_eq!(doc.render(), "A=1\r\nB=2\r\nURL=postgresql://h/db\r\n");
        assert_eq!(doc.entries[2].line, 3);
    }
}
