//! env-fix's repairs, as the troubleshooting page lists them: one file per
//! rule, run in the order of `RULES`, each reporting what it changed as a
//! `Finding`. `repair` applies them to the database URLs of a dotenv
//! document; `tune` applies the parameter rules alone, as `migrate` does to
//! the URL it hands Prisma without touching the file.

mod files;
mod statement_timeout;
mod timeouts;
mod tls;
mod userinfo;
mod warnings;

use crate::dotenv::Document;
use crate::output::Json;
use crate::pgurl::{PgUrl, UrlError};
use crate::secret::Secret;

pub use files::file_warnings;
pub use userinfo::is_placeholder;

/// The variables repaired when `--var` is not given.
pub const DEFAULT_VARS: [&str; 3] = ["DATABASE_URL", "DIRECT_URL", "SHADOW_DATABASE_URL"];

stable_names! {
    /// What a finding is about: a change made, or a warning.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Kind {
        Password = "password",
        Encoding = "encoding",
        Sslmode = "sslmode",
        ConnectTimeout = "connect_timeout",
        PoolTimeout = "pool_timeout",
        StatementTimeout = "statement_timeout",
        Dotenv = "dotenv",
        Skipped = "skipped",
        RdsProxy = "rds_proxy",
        Pooler = "pooler",
        SslmodeVerify = "sslmode_verify",
        AdapterPgSslmode = "adapter_pg_sslmode",
        UnknownParam = "unknown_param",
        HostList = "host_list",
        ShellOverride = "shell_override",
        TrackedByGit = "tracked_by_git",
        Permissions = "permissions",
        LineBreak = "line_break",
        UnreadableLine = "unreadable_line",
        OptionsViaPooler = "options_via_pooler",
    }
}

/// One reported line: a change made or a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub var: String,
    pub kind: Kind,
    pub detail: String,
}

impl Finding {
    fn new(var: &str, kind: Kind, detail: impl Into<String>) -> Finding {
        Finding {
            var: var.to_string(),
            kind,
            detail: detail.into(),
        }
    }
    /// A line of `file` that dotenvy cannot read, left as it is.
    pub fn unreadable_line(file: &str, e: &crate::dotenv::ParseError) -> Finding {
        Finding::new(file, Kind::UnreadableLine, format!("{e}: dotenvy, which db-test and migrate read env files with, cannot read this line, though Node's dotenv (Next.js) may; left as it is"))
    }

