//! Command-line flags: each command declares its options once (`Flag`), the
//! parser accepts exactly those and its `--help` is rendered from the same
//! list, so the two cannot drift. The arguments are read in one pass, in
//! order: a flag that takes a value takes the next argument, before any
//! command asks for its positionals (`dev-db --data-dir DIR status`).
//!
//! Hand-written rather than `clap` or `lexopt`: the parser was already here
//! and tested, its messages are the ones the README and tests quote, and a
//! declared list gives what they would (help from the definitions, no silent
//! typos, a suggestion for one) at no build cost.

use std::str::FromStr;

use crate::exit::Usage;

/// One option: `--name VALUE` (when `value` is given) or a bare `--name`.
pub struct Flag {
    pub name: &'static str,
    pub value: Option<&'static str>,
    pub help: &'static str,
}

/// A command's help: what comes before the options, the options (rendered
/// from the list the parser accepts), and what comes after.
pub struct Help {
    pub intro: &'static str,
    pub flags: &'static [Flag],
    pub outro: &'static str,
}

impl Help {
    pub fn render(&self) -> String {
        let left = |f: &Flag| match f.value {
            Some(v) => format!("{} {v}", f.name),
            None => f.name.to_string(),
        };
        let width = self.flags.iter().map(|f| left(f).len()).max().unwrap_or(0) + 2;
        let mut out = format!("{}Options:\n", self.intro);
        // An empty help hides an internal option (dev-db's watchdog).
        for f in self.flags.iter().filter(|f| !f.help.is_empty()) {
            out.push_str(&format!("  {:<width$}{}\n", left(f), f.help));
        }
        out.push('\n');
        out.push_str(self.outro);
        out
    }
}

