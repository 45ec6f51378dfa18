//! `cargo xtask env-fix`: repairs the database URLs in `.env.local` in place.
//! It percent-encodes the user and password, makes the value safe from
//! dotenv's `$` substitution and `#` comments, adds `sslmode`,
//! `connect_timeout` and `pool_timeout`, and writes `statement_timeout` in the
//! one form all four URL readers honour. Everything else stays byte for byte.
//!
//! The repairs run in the order of `repair`; each is reported as one line.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::dotenv::Document;
use crate::flags::{bad_input, Args};
use crate::output::{self, Json};
use crate::pgurl::{self, PgUrl, UrlError};
use crate::util::{self, Ctx};

pub const HELP: &str = "\
cargo xtask env-fix: repair DATABASE_URL (and DIRECT_URL, SHADOW_DATABASE_URL) in .env.local, in place

Usage: cargo xtask env-fix [options]

Repairs, each reported on one line with the password masked:
  - characters in the user or password that must be percent-encoded (@ # $ & / : % ...)
  - values a dotenv loader would misread ($ substitution, # comments)
  - sslmode=require for hosts that are not local
  - connect_timeout and pool_timeout (added when missing, raised when lower, never lowered)
  - statement_timeout moved into options=-c statement_timeout=MS, the form every reader honours
Warns, without changing anything, about RDS Proxy or pooler hosts, sslmode=verify-*,
@prisma/adapter-pg with sslmode=require, parameters no reader understands, a shell
variable that overrides the file, a file tracked by git or readable by others.

Options:
  --file PATH              the env file (default: .env.local in the project directory)
  --var NAME               a variable to repair (repeatable; default DATABASE_URL, DIRECT_URL, SHADOW_DATABASE_URL)
  --connect-timeout SECS   minimum connect_timeout (default 30)
  --pool-timeout SECS      minimum pool_timeout (default 30)
  --statement-timeout MS   set statement_timeout through options
  --password-stdin         read a new password from standard input (never pass it as an argument)
  --check                  write nothing; exit 1 when something would change
  --dry-run                write nothing; print a unified diff (password masked)
  --no-backup              do not keep a backup (default: FILE.bak.local, which `.env*.local` ignores)
  --json                   {\"file\", \"changed\", \"changes\": [...], \"warnings\": [...]}

Exit codes: 0 done or nothing to do, 1 --check found something to change, 2 bad input
(unreadable file, duplicate or missing variable, invalid URL, placeholder password).

Example:
  cargo xtask env-fix --dry-run
  printf '%s' \"$NEW_PASSWORD\" | cargo xtask env-fix --password-stdin
  $env:NEW_PASSWORD | cargo xtask env-fix --password-stdin        # PowerShell
";

/// The variables repaired when `--var` is not given.
pub const DEFAULT_VARS: [&str; 3] = ["DATABASE_URL", "DIRECT_URL", "SHADOW_DATABASE_URL"];

/// One reported line: a change made or a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub var: String,
    pub kind: &'static str,
    pub detail: String,
}

impl Finding {
    fn new(var: &str, kind: &'static str, detail: impl Into<String>) -> Finding {
        Finding {
            var: var.to_string(),
            kind,
            detail: detail.into(),
        }
    }
    fn json(&self) -> Json {
        Json::obj([
            ("var", Json::str(&self.var)),
            ("kind", Json::Lit(self.kind)),
            ("detail", Json::str(&self.detail)),
        ])
    }
}

/// What env-fix is asked to do, independent of where the text comes from.
#[derive(Debug, Clone)]
pub struct Options {
    pub vars: Vec<String>,
    pub explicit_vars: bool,
    pub connect_timeout: u64,
    pub pool_timeout: u64,
    pub statement_timeout: Option<u64>,
    pub password: Option<String>,
    /// The project uses `@prisma/adapter-pg` (node-postgres at runtime).
    pub adapter_pg: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            vars: DEFAULT_VARS.iter().map(|s| s.to_string()).collect(),
            explicit_vars: false,
            connect_timeout: 30,
            pool_timeout: 30,
            statement_timeout: None,
            password: None,
            adapter_pg: false,
        }
    }
}

