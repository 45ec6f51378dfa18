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

/// The top-level module a source file belongs to (`diagnose/tls.rs` ->
/// `diagnose`, `pg.rs` -> `pg`).
fn module_of(rel: &str) -> String {
    let first = rel.split('/').next().unwrap();
    first.trim_end_matches(".rs").to_string()
}

/// The other top-level modules a file's non-test code names through
/// `crate::`, including grouped imports (`use crate::{a, b::c}`).
fn crate_references(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap();
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: split at commas outside braces.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            out.push(item);
        } else {
            out.push(rest.to_string());
        }
    }
    out.iter()
        .map(|s| {
            s.trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|s| !s.is_empty() && s.chars().next().is_some_and(|c| c.is_lowercase()))
        .collect()
}

/// Groups of modules that reach each other (strongly connected, more than
/// one module), each sorted, from `edges` (from, to).
// Floyd-Warshall reads best with indices into the matrix.
#[allow(clippy::needless_range_loop)]
fn cycles(edges: &[(String, String)]) -> Vec<Vec<String>> {
    let mut nodes: Vec<&String> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    nodes.sort();
    nodes.dedup();
    let n = nodes.len();
    let at = |s: &String| nodes.iter().position(|x| *x == s).unwrap();
    let mut reach = vec![vec![false; n]; n];
    for (a, b) in edges {
        reach[at(a)][at(b)] = true;
    }
    for k in 0..n {
        for i in 0..n {
            for j in 0..n {
                if reach[i][k] && reach[k][j] {
                    reach[i][j] = true;
                }
            }
        }
    }
    let mut out: Vec<Vec<String>> = Vec::new();
    for i in 0..n {
        let group: Vec<String> = (0..n)
            .filter(|&j| j == i || (reach[i][j] && reach[j][i]))
            .map(|j| nodes[j].clone())
            .collect();
        if group.len() > 1 && !out.contains(&group) {
            out.push(group);
        }
    }
    out
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let e = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        cycles(&[
            e("a", "b"),
            e("b", "c"),
            e("c", "a"),
            e("c", "d"),
            e("e", "d")
        ]),
        [vec!["a".to_string(), "b".to_string(), "c".to_string()]]
    );
    assert!(cycles(&[e("a", "b"), e("b", "c"), e("a", "c")]).is_empty());
    assert_eq!(
        crate_references("use crate::{pgurl::PgUrl, secret};\nlet x = crate::util::f();\n#[cfg(test)]\nuse crate::dotenv;"),
        ["pgurl", "secret", "util"]
    );
}

/// The core is layered: no module reaches another that reaches it back, so
/// each can be read (and changed) knowing only the modules below it. Files
/// named `tests.rs` and `#[cfg(test)]` code may reach anywhere.
#[test]
fn the_core_modules_form_layers_without_cycles() {
    let mut edges = Vec::new();
    for p in sources() {
        let r = rel(&p);
        if r == "main.rs" || r == "lib.rs" || r.ends_with("/tests.rs") {
            continue;
        }
        let from = module_of(&r);
        for to in crate_references(&fs::read_to_string(&p).unwrap()) {
            let known =
                src_dir().join(&to).is_dir() || src_dir().join(format!("{to}.rs")).is_file();
            if to != from && known {
                edges.push((from.clone(), to));
            }
        }
    }
    assert!(edges.len() > 20, "found the imports: {edges:?}");
    let found = cycles(&edges);
    let explain: Vec<String> = found
        .iter()
        .map(|group| {
            let inside: Vec<String> = edges
                .iter()
                .filter(|(a, b)| group.contains(a) && group.contains(b))
                .map(|(a, b)| format!("{a} -> {b}"))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            format!("{} ({})", group.join(" <-> "), inside.join(", "))
        })
        .collect();
    assert!(
        found.is_empty(),
        "modules that reach each other: {explain:#?}"
    );
}
