//! `cargo xtask env-fix`: flags and rendering for the repairs in `repair`,
//! applied to one env file in place by `envfile::fix_file`. Everything but
//! the repaired values stays byte for byte.

use std::path::PathBuf;

use crate::dotenv::Document;
use crate::envfile::{self, FileOutcome, Write};
use crate::exit::{bad_input, Exit, Usage};
use crate::flags::{Args, Flag, Help};
use crate::input::{self, PasswordSource};
use crate::output::{self, Json};
use crate::passwords;
use crate::pgurl::PgUrl;
use crate::prisma;
use crate::repair::{self, Finding, Options};
use crate::util::Ctx;

pub const HELP: Help = Help {
    intro: "\
cargo xtask env-fix: repair DATABASE_URL (and DIRECT_URL, SHADOW_DATABASE_URL) in .env.local, in place

Usage: cargo xtask env-fix [options]

Repairs, each reported on one line with the password masked:
  - characters in the user or password that must be percent-encoded (@ # $ & / : % ...)
  - values a dotenv loader would misread ($ substitution, # comments)
  - sslmode=require for hosts that are not local (also over disable, allow or prefer)
  - connect_timeout and pool_timeout (added when missing, raised when lower, never lowered)
  - statement_timeout moved into options=-c statement_timeout=MS, the form every reader honours
Warns, without changing anything, about RDS Proxy or pooler hosts, sslmode=verify-*,
@prisma/adapter-pg with sslmode=require, parameters no reader understands, a shell
variable that overrides the file, a file tracked by git or readable by others.

",
    flags: FLAGS,
    outro: "\
Exit codes: 0 done or nothing to do, 1 --check found something to change, 2 bad input
(unreadable file, duplicate or missing variable, invalid URL, placeholder password).

Example:
  cargo xtask env-fix --dry-run
  printf '%s' \"$NEW_PASSWORD\" | cargo xtask env-fix --password-stdin
  $env:NEW_PASSWORD | cargo xtask env-fix --password-stdin        # PowerShell
  cargo xtask env-fix --password-from aws-secret:prod/summitly/db
  cargo xtask env-fix --password-from aws-rds-managed --aws-profile prod
",
};

/// The options, as the parser accepts them and the help shows them.
#[rustfmt::skip]
const FLAGS: &[Flag] = &[
    Flag { name: "--file", value: Some("PATH"), help: "the env file (default: .env.local in the project directory)" },
    Flag { name: "--var", value: Some("NAME"), help: "a variable to repair (repeatable; default DATABASE_URL, DIRECT_URL, SHADOW_DATABASE_URL)" },
    Flag { name: "--connect-timeout", value: Some("SECS"), help: "minimum connect_timeout (default 30)" },
    Flag { name: "--pool-timeout", value: Some("SECS"), help: "minimum pool_timeout (default 30)" },
    Flag { name: "--statement-timeout", value: Some("MS"), help: "set statement_timeout through options" },
    Flag { name: "--show-secret", value: None, help: "with DATABASE_URL only in your shell: print the repaired value with its password" },
    Flag { name: "--sslmode", value: Some("MODE"), help: "set sslmode=MODE on the URLs it repairs, local hosts included (a local server that requires TLS: --sslmode require)" },
    Flag { name: "--keep-sslmode", value: None, help: "keep sslmode=disable/allow/prefer on a remote host (default: raise it to require)" },
    Flag { name: "--password-stdin", value: None, help: "read a new password from standard input (never pass it as an argument)" },
    Flag { name: "--password-from", value: Some("SOURCE"), help: "aws-secret:ID[#key] (Secrets Manager) or aws-rds-managed (the instance's master user secret), through your aws CLI" },
    Flag { name: "--iam", value: None, help: "refused: an IAM token expires in 15 minutes (use db-test --iam and migrate --iam)" },
    Flag { name: "--aws-profile", value: Some("NAME"), help: "with --password-from: the aws CLI profile" },
    Flag { name: "--check", value: None, help: "write nothing; exit 1 when something would change" },
    Flag { name: "--dry-run", value: None, help: "write nothing; print a unified diff (password masked)" },
    Flag { name: "--no-backup", value: None, help: "do not keep a backup (default: FILE.bak.local, which `.env*.local` ignores)" },
    Flag { name: "--json", value: None, help: "{\"file\", \"changed\", \"changes\": [...], \"warnings\": [...]}" },
];

pub fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<Exit> {
    let file = args.value("--file")?.map(PathBuf::from);
    let file_given = file.clone();
    let show_secret = args.flag("--show-secret");
    let vars = args.values("--var")?;
    let connect_timeout = args.parsed("--connect-timeout", "seconds")?;
    let pool_timeout = args.parsed("--pool-timeout", "seconds")?;
    let statement_timeout = args.parsed("--statement-timeout", "milliseconds")?;
    let password_stdin = args.flag("--password-stdin");
    let source = PasswordSource::from_flags(
        "env-fix",
        args.value("--password-from")?,
        args.flag("--iam"),
    )?;
    let profile = args.value("--aws-profile")?;
    let keep_sslmode = args.flag("--keep-sslmode");
    let sslmode = args.value("--sslmode")?;
    let check = args.flag("--check");
    let dry_run = args.flag("--dry-run");
    let no_backup = args.flag("--no-backup");
    let json = args.flag("--json");
    args.finish()?;

    let path = match file {
        Some(f) => ctx.resolve(&f),
        None => ctx.project_dir.join(".env.local"),
    };
    let mut opts = Options {
        explicit_vars: !vars.is_empty(),
        vars: if vars.is_empty() {
            Options::default().vars
        } else {
            vars
        },
        connect_timeout: connect_timeout.unwrap_or(30),
        pool_timeout: pool_timeout.unwrap_or(30),
        statement_timeout,
        adapter_pg: prisma::uses_adapter_pg(&ctx.project_dir),
        keep_sslmode,
        sslmode,
        ..Options::default()
    };
    (opts.password, opts.password_origin) =
        new_password(&path, &opts, password_stdin, source, profile.as_deref())?;
    let write = if check || dry_run {
        Write::No
    } else if no_backup {
        Write::NoBackup
    } else {
        Write::WithBackup
    };
    if file_given.is_none() && !path.exists() {
        if let Some(exit) = shell_only(&opts, check, show_secret)? {
            return Ok(exit);
        }
    }
    let outcome = envfile::fix_file(ctx, &path, &opts, write)?;
    let FileOutcome {
        changed,
        changes,
        warnings,
        ..
    } = &outcome;
    let changed = *changed;
    let shown = path.display().to_string();
    if json {
        let written = changed && !check && !dry_run;
        print_json(
            &shown,
            changed,
            written,
            changes,
            warnings,
            outcome.written.as_ref(),
        );
    } else {
        print_human(&shown, &outcome, check || dry_run, dry_run);
    }
    Ok(Exit::ok_if(!(check && changed)))
}

fn print_json(
    shown: &str,
    changed: bool,
    written: bool,
    changes: &[Finding],
    warnings: &[Finding],
    how: Option<&crate::util::Replaced>,
) {
    output::json(&Json::obj([
        ("file", Json::str(shown)),
        ("changed", Json::Bool(changed)),
        ("written", Json::Bool(written)),
        // The file written (through links), and its other names, which
        // were kept by writing in place.
        (
            "written_to",
            Json::opt_str(how.map(|w| w.real.display().to_string())),
        ),
        (
            "other_names",
            Json::Num(how.map(|w| w.other_names).unwrap_or(0) as f64),
        ),
        (
            "changes",
            Json::Arr(changes.iter().map(Finding::json).collect()),
        ),
        (
            "warnings",
            Json::Arr(warnings.iter().map(Finding::json).collect()),
        ),
    ]));
}

/// The new password and where it came from: standard input, AWS, or none.
fn new_password(
    path: &std::path::Path,
    opts: &Options,
    password_stdin: bool,
    source: Option<PasswordSource>,
    profile: Option<&str>,
) -> anyhow::Result<(Option<crate::secret::Secret>, Option<String>)> {
    match (password_stdin, source) {
        (true, Some(_)) => Err(Usage("--password-stdin and --password-from are two sources of the password: give one\nhint: run `cargo xtask env-fix --help`".into()).into()),
        (true, None) => Ok((Some(input::read_password_stdin()?), None)),
        (false, Some(source)) => {
            let (p, origin) = password_from_aws(path, opts, &source, profile)?;
            Ok((Some(p), Some(origin)))
        }
        (false, None) => Ok((None, None)),
    }
}

/// `--password-from`: the password for the URL env-fix is about to repair
/// (its host finds the RDS instance; its user is checked), fetched before
/// anything is written. `--iam` is refused: a token expires in 15 minutes.
fn password_from_aws(
    path: &std::path::Path,
    opts: &Options,
    source: &PasswordSource,
    profile: Option<&str>,
) -> anyhow::Result<(crate::secret::Secret, String)> {
    if *source == PasswordSource::Iam {
        return Err(bad_input("env-fix --iam: an IAM token expires 15 minutes after it is made, so it never belongs in .env.local. Nothing was written. Keep the URL without a password and run `cargo xtask db-test --iam` or `cargo xtask migrate --iam`, which make a fresh token each run and pass it in the environment only"));
    }
    let url = current_url(path, opts)?;
    let r = passwords::resolve(source, &url, profile)?;
    let style = output::Style::stderr();
    output::err(format!("{} {}", style.dim("env-fix:"), r.note()));
    if let Some(w) = passwords::user_warning(&r, &url) {
        output::err(format!("{} {w}", style.yellow("warning:")));
    }
    Ok((r.password, r.what))
}

/// The first target variable's URL: from the file, else from the shell.
fn current_url(path: &std::path::Path, opts: &Options) -> anyhow::Result<PgUrl> {
    let doc = match std::fs::read_to_string(path) {
        Ok(text) => Some(
            crate::dotenv::Document::parse(&text)
                .map_err(|e| bad_input(format!("{}: {e}", path.display())))?,
        ),
        Err(_) => None,
    };
    for var in &opts.vars {
        let value = match &doc {
            Some(d) => d.find(var).first().map(|&i| d.loaded_value(i)),
            None => std::env::var(var).ok(),
        };
        if let Some(v) = value {
            return PgUrl::parse(&v)
                .map_err(|e| bad_input(format!("{var}: {e}. Nothing was written.")));
        }
    }
    Err(bad_input(format!(
        "{}: no {} to put the password in. Nothing was written.",
        path.display(),
        opts.vars.join(" or ")
    )))
}

/// DATABASE_URL set only in the shell, and no env file: there is nothing to
/// rewrite, so print the repaired value to export. None when no variable is
/// set in the environment (then the missing file is the error to report).
fn shell_only(opts: &Options, check: bool, show_secret: bool) -> anyhow::Result<Option<Exit>> {
    let set: Vec<(&String, String)> = opts
        .vars
        .iter()
        .filter_map(|v| std::env::var(v).ok().map(|value| (v, value)))
        .collect();
    if set.is_empty() {
        return Ok(None);
    }
    let style = output::Style::stdout();
    let mut changed = false;
    for (var, value) in set {
        let mut url =
            PgUrl::parse(&value).map_err(|e| bad_input(format!("{var} (environment): {e}")))?;
        let (mut changes, mut warnings) = (Vec::new(), Vec::new());
        repair::repair_url(var, &mut url, opts, &mut changes, &mut warnings)
            .map_err(|e| bad_input(format!("{var} (environment) {e}")))?;
        for c in &changes {
            output::out(format!("{} {}: {}", style.green("fix "), c.var, c.detail));
        }
        for w in &warnings {
            output::out(format!("{} {}: {}", style.yellow("warn"), w.var, w.detail));
        }
        if changes.is_empty() {
            output::out(format!("{var} (from your shell): nothing to repair"));
            continue;
        }
        changed = true;
        // The one place env-fix prints a password, and only when asked.
        let shown = if show_secret {
            url.render()
        } else {
            url.masked()
        };
        let text = format!(
            "{var} comes from your shell and no env file defines it: nothing written. Set the repaired value{}:\n  export {var}='{shown}'\n  $env:{var} = '{shown}'    # PowerShell",
            if show_secret { "" } else { " (password masked; --show-secret prints it)" }
        );
        if show_secret {
            output::out_unmasked(text);
        } else {
            output::out(text);
        }
    }
    Ok(Some(Exit::ok_if(!(check && changed))))
}

/// The repairs and warnings, one line each, then what happened to the file.
fn print_human(shown: &str, o: &FileOutcome, nothing_written: bool, dry_run: bool) {
    let style = output::Style::stdout();
    for c in &o.changes {
        output::out(format!("{} {}: {}", style.green("fix "), c.var, c.detail));
    }
    for w in &o.warnings {
        output::out(format!("{} {}: {}", style.yellow("warn"), w.var, w.detail));
    }
    if dry_run && o.changed {
        output::out(unified_diff(
            shown,
            &masked_text(&o.text),
            &masked_text(&o.new_text),
        ));
    }
    output::out(match (o.changed, nothing_written) {
        (false, _) => format!("{shown}: nothing to do"),
        (true, true) => format!(
            "{shown}: {} change(s) needed, nothing written",
            o.changes.len()
        ),
        (true, false) => {
            let how = o
                .written
                .as_ref()
                .and_then(|w| w.describe())
                .map(|d| format!(", {d}"))
                .unwrap_or_default();
            match &o.backup {
                Some(b) => format!("{shown}: rewritten{how} (backup: {})", b.display()),
                None => format!("{shown}: rewritten{how}"),
            }
        }
    });
}

/// `text` with every URL value shown as `PgUrl::masked()`: the diff is
/// built from these, so no spelling of a password (quoted, with spaces or
/// quotes in it) can reach it. A value that is not a URL stays as it is.
fn masked_text(text: &str) -> String {
    let Ok((mut doc, _)) = Document::parse_lenient(text) else {
        return crate::secret::redact(text);
    };
    for idx in 0..doc.entries.len() {
        let url = doc.try_literal(idx).and_then(|v| PgUrl::parse(&v).ok());
        if let Some(url) = url.filter(|u| u.password().is_some()) {
            doc.set_value(idx, &url.masked());
        }
    }
    doc.render()
}

/// A minimal unified diff (no context lines) of two texts, masked on output.
fn unified_diff(name: &str, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let mut out = format!("--- {name}\n+++ {name} (fixed)\n");
    // Edits never add or remove lines except through multi-line values, so
    // a line-by-line walk with resynchronisation on equal lines suffices.
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
            continue;
        }
        let (si, sj) = (i, j);
        while i < a.len() && (j >= b.len() || a[i] != b[j]) && !b[j..].contains(&a[i]) {
            i += 1;
        }
        while j < b.len() && (i >= a.len() || a[i] != b[j]) {
            j += 1;
        }
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            hunk_range(si, i - si),
            hunk_range(sj, j - sj)
        ));
        for l in &a[si..i] {
            out.push('-');
            out.push_str(l.trim_end_matches(['\r', '\n']));
            out.push('\n');
        }
        for l in &b[sj..j] {
            out.push('+');
            out.push_str(l.trim_end_matches(['\r', '\n']));
            out.push('\n');
        }
    }
    out
}