/// The outcome of repairing one document.
#[derive(Debug)]
pub struct Outcome {
    pub doc: Document,
    pub changes: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

pub fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<i32> {
    let file = args.value("--file")?.map(PathBuf::from);
    let vars = args.values("--var")?;
    let connect_timeout = args.parsed("--connect-timeout", "seconds")?;
    let pool_timeout = args.parsed("--pool-timeout", "seconds")?;
    let statement_timeout = args.parsed("--statement-timeout", "milliseconds")?;
    let password_stdin = args.flag("--password-stdin");
    let check = args.flag("--check");
    let dry_run = args.flag("--dry-run");
    let no_backup = args.flag("--no-backup");
    let json = args.flag("--json");
    args.finish()?;

    let path = match file {
        Some(f) if f.is_absolute() => f,
        Some(f) => std::env::current_dir()?.join(f),
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
        adapter_pg: uses_adapter_pg(&ctx.project_dir),
        ..Options::default()
    };
    if password_stdin {
        opts.password = Some(read_password_stdin()?);
    }
    let write = if check || dry_run {
        Write::No
    } else if no_backup {
        Write::NoBackup
    } else {
        Write::WithBackup
    };
    let FileOutcome {
        text,
        new_text,
        changed,
        changes,
        warnings,
        backup,
    } = fix_file(ctx, &path, &opts, write)?;
    let shown = path.display().to_string();
    if json {
        output::json(&Json::obj([
            ("file", Json::str(&shown)),
            ("changed", Json::Bool(changed)),
            ("written", Json::Bool(changed && !check && !dry_run)),
            (
                "changes",
                Json::Arr(changes.iter().map(Finding::json).collect()),
            ),
            (
                "warnings",
                Json::Arr(warnings.iter().map(Finding::json).collect()),
            ),
        ]));
    } else {
        let style = output::Style::stdout();
        for c in &changes {
            output::out(format!("{} {}: {}", style.green("fix "), c.var, c.detail));
        }
        for w in &warnings {
            output::out(format!("{} {}: {}", style.yellow("warn"), w.var, w.detail));
        }
        if dry_run && changed {
            output::out(unified_diff(&shown, &text, &new_text));
        }
        output::out(match (changed, check || dry_run) {
            (false, _) => format!("{shown}: nothing to do"),
            (true, true) => format!(
                "{shown}: {} change(s) needed, nothing written",
                changes.len()
            ),
            (true, false) => match &backup {
                Some(b) => format!("{shown}: rewritten (backup: {})", b.display()),
                None => format!("{shown}: rewritten"),
            },
        });
    }
    Ok(if check && changed { 1 } else { 0 })
}

/// Reads a password from standard input (one line, newline removed).
pub fn read_password_stdin() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
        .context("cannot read the password from standard input")?;
    let p = s
        .strip_suffix('\n')
        .map(|p| p.strip_suffix('\r').unwrap_or(p))
        .unwrap_or(&s)
        .to_string();
    if p.is_empty() {
        return Err(bad_input("--password-stdin: standard input was empty; pipe the password in, e.g. printf '%s' \"$PW\" | cargo xtask env-fix --password-stdin"));
    }
    output::register_secret(&p);
    Ok(p)
}

/// Whether and how `fix_file` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    No,
    NoBackup,
    WithBackup,
}

/// What `fix_file` did to one file.
pub struct FileOutcome {
    pub text: String,
    pub new_text: String,
    pub changed: bool,
    pub changes: Vec<Finding>,
    pub warnings: Vec<Finding>,
    pub backup: Option<PathBuf>,
}

/// Repairs one file: parse (or fail naming the line), repair, and write
/// atomically with a backup. Nothing is written on any error.
pub fn fix_file(
    ctx: &Ctx,
    path: &Path,
    opts: &Options,
    write: Write,
) -> anyhow::Result<FileOutcome> {
    let text = read_env_file(ctx, path, &opts.vars[0])?;
    let doc = Document::parse(&text)
        .map_err(|e| bad_input(format!("{}: {e}. Nothing was written.", path.display())))?;
    let mut outcome = repair(doc, opts)
        .map_err(|e| bad_input(format!("{}: {e}. Nothing was written.", path.display())))?;
    outcome
        .warnings
        .extend(file_warnings(path, &outcome.doc, opts));
    let new_text = outcome.doc.render();
    let changed = new_text != text;
    let mut backup = None;
    if changed && write != Write::No {
        if write == Write::WithBackup {
            let b = backup_path(path);
            // Written atomically too: a full disk must not leave half a
            // backup behind, nor replace a good older one with it.
            util::atomic_write_as(&b, text.as_bytes(), path).with_context(|| {
                format!(
                    "cannot write the backup {}; nothing was written",
                    b.display()
                )
            })?;
            backup = Some(b);
        }
        util::atomic_write(path, new_text.as_bytes()).with_context(|| {
            format!(
                "{}: not rewritten, the original is unchanged",
                path.display()
            )
        })?;
    }
    Ok(FileOutcome {
        text,
        new_text,
        changed,
        changes: outcome.changes,
        warnings: outcome.warnings,
        backup,
    })
}

