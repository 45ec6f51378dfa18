//! Everything the xtask prints goes through here: the one place where secrets
//! are masked, a small JSON writer for `--json`, and colour that appears only
//! at a terminal without `NO_COLOR`.
//!
//! Our own text carries secrets only as `Secret` or `PgUrl::masked()`, which
//! print masked by construction; foreign text (Prisma's output, driver and
//! library messages, error chains) is redacted where it enters. As a last
//! guard every line has any URL's password place masked.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

/// The last guard on every line: a URL's password place (see
/// `secret::redact_urls`). Foreign text is redacted where it enters
/// (Prisma's output, driver and library errors) with `secret::redact`.
fn redact(text: &str) -> String {
    crate::secret::redact_urls(text)
}

/// Prints a line to stdout, masked.
pub fn out(line: impl AsRef<str>) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", redact(line.as_ref()));
}

/// Prints a line to stdout as it is, secrets included: only for output the
/// user asked to contain one (`dev-db url`, `env-fix --show-secret`).
pub fn out_unmasked(line: impl AsRef<str>) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", line.as_ref());
}

/// Prints a JSON document on one line. Its strings were masked one by one
/// when rendered; masking the whole line again could garble constants.
pub fn json(value: &Json) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", value.render());
}

/// Prints a line to stderr, masked.
pub fn err(line: impl AsRef<str>) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{}", redact(line.as_ref()));
}

/// Prints to stderr without a newline (progress lines), masked.
pub fn err_partial(text: impl AsRef<str>) {
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{}", redact(text.as_ref()));
    let _ = stderr.flush();
}

/// Colour and symbols for human output.
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn stdout() -> Style {
        Style {
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }
    pub fn stderr() -> Style {
        Style {
            color: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    pub fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    pub fn red(&self, t: &str) -> String {
        self.paint("31", t)
    }
    pub fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
}

/// The columns of a checklist: every command's status lines share one
/// shape (mark, name, time, detail, and an aligned `hint:` line).
#[derive(Clone, Copy)]
pub struct Columns {
    /// Spaces between the four-character mark and the name.
    pub gap: usize,
    pub name: usize,
    pub ms: usize,
}

/// A mark's meaning; each is painted and shown four characters wide.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Pass,
    Warn,
    Fail,
    Skip,
    /// Could not be checked (rds-check: access denied, no credentials).
    Unknown,
}

impl Style {
    fn mark(&self, m: Mark) -> String {
        match m {
            Mark::Pass => self.green("pass"),
            Mark::Warn => self.yellow("warn"),
            Mark::Fail => self.red("FAIL"),
            Mark::Skip => self.dim("skip"),
            Mark::Unknown => self.yellow("????"),
        }
    }
}

/// Prints one status line to stdout, and its hint when there is one.
pub fn status_line(
    cols: Columns,
    style: Style,
    mark: Mark,
    name: &str,
    ms: u64,
    detail: &str,
    hint: Option<&str>,
) {
    out(format!(
        "  {}{:gap$}{name:<nw$} {ms:>mw$} ms  {detail}",
        style.mark(mark),
        "",
        gap = cols.gap,
        nw = cols.name,
        mw = cols.ms
    ));
    if let Some(h) = hint {
        let indent = 2 + 4 + cols.gap + cols.name + 1 + cols.ms + 5;
        out(format!("{:indent$}hint: {h}", ""));
    }
}

/// A JSON value, enough for `--json` output. Strings are masked when rendered.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    /// A constant of ours (a kind, a code): never a secret, never masked, so
    /// a one-letter password cannot garble the structure of the output.
    Lit(&'static str),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn obj<const N: usize>(pairs: [(&str, Json); N]) -> Json {
        Json::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }
    pub fn opt_str(s: Option<impl Into<String>>) -> Json {
        s.map(|s| Json::Str(s.into())).unwrap_or(Json::Null)
    }
    pub fn num(n: impl Into<f64>) -> Json {
        Json::Num(n.into())
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) => {
                if n.fract() == 0.0 && n.abs() < 1e15 {
                    let _ = write!(out, "{}", *n as i64);
                } else {
                    let _ = write!(out, "{n}");
                }
            }
            // JSON strings also carry foreign text (a driver's message in a
            // check's detail) to scripts: the full redaction, every spelling.
            Json::Str(s) => write_json_string(out, &crate::secret::redact(s)),
            Json::Lit(s) => write_json_string(out, s),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Obj(pairs) => {
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// Callers mask before escaping: an escaped secret would no longer match.
fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Milliseconds since `start`, for step timings.
pub fn ms_since(start: std::time::Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped_and_masked() {
        crate::secret::Secret::new("s3cr3t\"x");
        let j = Json::obj([
            ("a", Json::str("line\nnext \"q\" s3cr3t\"x")),
            ("n", Json::num(12)),
            ("b", Json::Bool(false)),
            ("z", Json::Null),
            ("l", Json::Arr(vec![Json::num(1.5)])),
        ]);
        assert_eq!(
            j.render(),
            r#"{"a":"line\nnext \"q\" ****","n":12,"b":false,"z":null,"l":[1.5]}"#
        );
    }
}
