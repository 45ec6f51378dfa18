//! Command-line flags: each command declares its options once (`Flag`), the
//! parser accepts exactly those and its `--help` is rendered from the same
//! list, so the two cannot drift; and the exit-code convention (0 success,
//! 1 something failed, 2 bad usage or input).
//!
//! Hand-written rather than `clap` or `lexopt`: the parser was already here
//! and tested, its messages are the ones the README and tests quote, and a
//! declared list gives what they would (help from the definitions, no silent
//! typos) at no build cost.

use std::fmt;
use std::str::FromStr;

/// What a command's exit status means: one table for every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done, every check passed (warnings allowed).
    Success,
    /// The command ran and something failed: a check, a migration, a step.
    Failed,
    /// Bad usage or bad input: an unknown flag, a file that cannot be read or
    /// parsed, an invalid URL or parameter, a missing URL, a placeholder password.
    BadInput,
    /// Stopped by Ctrl-C.
    Interrupted,
    /// A child's own status, passed on (`migrate` passes Prisma's).
    Child(i32),
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::BadInput => 2,
            Exit::Interrupted => 130,
            Exit::Child(c) => c,
        }
    }

    /// The status of an error that ended a command.
    pub fn of_error(e: &anyhow::Error) -> Exit {
        if e.downcast_ref::<Usage>().is_some() || e.downcast_ref::<BadInput>().is_some() {
            Exit::BadInput
        } else {
            Exit::Failed
        }
    }

    /// Success when `ok`, else Failed.
    pub fn ok_if(ok: bool) -> Exit {
        if ok {
            Exit::Success
        } else {
            Exit::Failed
        }
    }
}

/// Bad usage: unknown flag, missing or malformed value. Exit 2.
#[derive(Debug)]
pub struct Usage(pub String);

/// Bad input: a file that cannot be parsed, an invalid URL, a missing file.
/// Exit 2.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Usage {}
impl std::error::Error for BadInput {}

/// Returns an exit-2 error for bad input.
pub fn bad_input(msg: impl Into<String>) -> anyhow::Error {
    BadInput(msg.into()).into()
}

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

/// The arguments of one subcommand, consumed flag by flag; whatever is left
/// at `finish` is an error, so a typo never passes silently.
pub struct Args {
    cmd: &'static str,
    /// The options the command declared; asking for another is a bug.
    declared: &'static [Flag],
    items: Vec<Option<String>>,
    /// Arguments after `--`, passed through untouched.
    pub passthrough: Vec<String>,
}

impl Args {
    pub fn new(cmd: &'static str, declared: &'static [Flag], args: Vec<String>) -> Args {
        let mut items = Vec::new();
        let mut passthrough = Vec::new();
        let mut it = args.into_iter();
        for a in it.by_ref() {
            if a == "--" {
                break;
            }
            items.push(Some(a));
        }
        passthrough.extend(it);
        Args {
            cmd,
            declared,
            items,
            passthrough,
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
            if item.as_deref() == Some(name) {
                *item = None;
                found = true;
            }
        }
        found
    }

    /// Every value of `--name VALUE` or `--name=VALUE`, in order.
    pub fn values(&mut self, name: &str) -> anyhow::Result<Vec<String>> {
        self.check_declared(name);
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.items.len() {
            let Some(item) = self.items[i].clone() else {
                i += 1;
                continue;
            };
            if item == name {
                let value = self.items.get(i + 1).cloned().flatten();
                match value {
                    Some(v) if !v.starts_with("--") => {
                        out.push(v);
                        self.items[i] = None;
                        self.items[i + 1] = None;
                        i += 2;
                        continue;
                    }
                    _ => return Err(self.usage(format!("{name} needs a value"))),
                }
            } else if let Some(v) = item.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                out.push(v.to_string());
                self.items[i] = None;
            }
            i += 1;
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

    /// The next argument that is not a flag.
    pub fn positional(&mut self) -> Option<String> {
        for item in self.items.iter_mut() {
            if let Some(v) = item {
                if !v.starts_with('-') || v == "-" {
                    return item.take();
                }
            }
        }
        None
    }

    /// Fails on anything not consumed, including arguments after `--` that
    /// the command did not take.
    pub fn finish(self) -> anyhow::Result<()> {
        if let Some(first) = self.passthrough.first() {
            return Err(self.usage(format!("unexpected argument `{first}` after `--`")));
        }
        let left: Vec<String> = self.items.iter().flatten().cloned().collect();
        if let Some(first) = left.first() {
            let msg = if first.starts_with('-') {
                format!("unknown option `{first}` for `{}`", self.cmd)
            } else {
                format!("unexpected argument `{first}` for `{}`", self.cmd)
            };
            return Err(self.usage(msg));
        }
        Ok(())
    }
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
}