/// Reads the env file, or explains which files do define the variable.
pub fn read_env_file(ctx: &Ctx, path: &Path, var: &str) -> anyhow::Result<String> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            bad_input(format!(
                "{}: not UTF-8 text; save it as UTF-8. Nothing was written.",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let defining = files_defining(&ctx.project_dir, var);
            let hint = if defining.is_empty() {
                format!("no env file in {} defines {var}; create .env.local with {var}=postgresql://USER:PASSWORD@HOST:5432/DATABASE, or run `cargo xtask dev-db up --write-env` for a local database", ctx.project_dir.display())
            } else {
                format!("{var} is defined in: {} (use --file)", defining.join(", "))
            };
            Err(bad_input(format!(
                "{}: no such file. {hint}",
                path.display()
            )))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Env files in `dir` that define `var`.
pub fn files_defining(dir: &Path, var: &str) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".env") && !n.ends_with(".bak.local"))
        .filter(|n| {
            fs::read_to_string(dir.join(n))
                .ok()
                .and_then(|t| Document::parse(&t).ok())
                .map(|d| !d.find(var).is_empty())
                .unwrap_or(false)
        })
        .collect();
    names.sort();
    names
}

fn uses_adapter_pg(project: &Path) -> bool {
    fs::read_to_string(project.join("package.json"))
        .map(|t| t.contains("\"@prisma/adapter-pg\""))
        .unwrap_or(false)
}

/// `.env.local` → `.env.local.bak.local`: still matched by the `.env*.local`
/// pattern of the Next.js `.gitignore`, unlike `.env.local.bak`.
pub fn backup_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let backup = if name.starts_with(".env") {
        format!("{name}.bak.local")
    } else {
        format!(".env.{name}.bak.local")
    };
    path.with_file_name(backup)
}

/// Whether a password is a template's placeholder rather than a password.
pub fn is_placeholder(password: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(
        r"(?i)^(\[[^\]]*\]|<[^>]*>|\{[^}]*\}|your[-_ ]?(db[-_ ]?|database[-_ ]?)?pass(word)?.*|password|pass|changeme|change[-_]me|secret|placeholder|\*+|x{3,}|\.\.\.+)$",
    )
    .expect("placeholder pattern"));
    re.is_match(password.trim())
}