/// One argument as the single pass read it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// A declared bare flag.
    Flag(&'static str),
    /// A declared flag with its value (`--name VALUE` or `--name=VALUE`).
    Value(&'static str, String),
    /// A declared flag that takes a value, with none after it.
    Missing(&'static str),
    /// `--name=VALUE` for a declared flag that takes none.
    Unwanted(&'static str),
    /// An option no one declared.
    Unknown(String),
    Positional(String),
}

/// The arguments of one subcommand, read in one pass into declared flags
/// and positionals, then consumed by the command; whatever is left at
/// `finish` is an error, so a typo never passes silently.
pub struct Args {
    cmd: &'static str,
    /// The options the command declared; asking for another is a bug.
    declared: &'static [Flag],
    items: Vec<Option<Item>>,
    /// Arguments after `--`, passed through untouched.
    pub passthrough: Vec<String>,
}

impl Args {
    pub fn new(cmd: &'static str, declared: &'static [Flag], args: Vec<String>) -> Args {
        let mut items = Vec::new();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            if a == "--" {
                break;
            }
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            let flag = declared.iter().find(|f| f.name == name);
            let item = match (flag, inline) {
                (Some(f), Some(v)) if f.value.is_some() => Item::Value(f.name, v),
                (Some(f), Some(_)) => Item::Unwanted(f.name),
                (Some(f), None) if f.value.is_none() => Item::Flag(f.name),
                // A value is the next argument, unless that is an option.
                (Some(f), None) => match it.as_slice().first() {
                    Some(v) if !v.starts_with("--") => Item::Value(f.name, it.next().unwrap()),
                    _ => Item::Missing(f.name),
                },
                (None, _) if a.starts_with('-') && a != "-" => Item::Unknown(a),
                (None, _) => Item::Positional(a),
            };
            items.push(Some(item));
        }
        Args {
            cmd,
            declared,
            items,
            passthrough: it.collect(),
        }
    }

    fn usage(&self, msg: String) -> anyhow::Error {
        Usage(format!(
            "{msg}\nhint: run `cargo xtask {} --help`",
            self.cmd
        ))
        .into()
    }

    fn check_declared(&self, name: &str) {
        debug_assert!(
            self.declared.iter().any(|f| f.name == name),
            "`{name}` is read by `{}` but not in its declared flags (its help would not show it)",
            self.cmd
        );
    }

    /// True when the bare flag `--name` is present (consumed).
    pub fn flag(&mut self, name: &str) -> bool {
        self.check_declared(name);
        let mut found = false;
        for item in self.items.iter_mut() {
            if matches!(item, Some(Item::Flag(n)) if *n == name) {
                *item = None;
                found = true;
            }
        }
        found
    }

    /// Every value of `--name VALUE` or `--name=VALUE`, in order.
    pub fn values(&mut self, name: &str) -> anyhow::Result<Vec<String>> {
        self.check_declared(name);
        if self
            .items
            .iter()
            .any(|i| matches!(i, Some(Item::Missing(n)) if *n == name))
        {
            return Err(self.usage(format!("{name} needs a value")));
        }
        let mut out = Vec::new();
        for item in self.items.iter_mut() {
            if let Some(Item::Value(n, v)) = item {
                if *n == name {
                    out.push(std::mem::take(v));
                    *item = None;
                }
            }
        }
        Ok(out)
    }

    /// The value of `--name`; the last one wins when given twice.
    pub fn value(&mut self, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self.values(name)?.pop())
    }

    /// The value of `--name`, parsed.
    pub fn parsed<T: FromStr>(&mut self, name: &str, what: &str) -> anyhow::Result<Option<T>> {
        match self.value(name)? {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| self.usage(format!("{name} takes {what}, not `{v}`"))),
        }
    }

    /// The next argument that is not an option or an option's value.
    pub fn positional(&mut self) -> Option<String> {
        let at = self
            .items
            .iter()
            .position(|i| matches!(i, Some(Item::Positional(_))))?;
        match self.items[at].take() {
            Some(Item::Positional(v)) => Some(v),
            _ => None,
        }
    }

    /// Fails on anything not consumed, including arguments after `--` that
    /// the command did not take.
    pub fn finish(self) -> anyhow::Result<()> {
        if let Some(first) = self.passthrough.first() {
            return Err(self.usage(format!("unexpected argument `{first}` after `--`")));
        }
        let Some(left) = self.items.iter().flatten().next() else {
            return Ok(());
        };
        let msg = match left {
            Item::Unknown(a) => {
                let name = a.split('=').next().unwrap_or(a);
                match self.suggestion(name) {
                    Some(s) => format!(
                        "unknown option `{a}` for `{}`; did you mean `{s}`?",
                        self.cmd
                    ),
                    None => format!("unknown option `{a}` for `{}`", self.cmd),
                }
            }
            Item::Missing(n) => format!("{n} needs a value"),
            Item::Unwanted(n) => format!("{n} takes no value"),
            Item::Positional(a) => format!("unexpected argument `{a}` for `{}`", self.cmd),
            // A declared flag the command did not read: it does not apply
            // on this path (e.g. a subcommand that ignores it).
            Item::Flag(n) | Item::Value(n, _) => {
                format!("option `{n}` does not apply here for `{}`", self.cmd)
            }
        };
        Err(self.usage(msg))
    }

    /// The declared flag a mistyped one most likely meant: at most two
    /// edits away, and closer than any other.
    fn suggestion(&self, typed: &str) -> Option<&'static str> {
        self.declared
            .iter()
            .filter(|f| !f.help.is_empty())
            .map(|f| (edit_distance(typed, f.name), f.name))
            .filter(|(d, _)| *d <= 2)
            .min_by_key(|(d, _)| *d)
            .map(|(_, n)| n)
    }
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[
        Flag {
            name: "--var",
            value: Some("NAME"),
            help: "a variable",
        },
        Flag {
            name: "--json",
            value: None,
            help: "JSON",
        },
        Flag {
            name: "--port",
            value: Some("N"),
            help: "a port",
        },
    ];

    fn args(v: &[&str]) -> Args {
        Args::new("t", FLAGS, v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn help_is_rendered_from_the_declared_flags() {
        let h = Help {
            intro: "t: a test\n\n",
            flags: FLAGS,
            outro: "Example:\n  t --json\n",
        };
        assert_eq!(
            h.render(),
            "t: a test\n\nOptions:\n  --var NAME  a variable\n  --json      JSON\n  --port N    a port\n\nExample:\n  t --json\n"
        );
    }

    #[test]
    fn values_flags_and_leftovers() {
        let mut a = args(&["--var", "A", "--json", "--var=B", "name", "--", "--x"]);
        assert_eq!(a.values("--var").unwrap(), ["A", "B"]);
        assert!(a.flag("--json"));
        assert!(!a.flag("--json"));
        assert_eq!(a.positional().as_deref(), Some("name"));
        assert_eq!(std::mem::take(&mut a.passthrough), ["--x"]);
        a.finish().unwrap();
        let b = args(&["--", "--x"]);
        assert!(b.finish().is_err(), "passthrough nobody took is an error");
    }

    #[test]
    fn unknown_and_malformed_are_usage_errors() {
        let a = args(&["--bogus"]);
        let e = a.finish().unwrap_err();
        assert!(e
            .downcast_ref::<Usage>()
            .unwrap()
            .0
            .contains("unknown option `--bogus`"));
        let mut a = args(&["--port"]);
        assert!(a.value("--port").is_err());
        let mut a = args(&["--port", "x"]);
        assert!(a.parsed::<u16>("--port", "a port number").is_err());
    }

    #[test]
    fn a_value_is_paired_with_its_flag_before_positionals_are_read() {
        // `dev-db --data-dir DIR status` once read DIR as the subcommand.
        let mut a = args(&["--var", "DIR", "status"]);
        assert_eq!(a.positional().as_deref(), Some("status"));
        assert_eq!(a.value("--var").unwrap().as_deref(), Some("DIR"));
        a.finish().unwrap();
        let mut b = args(&["status", "--var", "DIR"]);
        assert_eq!(b.positional().as_deref(), Some("status"));
        assert_eq!(b.value("--var").unwrap().as_deref(), Some("DIR"));
        assert_eq!(b.positional(), None);
        b.finish().unwrap();
    }

    #[test]
    fn a_typo_gets_the_closest_declared_flag() {
        let e = args(&["--jsno"]).finish().unwrap_err().to_string();
        assert!(
            e.contains("unknown option `--jsno` for `t`; did you mean `--json`?"),
            "{e}"
        );
        let e = args(&["--prot=5"]).finish().unwrap_err().to_string();
        assert!(e.contains("did you mean `--port`?"), "{e}");
        let e = args(&["--completely-else"])
            .finish()
            .unwrap_err()
            .to_string();
        assert!(!e.contains("did you mean"), "{e}");
        assert_eq!(edit_distance("--data-dri", "--data-dir"), 2);
        assert_eq!(edit_distance("", "ab"), 2);
    }

    #[test]
    fn a_bare_flag_with_a_value_and_a_value_flag_without_one_are_named() {
        let e = args(&["--json=yes"]).finish().unwrap_err().to_string();
        assert!(e.contains("--json takes no value"), "{e}");
        let e = args(&["--var", "--json"]).finish().unwrap_err().to_string();
        assert!(e.contains("--var needs a value"), "{e}");
    }
}
