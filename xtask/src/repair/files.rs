//! Warnings about the env file itself: a shell variable that overrides it,
//! a file tracked by git, a file other users can read.

use std::fs;
use std::path::Path;

use xshell::{cmd, Shell};

use super::{Finding, Kind, Options};
use crate::dotenv::Document;

pub fn file_warnings(sh: &Shell, path: &Path, doc: &Document, opts: &Options) -> Vec<Finding> {
    let mut w = Vec::new();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for var in &opts.vars {
        let Some(idx) = doc.find(var).first().copied() else {
            continue;
        };
        if let Ok(shell) = std::env::var(var) {
            if shell != doc.literal(idx) {
                w.push(Finding::new(var, Kind::ShellOverride, format!("{var} is also set in your shell with a different value, and the shell wins over {name}: `unset {var}` (PowerShell: `Remove-Item Env:{var}`)")));
            }
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    // Asking git costs a process start: only inside a work tree.
    let in_repo = dir.ancestors().any(|d| d.join(".git").exists());
    let tracked = in_repo
        && cmd!(sh, "git -C {dir} ls-files --error-unmatch -- {name}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_ok();
    if tracked {
        w.push(Finding::new(&name, Kind::TrackedByGit, format!("{name} is tracked by git and holds a password: `git rm --cached {name}` and add `.env*.local` to .gitignore")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = fs::metadata(path) {
            if m.permissions().mode() & 0o044 != 0 {
                w.push(Finding::new(
                    &name,
                    Kind::Permissions,
                    format!("{name} is readable by other users: `chmod 600 {name}`"),
                ));
            }
        }
    }
    w
}