/// Applies every repair to the target variables of `doc`.
pub fn repair(mut doc: Document, opts: &Options) -> Result<Outcome, String> {
    let mut changes = Vec::new();
    let mut warnings = Vec::new();
    let mut targets: Vec<(String, usize)> = Vec::new();
    for var in &opts.vars {
        match doc.find_one(var)? {
            None if opts.explicit_vars || var == "DATABASE_URL" => {
                return Err(format!("{var} is not defined in this file"));
            }
            None => {}
            Some(one) => targets.push((var.clone(), one)),
        }
    }
    let total = targets.len();
    // Values as loaders read them, from the file before any edit.
    let as_loaded: Vec<String> = targets
        .iter()
        .map(|(_, idx)| doc.loaded_value(*idx))
        .collect();
    let reference = regex::Regex::new(r"\$\{[A-Za-z0-9_.]+\}").expect("reference pattern");
    for ((var, idx), as_loaded) in targets.into_iter().zip(as_loaded) {
        let line = doc.line_span(idx);
        let Some(literal) = doc.try_literal(idx) else {
            return Err(format!("{var} ({line}): a `$` followed by a backslash or quote makes this value read differently by each loader; write it in single quotes, or set the password with --password-stdin"));
        };
        if reference.is_match(&literal) && as_loaded != literal {
            warnings.push(Finding::new(&var, "skipped", format!("({line}) uses ${{...}} references, which env-fix leaves alone; check the value they produce with `cargo xtask db-test`")));
            continue;
        }
        let mut url = match PgUrl::parse(&literal) {
            Ok(u) => u,
            Err(UrlError::NotPostgres { scheme }) if scheme.starts_with("prisma+") => {
                warnings.push(Finding::new(&var, "skipped", format!("({line}) is a {scheme}:// URL (Prisma Accelerate or Prisma Postgres), not a direct connection; left alone")));
                continue;
            }
            Err(e @ UrlError::NotPostgres { .. }) if total > 1 && var != "DATABASE_URL" => {
                warnings.push(Finding::new(
                    &var,
                    "skipped",
                    format!("({line}) {e}; left alone"),
                ));
                continue;
            }
            Err(e) => return Err(format!("{var} ({line}): {e}")),
        };
        if let Some(p) = &opts.password {
            url.set_password(p);
            changes.push(Finding::new(
                &var,
                "password",
                "password set from standard input",
            ));
        }
        if let Some(p) = url.password() {
            if is_placeholder(p) {
                return Err(format!(
                    "{var} ({line}) has a placeholder instead of a password: set the real one with `printf '%s' \"$PASSWORD\" | cargo xtask env-fix --password-stdin`"
                ));
            }
        }
        if opts.password.is_none() {
            for (part, _) in url.unencoded_userinfo() {
                changes.push(Finding::new(&var, "encoding", format!("percent-encoded the {part}: it had characters a URL must not carry bare (such as @ # $ & / : % or a space)")));
            }
        }
        repair_params(&var, &mut url, opts, &mut changes);
        url_warnings(&var, &url, opts, &mut warnings);
        let rendered = url.render();
        if as_loaded != literal {
            changes.push(Finding::new(&var, "dotenv", "dotenv loaders read this value differently from what is written ($ substitution or a # comment); now written so every loader reads the same URL"));
        }
        if rendered != literal || as_loaded != literal {
            doc.set_value(idx, &rendered);
        }
    }
    // The value must read back as written through every loader.
    // Every rewritten value must read back as written through dotenvy. The
    // values we write are free of `$`, so each entry can be checked alone.
    for c in &changes {
        if let Some(idx) = doc.find(&c.var).first() {
            let alone = Document::parse(&doc.entries[*idx].raw)
                .map_err(|e| format!("internal error: the repaired line does not parse ({e})"))?;
            if alone.try_literal(0) != Some(alone.loaded_value(0)) {
                return Err(format!(
                    "internal error: {} would not read back as written",
                    c.var
                ));
            }
        }
    }
    Ok(Outcome {
        doc,
        changes,
        warnings,
    })
}

/// The parameter repairs alone, as `migrate` applies them to the URL it
/// hands Prisma without touching the file.
pub fn tune(var: &str, url: &mut PgUrl) -> Vec<Finding> {
    let mut changes = Vec::new();
    repair_params(var, url, &Options::default(), &mut changes);
    changes
}

fn repair_params(var: &str, url: &mut PgUrl, opts: &Options, changes: &mut Vec<Finding>) {
    if !url.is_local() && url.param("sslmode").is_none() {
        url.set_param("sslmode", "require");
        changes.push(Finding::new(var, "sslmode", format!("added sslmode=require: {} is not a local host, so the connection must be encrypted (RDS refuses plain connections)", url.host())));
    }
    for (key, min) in [
        ("connect_timeout", opts.connect_timeout),
        ("pool_timeout", opts.pool_timeout),
    ] {
        match url.param(key).map(|v| v.parse::<u64>()) {
            None => {
                url.set_param(key, &min.to_string());
                changes.push(Finding::new(var, key, format!("added {key}={min}")));
            }
            // 0 means "no limit" to Prisma and libpq: never lower than any minimum.
            Some(Ok(0)) => {}
            Some(Ok(v)) if v < min => {
                url.set_param(key, &min.to_string());
                changes.push(Finding::new(
                    var,
                    key,
                    format!("raised {key} from {v} to {min}"),
                ));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) => {
                let old = url.param(key).unwrap_or_default().to_string();
                url.set_param(key, &min.to_string());
                changes.push(Finding::new(
                    var,
                    key,
                    format!("replaced {key}={old} (not a number) with {min}"),
                ));
            }
        }
    }
    if let Some(ms) = url.move_statement_timeout_into_options() {
        changes.push(Finding::new(var, "statement_timeout", format!("moved statement_timeout={ms} into options=-c statement_timeout={ms}: Prisma drops the bare parameter and libpq rejects it")));
    }
    if let Some(ms) = opts.statement_timeout {
        if url.options_statement_timeout() != Some(ms) {
            url.set_option_setting("statement_timeout", &ms.to_string());
            changes.push(Finding::new(
                var,
                "statement_timeout",
                format!("set options=-c statement_timeout={ms}"),
            ));
        }
    }
}