    pub fn json(&self) -> Json {
        Json::obj([
            ("var", Json::str(&self.var)),
            ("kind", Json::Lit(self.kind.as_str())),
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
    pub password: Option<Secret>,
    /// Where `password` came from, for the change's line (default: standard input).
    pub password_origin: Option<String>,
    /// The project uses `@prisma/adapter-pg` (node-postgres at runtime).
    pub adapter_pg: bool,
    /// Leave a weak `sslmode` (disable, allow, prefer) on a remote host.
    pub keep_sslmode: bool,
    /// `--sslmode MODE`: this mode on every URL, local hosts included.
    pub sslmode: Option<String>,
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
            password_origin: None,
            adapter_pg: false,
            keep_sslmode: false,
            sslmode: None,
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

/// One rule: looks at one variable's URL, changes it, reports each change.
/// An `Err` stops the whole repair (nothing is written).
type Rule = fn(&str, &mut PgUrl, &Options, &mut Vec<Finding>) -> Result<(), String>;

/// The repairs, in the order they run.
const RULES: &[Rule] = &[
    userinfo::set_password,
    userinfo::refuse_placeholder,
    userinfo::encode,
    tls::require_tls,
    timeouts::raise,
    statement_timeout::into_options,
];

/// The rules that only change parameters: what `tune` applies.
const PARAMETER_RULES: &[Rule] = &[
    tls::require_tls,
    timeouts::raise,
    statement_timeout::into_options,
];

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
    for ((var, idx), as_loaded) in targets.into_iter().zip(as_loaded) {
        let target = UrlVar {
            var: &var,
            idx,
            as_loaded,
            alone: total == 1,
        };
        repair_var(&mut doc, &target, opts, &mut changes, &mut warnings)?;
    }
    check_read_back(&doc, &changes)?;
    Ok(Outcome {
        doc,
        changes,
        warnings,
    })
}

/// One variable to repair: where it stands and how loaders read it.
struct UrlVar<'a> {
    var: &'a str,
    idx: usize,
    as_loaded: String,
    /// The only URL variable in the file.
    alone: bool,
}

fn repair_var(
    doc: &mut Document,
    t: &UrlVar,
    opts: &Options,
    changes: &mut Vec<Finding>,
    warnings: &mut Vec<Finding>,
) -> Result<(), String> {
    let var = t.var;
    let line = doc.line_span(t.idx);
    let Some(literal) = doc.try_literal(t.idx) else {
        return Err(format!("{var} ({line}): a `$` followed by a backslash or quote makes this value read differently by each loader; write it in single quotes, or set the password with --password-stdin"));
    };
    if literal.len() > 1 && literal.starts_with('`') && literal.ends_with('`') {
        return Err(format!("{var} ({line}) is quoted with backticks: Node's dotenv reads them as quotes, but dotenvy (which db-test and migrate use) keeps them as part of the value; quote it with ' or \" instead"));
    }
    // A URL pasted across lines inside quotes: the line break is never part
    // of it (it would become %0A in a database name or be sent raw).
    let written = literal;
    // The indentation a paste leaves around the break goes with it.
    let (literal, broken) = match written.contains(['\n', '\r']) {
        true => {
            let breaks = regex::Regex::new(r"[ \t]*[\r\n]+[ \t]*").expect("line break pattern");
            (breaks.replace_all(&written, "").into_owned(), true)
        }
        false => (written.clone(), false),
    };
    if broken {
        changes.push(Finding::new(var, Kind::LineBreak, format!("removed the line break(s) inside the quoted value ({line}): a URL has none, so it now stands on one line")));
    }
    let reference = regex::Regex::new(r"\$\{[A-Za-z0-9_.]+\}").expect("reference pattern");
    if reference.is_match(&literal) && t.as_loaded != written {
        warnings.push(Finding::new(var, Kind::Skipped, format!("({line}) uses ${{...}} references, which env-fix leaves alone; check the value they produce with `cargo xtask db-test`")));
        return Ok(());
    }
    let mut url = match PgUrl::parse(&literal) {
        Ok(u) => u,
        Err(UrlError::NotPostgres { scheme }) if scheme.starts_with("prisma+") => {
            warnings.push(Finding::new(var, Kind::Skipped, format!("({line}) is a {scheme}:// URL (Prisma Accelerate or Prisma Postgres), not a direct connection; left alone")));
            return Ok(());
        }
        Err(e @ UrlError::NotPostgres { .. }) if !t.alone && var != "DATABASE_URL" => {
            warnings.push(Finding::new(
                var,
                Kind::Skipped,
                format!("({line}) {e}; left alone"),
            ));
            return Ok(());
        }
        Err(e) => return Err(format!("{var} ({line}): {e}")),
    };
    repair_url(var, &mut url, opts, changes, warnings)
        .map_err(|e| format!("{var} ({line}) {e}"))?;
    let rendered = url.render();
    if t.as_loaded != written {
        changes.push(Finding::new(var, Kind::Dotenv, "dotenv loaders read this value differently from what is written ($ substitution or a # comment); now written so every loader reads the same URL"));
    }
    if rendered != written || t.as_loaded != written {
        doc.set_value(t.idx, &rendered);
    }
    Ok(())
}

/// Every rule, then the warnings, on one URL. The error says what is wrong
/// after the variable's name (`has sslmode=...`).
pub fn repair_url(
    var: &str,
    url: &mut PgUrl,
    opts: &Options,
    changes: &mut Vec<Finding>,
    warnings: &mut Vec<Finding>,
) -> Result<(), String> {
    for rule in RULES {
        rule(var, url, opts, changes)?;
    }
    warnings::url_warnings(var, url, opts, warnings);
    Ok(())
}

/// Every rewritten value must read back as written through dotenvy. The
/// values we write are free of `$`, so each entry can be checked alone.
fn check_read_back(doc: &Document, changes: &[Finding]) -> Result<(), String> {
    for c in changes {
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
    Ok(())
}

/// The parameter repairs alone, as `migrate` applies them to the URL it
/// hands Prisma without touching the file.
pub fn tune(var: &str, url: &mut PgUrl) -> Vec<Finding> {
    let mut changes = Vec::new();
    let opts = Options::default();
    for rule in PARAMETER_RULES {
        // An invalid parameter stays as it is: the preflight names it.
        let _ = rule(var, url, &opts, &mut changes);
    }
    changes
}

#[cfg(test)]
mod tests;
