//! dotenvy 0.15's reading of a line, rebuilt: the logical-line joining of
//! quoted values that span lines, key and value syntax, quotes, escapes and
//! `$NAME`/`${NAME}` substitution, and how a value is written back.

use super::{Quote, Var};

/// The states dotenvy uses to decide whether a quoted value continues on
/// the next physical line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum JoinState {
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
pub(super) fn join_state(mut state: JoinState, line: &str) -> (JoinState, Option<usize>) {
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
pub(super) fn parse_assignment(content: &str) -> Result<Option<Var>, String> {
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
pub(super) fn read_value(
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
pub(super) fn is_inert(value: &str) -> bool {
    !value.contains(|c: char| "$#'\"\\`".contains(c) || c.is_whitespace())
}

/// Writes `value` so that dotenvy (and Node's dotenv with dotenv-expand)
/// read it back unchanged, in `style` when that is safe.
pub(super) fn write_value(value: &str, style: Quote) -> String {
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