fn url_warnings(var: &str, url: &PgUrl, opts: &Options, warnings: &mut Vec<Finding>) {
    let host = url.host();
    if host.contains(".proxy-") {
        warnings.push(Finding::new(var, "rds_proxy", format!("{host} is an RDS Proxy endpoint: it pins sessions that take advisory locks and can cut migrations (P1017/P1002); point migrations at the instance endpoint (DIRECT_URL or datasource.url in prisma.config.ts)")));
    }
    if url.param("pgbouncer") == Some("true") || url.port() == 6543 {
        warnings.push(Finding::new(var, "pooler", format!("{host}:{} looks like a connection pooler (pgbouncer=true or port 6543): migrations need a direct connection on 5432", url.port())));
    }
    if let Some(mode @ ("verify-ca" | "verify-full")) = url.param("sslmode") {
        warnings.push(Finding::new(var, "sslmode_verify", format!("sslmode={mode} is not understood by Prisma Migrate, which falls back to `prefer` (and ignores sslrootcert); it verifies nothing there. Keep it for node-postgres, or use sslmode=require for migrations")));
    }
    if opts.adapter_pg
        && url.param("sslmode") == Some("require")
        && url.param("uselibpqcompat").is_none()
        && !url.is_local()
    {
        warnings.push(Finding::new(var, "adapter_pg_sslmode", "the app uses @prisma/adapter-pg: node-postgres treats sslmode=require as verify-full, which fails against RDS's Amazon CA; trust it (sslrootcert=global-bundle.pem or NODE_EXTRA_CA_CERTS) or add uselibpqcompat=true"));
    }
    for p in url.params() {
        if !pgurl::known_to_any(&p.key) {
            warnings.push(Finding::new(var, "unknown_param", format!("parameter `{}` is understood by none of Prisma, node-postgres, libpq and the postgres crate: check its spelling", p.key)));
        }
    }
}

