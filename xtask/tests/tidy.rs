//! The house rules, checked like rust-analyzer's `tidy`: every module says
//! what it is for, files and functions stay short enough to read, and the
//! commands sit on the core without leaning on each other.

use std::fs;
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 500;
const MAX_FN_LINES: usize = 80;

/// Functions allowed to be longer, and why.
const LONG_FN_EXCEPTIONS: &[(&str, &str)] = &[(
    "dotenv/parse.rs::read_value",
    "one state machine that mirrors dotenvy's value parser step for step; split, its states would be scattered",
)];

fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&src_dir(), &mut out);
    out.sort();
    assert!(out.len() > 20, "found the sources: {out:?}");
    out
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rel(p: &Path) -> String {
    p.strip_prefix(src_dir())
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

/// `(name, lines)` of every `fn` with a body, by its closing brace at the
/// same indentation (rustfmt's layout).
fn functions(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let indent = &l[..l.len() - t.len()];
        let t = t
            .strip_prefix("pub ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .or_else(|| t.strip_prefix("pub(crate) "))
            .unwrap_or(t);
        let Some(rest) = t.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let end = (i + 1..lines.len()).find(|&j| {
            lines[j]
                .strip_prefix(indent)
                .is_some_and(|r| r.starts_with('}'))
                || (lines[j].trim_end().ends_with(';') && j == i)
        });
        if l.trim_end().ends_with(';') {
            continue;
        }
        if let Some(end) = end {
            out.push((name, end - i + 1));
        }
    }
    out
}

#[test]
fn every_module_says_what_it_is_for() {
    for p in sources() {
        let text = fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with("//!"),
            "{} does not open with a //! paragraph",
            rel(&p)
        );
    }
}

#[test]
fn files_stay_under_500_lines() {
    for p in sources() {
        let n = fs::read_to_string(&p).unwrap().lines().count();
        assert!(
            n <= MAX_FILE_LINES,
            "{} has {n} lines (at most {MAX_FILE_LINES})",
            rel(&p)
        );
    }
}

#[test]
fn functions_stay_under_80_lines() {
    let mut seen_exceptions = Vec::new();
    for p in sources() {
        for (name, n) in functions(&fs::read_to_string(&p).unwrap()) {
            let id = format!("{}::{name}", rel(&p));
            if LONG_FN_EXCEPTIONS.iter().any(|(e, _)| *e == id) {
                seen_exceptions.push(id);
                continue;
            }
            assert!(
                n <= MAX_FN_LINES,
                "{id} has {n} lines (at most {MAX_FN_LINES})"
            );
        }
    }
    for (e, _) in LONG_FN_EXCEPTIONS {
        assert!(
            seen_exceptions.iter().any(|s| s == e),
            "exception {e} no longer exists: remove it"
        );
    }
}

#[test]
fn the_function_counter_counts() {
    let text = "fn a() {\n    x();\n}\n\nimpl T {\n    pub fn b(&self) {\n        y();\n        z();\n    }\n    fn c();\n}\n";
    assert_eq!(
        functions(text),
        [("a".to_string(), 3), ("b".to_string(), 4)]
    );
}

#[test]
fn no_command_imports_another_command() {
    for p in sources() {
        let r = rel(&p);
        let text = fs::read_to_string(&p).unwrap();
        let in_cmd = r.starts_with("cmd/") && r != "cmd/mod.rs";
        if in_cmd {
            // `super::` at the top of a command is its siblings; in a test
            // module (indented) it is the command itself.
            for l in text.lines() {
                let sibling = l.starts_with("use super::") || l.contains("crate::cmd::");
                assert!(
                    !sibling,
                    "{r}: a command module imports another command: {l}"
                );
            }
        } else if r != "main.rs" && r != "cmd/mod.rs" {
            assert!(
                !text.contains("crate::cmd"),
                "{r}: the core must not depend on a command module"
            );
        }
    }
}

#[test]
fn codes_are_enums_not_strings() {
    // The old protocol between layers: codes and statuses compared as text.
    for p in sources() {
        let text = fs::read_to_string(&p).unwrap();
        for pat in [
            "code == \"",
            "status == \"",
            "kind == \"",
            "layer == \"",
            ".name == \"",
        ] {
            assert!(
                !text.contains(pat),
                "{}: compares `{pat}`: use the enum",
                rel(&p)
            );
        }
    }
}