/// A hunk's `start,count` as GNU diff writes it: an empty range names the
/// line after which the change goes, so `patch` applies it in the right place.
/// (GNU diff leaves out a count of 1; `patch` reads both forms.)
fn hunk_range(start: usize, count: usize) -> String {
    match count {
        0 => format!("{start},0"),
        n => format!("{},{n}", start + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_only_changed_lines() {
        let d = unified_diff("f", "A=1\nB=2\nC=3\n", "A=1\nB=9\nC=3\n");
        assert_eq!(d, "--- f\n+++ f (fixed)\n@@ -2,1 +2,1 @@\n-B=2\n+B=9\n");
    }

    #[test]
    fn hunk_headers_match_gnu_diff() {
        // Expected starts are what `diff -U0` (GNU diffutils 3.8) prints
        // (`@@ -0,0 +1 @@`), with the count of 1 written out.
        let d = unified_diff("f", "A=1\n", "B=2\nA=1\n");
        assert!(d.contains("@@ -0,0 +1,1 @@\n+B=2\n"), "{d}");
        let d = unified_diff("f", "A=1\nB=2\n", "A=1\n");
        assert!(d.contains("@@ -2,1 +1,0 @@\n-B=2\n"), "{d}");
        let d = unified_diff("f", "A=1\nC=3\n", "A=1\nB=2\nC=3\n");
        assert!(d.contains("@@ -1,0 +2,1 @@\n+B=2\n"), "{d}");
    }
}