/// Warnings about the file itself and its surroundings.
fn file_warnings(path: &Path, doc: &Document, opts: &Options) -> Vec<Finding> {
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
                w.push(Finding::new(var, "shell_override", format!("{var} is also set in your shell with a different value, and the shell wins over {name}: `unset {var}` (PowerShell: `Remove-Item Env:{var}`)")));
            }
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    // Asking git costs a process start: only inside a work tree.
    let in_repo = dir.ancestors().any(|d| d.join(".git").exists());
    let tracked = in_repo
        && std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["ls-files", "--error-unmatch", "--"])
            .arg(&name)
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if tracked {
        w.push(Finding::new(&name, "tracked_by_git", format!("{name} is tracked by git and holds a password: `git rm --cached {name}` and add `.env*.local` to .gitignore")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = fs::metadata(path) {
            if m.permissions().mode() & 0o044 != 0 {
                w.push(Finding::new(
                    &name,
                    "permissions",
                    format!("{name} is readable by other users: `chmod 600 {name}`"),
                ));
            }
        }
    }
    w
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
            "@@ -{},{} +{},{} @@\n",
            si + 1,
            i - si,
            sj + 1,
            j - sj
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fix(text: &str, opts: &Options) -> Result<(String, Vec<Finding>, Vec<Finding>), String> {
        let o = repair(Document::parse(text).unwrap(), opts)?;
        Ok((o.doc.render(), o.changes, o.warnings))
    }

    fn kinds(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.kind).collect()
    }

    const RDS: &str = "db.abc123.eu-west-1.rds.amazonaws.com";

    #[test]
    fn repair_rules_table() {
        let o = Options::default();
        let cases: &[(&str, &str, &[&str])] = &[
            // (value before, value after, change kinds)
            ("postgresql://app:p@ss#1$x@localhost:5432/db?connect_timeout=30&pool_timeout=30",
             "postgresql://app:p%40ss%231%24x@localhost:5432/db?connect_timeout=30&pool_timeout=30",
             &["encoding"]),
            ("postgresql://app:pw@RDS/db",
             "postgresql://app:pw@RDS/db?sslmode=require&connect_timeout=30&pool_timeout=30",
             &["sslmode", "connect_timeout", "pool_timeout"]),
            ("postgresql://app:pw@RDS/db?sslmode=disable&connect_timeout=5&pool_timeout=60",
             "postgresql://app:pw@RDS/db?sslmode=disable&connect_timeout=30&pool_timeout=60",
             &["connect_timeout"]),
            ("postgresql://app:pw@localhost/db?connect_timeout=0&pool_timeout=abc",
             "postgresql://app:pw@localhost/db?connect_timeout=0&pool_timeout=30",
             &["pool_timeout"]),
            ("postgresql://app:pw@localhost/db?statement_timeout=5000&connect_timeout=30&pool_timeout=30",
             "postgresql://app:pw@localhost/db?connect_timeout=30&pool_timeout=30&options=-c%20statement_timeout%3D5000",
             &["statement_timeout"]),
            ("postgresql://app:p%40ss@localhost/db?connect_timeout=31&pool_timeout=99",
             "postgresql://app:p%40ss@localhost/db?connect_timeout=31&pool_timeout=99",
             &[]),
        ];
        for (before, after, expected) in cases {
            let before = before.replace("RDS", RDS);
            let after = after.replace("RDS", RDS);
            let (text, changes, _) = fix(&format!("DATABASE_URL='{before}'\n"), &o).unwrap();
            assert_eq!(text, format!("DATABASE_URL='{after}'\n"), "{before}");
            assert_eq!(kinds(&changes), *expected, "{before}");
        }
    }

    #[test]
    fn dollar_eaten_by_dotenv_is_repaired() {
        let (text, changes, _) = fix(
            "DATABASE_URL=postgresql://u:pa$word@localhost/db?connect_timeout=30&pool_timeout=30\n",
            &Options::default(),
        )
        .unwrap();
        assert_eq!(text, "DATABASE_URL=postgresql://u:pa%24word@localhost/db?connect_timeout=30&pool_timeout=30\n");
        assert!(kinds(&changes).contains(&"dotenv"));
    }

    #[test]
    fn statement_timeout_option_and_flag() {
        let o = Options {
            statement_timeout: Some(15000),
            ..Options::default()
        };
        let (text, changes, _) = fix("DATABASE_URL=postgresql://u:p@localhost/db?options=-c%20search_path%3Dapp&connect_timeout=30&pool_timeout=30\n", &o).unwrap();
        assert!(
            text.contains("options=-c%20search_path%3Dapp%20-c%20statement_timeout%3D15000&"),
            "{text}"
        );
        assert_eq!(kinds(&changes), ["statement_timeout"]);
        let (again, changes, _) = fix(&text, &o).unwrap();
        assert_eq!(again, text);
        assert!(changes.is_empty());
    }

    #[test]
    fn warnings_leave_the_value_alone() {
        let o = Options {
            adapter_pg: true,
            ..Options::default()
        };
        let url = "postgresql://u:p@x.proxy-abc.eu-west-1.rds.amazonaws.com:6543/db?sslmode=require&connect_timeout=30&pool_timeout=30&pgbouncer=true&frobnicate=1";
        let (_, _, warnings) = fix(&format!("DATABASE_URL={url}\n"), &o).unwrap();
        assert_eq!(
            kinds(&warnings),
            ["rds_proxy", "pooler", "adapter_pg_sslmode", "unknown_param"]
        );
        let (_, _, warnings) = fix("DATABASE_URL=postgresql://u:p@h/db?sslmode=verify-full&connect_timeout=30&pool_timeout=30\n", &o).unwrap();
        assert_eq!(kinds(&warnings), ["sslmode_verify"]);
    }

    #[test]
    fn errors_write_nothing_and_never_show_the_password() {
        let o = Options::default();
        for (text, needle) in [
            (
                "DATABASE_URL=postgresql://u:[YOUR-PASSWORD]@h/db\n",
                "placeholder",
            ),
            (
                "DATABASE_URL=postgresql://u:YourPassword123@h/db\n",
                "placeholder",
            ),
            (
                "DATABASE_URL=postgresql://u:<password>@h/db\n",
                "placeholder",
            ),
            ("DATABASE_URL=a\nX=1\nDATABASE_URL=b\n", "line 1, line 3"),
            (
                "DATABASE_URL=mysql://u:hunter2@h/db\n",
                "not a PostgreSQL URL",
            ),
            (
                "DATABASE_URL=postgresql://u:hunter2@h:99999/db\n",
                "not a number",
            ),
            ("OTHER=1\n", "not defined"),
        ] {
            let err = fix(text, &o).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        let e = fix("DATABASE_URL=a\nX=1\nDATABASE_URL=b\n", &o).unwrap_err();
        assert!(e.contains("line 1, line 3"), "{e}");
    }

    #[test]
    fn skipped_values_are_noted() {
        let o = Options::default();
        let (text, changes, warnings) = fix("DATABASE_URL=postgresql://u:p@localhost/db?connect_timeout=30&pool_timeout=30\nDIRECT_URL=prisma+postgres://accelerate.prisma-data.net/?api_key=k\nSHADOW_DATABASE_URL=\"postgresql://${U}:${P}@h/db\"\n", &o).unwrap();
        assert!(changes.is_empty());
        assert_eq!(kinds(&warnings), ["skipped", "skipped"]);
        assert!(text.contains("prisma+postgres://accelerate"));
    }

    #[test]
    fn password_from_stdin_is_set_encoded() {
        let o = Options {
            password: Some("n3w@p#ss$&/:%".into()),
            ..Options::default()
        };
        let (text, changes, _) = fix(
            "DATABASE_URL=\"postgresql://u:[PASSWORD]@localhost/db\"\n",
            &o,
        )
        .unwrap();
        assert_eq!(text, "DATABASE_URL=\"postgresql://u:n3w%40p%23ss%24%26%2F%3A%25@localhost/db?connect_timeout=30&pool_timeout=30\"\n");
        assert_eq!(
            kinds(&changes),
            ["password", "connect_timeout", "pool_timeout"]
        );
    }

    #[test]
    fn placeholder_patterns() {
        for p in [
            "[PASSWORD]",
            "<password>",
            "YOUR_PASSWORD",
            "YourPassword123",
            "your-db-password",
            "changeme",
            "****",
            "{password}",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        for p in [
            "hunter2",
            "p@ss#word",
            "Xk9$&/:%!",
            "passwordless-but-real-9f8e",
        ] {
            assert!(!is_placeholder(p), "{p}");
        }
    }

    #[test]
    fn backup_name_is_ignored_by_the_nextjs_pattern() {
        assert_eq!(
            backup_path(Path::new("/p/.env.local")),
            Path::new("/p/.env.local.bak.local")
        );
        assert_eq!(
            backup_path(Path::new("/p/settings.env")),
            Path::new("/p/.env.settings.env.bak.local")
        );
    }

    #[test]
    fn diff_shows_only_changed_lines() {
        let d = unified_diff("f", "A=1\nB=2\nC=3\n", "A=1\nB=9\nC=3\n");
        assert_eq!(d, "--- f\n+++ f (fixed)\n@@ -2,1 +2,1 @@\n-B=2\n+B=9\n");
    }
}

#[cfg(test)]
mod properties {
    //! Generated files and passwords: what env-fix must never break.
    use super::*;
    use crate::dotenv::tests_support::dotenvy_reads;
    use proptest::prelude::*;

    fn eol() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("\n"), Just("\r\n")]
    }

    /// Lines other than the URL: comments, blanks, variables in every style.
    fn other_line() -> impl Strategy<Value = String> {
        let key = "K_[a-z]{1,6}";
        prop_oneof![
            "# [ -~]{0,20}".prop_map(|s| s),
            Just(String::new()),
            Just("   ".to_string()),
            (key, "[A-Za-z0-9_./:@-]{0,12}", any::<bool>()).prop_map(|(k, v, export)| format!(
                "{}{k}={v}",
                if export { "export " } else { "" }
            )),
            (
                key,
                "[ -&(-\\[\\]-~]{0,12}",
                "[ -&(-\\[\\]-~]{0,6}",
                any::<bool>()
            )
                .prop_map(|(k, a, b, multi)| {
                    if multi {
                        format!("{k}='{a}\n{b}'")
                    } else {
                        format!("{k}='{a}'")
                    }
                }),
            (key, "[ -~]{0,12}", any::<bool>()).prop_map(|(k, v, comment)| {
                let escaped = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('$', "\\$");
                format!("{k}=\"{escaped}\"{}", if comment { " # note" } else { "" })
            }),
        ]
    }

    fn url_line() -> impl Strategy<Value = (String, String)> {
        // Every printable ASCII character, and some that are not ASCII.
        let password = "[!-~éß中😀]{1,16}";
        (password, 0..3usize, any::<bool>()).prop_filter_map(
            "representable",
            |(pw, style, export)| {
                let url = format!("postgresql://app:{pw}@db.example.com:5432/summitly");
                let value = match style {
                    0 if !pw.contains(['\'', '"', '\\']) => url.clone(),
                    1 if !pw.contains(['\'', '\\']) => format!("'{url}'"),
                    2 => format!("\"{}\"", url.replace('\\', "\\\\").replace('"', "\\\"")),
                    _ => return None,
                };
                Some((
                    format!(
                        "{}DATABASE_URL={value}",
                        if export { "export " } else { "" }
                    ),
                    url,
                ))
            },
        )
    }

    fn file() -> impl Strategy<Value = (String, String)> {
        (
            proptest::collection::vec((other_line(), eol()), 0..8),
            url_line(),
            0..8usize,
            eol(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(others, (line, url), at, url_eol, bom, final_newline)| {
                let mut lines: Vec<(String, &str)> = others;
                let at = at.min(lines.len());
                lines.insert(at, (line, url_eol));
                let mut text = String::from(if bom { "\u{feff}" } else { "" });
                let n = lines.len();
                for (i, (l, e)) in lines.into_iter().enumerate() {
                    text.push_str(&l);
                    if i + 1 < n || final_newline {
                        text.push_str(e);
                    }
                }
                (text, url)
            })
    }

    fn others(reads: &[(String, String)]) -> Vec<(String, String)> {
        reads
            .iter()
            .filter(|(k, _)| k != "DATABASE_URL")
            .cloned()
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// Any text at all: our reader accepts exactly what dotenvy accepts,
        /// reads the same values, renders back the same bytes, and env-fix
        /// never panics on it.
        #[test]
        fn any_text_parses_like_dotenvy_and_never_panics(text in "(\u{feff})?[ -~\t\r\néü中'\"#$\\=]{0,240}") {
            let ours = Document::parse(&text);
            let theirs = dotenvy_reads(&text);
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}", text);
            if let (Ok(doc), Ok(theirs)) = (ours, theirs) {
                prop_assert_eq!(doc.render(), text.clone());
                let values: Vec<(String, String)> = doc.loaded().into_iter().map(|(k, v, _)| (k, v)).collect();
                prop_assert_eq!(values, theirs);
                let _ = repair(doc, &Options::default());
            }
        }

        #[test]
        fn env_fix_keeps_everything_else_and_the_url_meaning((text, intended) in file()) {
            let before = dotenvy_reads(&text);
            let doc = Document::parse(&text);
            // Our reader accepts exactly what dotenvy accepts, and reads the same.
            prop_assert_eq!(doc.is_ok(), before.is_ok(), "{:?}", text);
            let Ok(doc) = doc else { return Ok(()) };
            let before = before.unwrap();
            prop_assert_eq!(doc.render(), text.clone());
            let ours: Vec<(String, String)> = doc.loaded().into_iter().map(|(k, v, _)| (k, v)).collect();
            prop_assert_eq!(&ours, &before);
            // Computing one value on demand agrees with loading them all.
            let vars: Vec<usize> = (0..doc.entries.len()).filter(|i| doc.entries[*i].var.is_some()).collect();
            for (n, i) in vars.iter().enumerate() {
                prop_assert_eq!(&doc.loaded_value(*i), &ours[n].1);
            }

            let Ok(want) = PgUrl::parse(&intended) else { return Ok(()) };
            prop_assume!(!is_placeholder(want.password().unwrap_or("")));
            let opts = Options::default();
            let out = repair(doc, &opts).map_err(TestCaseError::fail)?;
            // `${NAME}` references are left alone on purpose.
            prop_assume!(!out.warnings.iter().any(|w| w.kind == "skipped"));
            let fixed = out.doc.render();
            let after = dotenvy_reads(&fixed).map_err(|e| TestCaseError::fail(format!("{e}: {fixed:?}")))?;
            prop_assert_eq!(others(&after), others(&before));
            let url = after.iter().find(|(k, _)| k == "DATABASE_URL").map(|(_, v)| v.clone()).unwrap();
            let got = PgUrl::parse(&url).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(got.user(), want.user());
            prop_assert_eq!(got.password(), want.password());
            prop_assert_eq!(got.host(), want.host());
            prop_assert_eq!(got.port(), want.port());
            prop_assert_eq!(got.database(), want.database());
            // Node's dotenv cuts unquoted values at any `#`; nothing may be left for it to cut.
            prop_assert!(!url.contains(['#', '$', ' ', '"', '\'', '\\']), "{}", url);

            let again = repair(Document::parse(&fixed).unwrap(), &opts).map_err(TestCaseError::fail)?;
            prop_assert!(again.changes.is_empty(), "{:?}", again.changes);
            prop_assert_eq!(again.doc.render(), fixed);
        }
    }
}
