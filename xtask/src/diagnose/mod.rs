//! The diagnosis engine behind `db-test` and migrate's preflight: what
//! `psql -c "SELECT version()"` and the troubleshooting page's manual checks
//! do, layer by layer. The first failing layer becomes the verdict, with a
//! stable code and the fix. Every network step is bounded in time. One
//! connection carries the whole verdict (dns, tcp, tls and auth are its
//! stages), and every read after authentication goes in one round trip
//! (`batch`). One file per layer, in the order they run.

mod auth;
mod batch;
mod connect;
mod dns;
mod idle;
mod migrations;
mod pooler;
mod server;
mod tcp;
mod tls;
mod url;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::conn::Session;
use crate::conn::Target;
use crate::envload::Found;
use crate::output;
use crate::pgurl::PgUrl;

stable_names! {
    /// The layers, in the order they are checked.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    pub enum Layer {
        Url = "url",
        Dns = "dns",
        Tcp = "tcp",
        Tls = "tls",
        Auth = "auth",
        Query = "query",
        Pooler = "pooler",
        Server = "server",
        Migrations = "migrations",
        Idle = "idle",
    }
}

stable_names! {
    /// The verdict's stable codes, as the README lists them.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Code {
        Ok = "ok",
        UrlMissing = "url_missing",
        UrlInvalid = "url_invalid",
        PasswordPlaceholder = "password_placeholder",
        DnsFailed = "dns_failed",
        TcpRefused = "tcp_refused",
        TcpTimeout = "tcp_timeout",
        StartupTimeout = "startup_timeout",
        TlsRequired = "tls_required",
        TlsUnavailable = "tls_unavailable",
        TlsFailed = "tls_failed",
        ServerClosed = "server_closed",
        AuthFailed = "auth_failed",
        DatabaseMissing = "database_missing",
        TooManyConnections = "too_many_connections",
        IdleClosed = "idle_closed",
        MigrationFailed = "migration_failed",
        StartupParamRefused = "startup_param_refused",
        PoolerTransaction = "pooler_transaction",
        MigrationRoleLacks = "migration_role_lacks",
        TcpUnreachable = "tcp_unreachable",
    }
}

impl Code {
    /// Bad input rather than a failed check: the same exit code (2) as any
    /// other unusable input.
    pub fn is_bad_input(self) -> bool {
        matches!(
            self,
            Code::UrlMissing | Code::UrlInvalid | Code::PasswordPlaceholder
        )
    }
}

pub use crate::checklist::Status;
pub use server::{limits, show_ms, Limit, Setting, TIMEOUTS_SQL};

#[derive(Debug, Clone)]
pub struct Check {
    pub layer: Layer,
    pub status: Status,
    pub ms: u64,
    pub detail: String,
    pub hint: Option<String>,
    /// The diagnosis code when this check failed.
    pub code: Option<Code>,
}

impl Check {
    /// This check as a checklist line.
    pub fn line(&self) -> crate::checklist::Line<'_> {
        crate::checklist::Line {
            name: self.layer.as_str(),
            status: self.status,
            code: self.code.map(Code::as_str),
            ms: self.ms,
            detail: &self.detail,
            hint: self.hint.as_deref(),
        }
    }
}

/// The verdict for one URL: the first failing layer, or `ok`.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub code: Code,
    pub layer: Option<Layer>,
    pub hint: String,
}

/// Everything the checks found about one variable.
pub struct Report {
    pub var: String,
    pub source: String,
    pub url: Option<PgUrl>,
    pub checks: Vec<Check>,
    pub diagnosis: Diagnosis,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.diagnosis.code == Code::Ok
    }
    /// Bad input rather than a failed check (exit 2).
    pub fn bad_input(&self) -> bool {
        self.diagnosis.code.is_bad_input()
    }
    /// The check that failed, if one did.
    pub fn failed_check(&self) -> Option<&Check> {
        self.checks.iter().find(|c| c.status == Status::Fail)
    }
    /// The checks that warned, as `layer: hint` lines.
    pub fn warnings(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Warn)
            .filter_map(|c| {
                c.hint
                    .as_ref()
                    .map(|h| format!("{}: {h}", c.layer.as_str()))
            })
            .collect()
    }
}

/// The shadow database, as the checks should judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shadow {
    /// `migrate dev` creates one: the role needs CREATEDB.
    Created,
    /// A shadowDatabaseUrl (SHADOW_DATABASE_URL) names one.
    Configured,
    /// `migrate deploy` uses none.
    Unused,
}

impl Settings {
    /// Every layer, as the URL Prisma Migrate uses, with the URL's own
    /// bound and no progress line: onboard's db-test step and the report.
    pub fn for_migrate_url(project_dir: PathBuf, shadow: Shadow) -> Settings {
        Settings {
            timeout: None,
            idle_probe: None,
            upto: Layer::Migrations,
            project_dir,
            migrates: true,
            shadow,
            progress: false,
        }
    }
}

impl Shadow {
    /// Created, unless a shadow URL is configured.
    pub fn for_dev(configured: bool) -> Shadow {
        if configured {
            Shadow::Configured
        } else {
            Shadow::Created
        }
    }
}

/// How far and how hard to check.
#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Option<Duration>,
    pub idle_probe: Option<Duration>,
    /// The last layer to run (`Query` for a preflight, `Server`, `Migrations`).
    pub upto: Layer,
    pub project_dir: PathBuf,
    /// This is the URL Prisma Migrate connects with (prisma.config.ts's
    /// `datasource.url`): a transaction pooler fails it.
    pub migrates: bool,
    /// What `migrate dev`'s shadow database needs of this role.
    pub shadow: Shadow,
    /// Say on stderr how long the network steps may wait (at a terminal:
    /// a silent server otherwise looks like a hang).
    pub progress: bool,
}

/// Runs the checks for one variable, reporting each as it completes.
pub fn diagnose(
    var: &str,
    found: Option<&Found>,
    s: &Settings,
    on_check: &dyn Fn(&Check),
) -> Report {
    diagnose_keeping(var, found, s, on_check).0
}

/// The same, keeping the session when every check passed, for a caller
/// with more to ask (migrate) so it need not connect again.
pub fn diagnose_keeping(
    var: &str,
    found: Option<&Found>,
    s: &Settings,
    on_check: &dyn Fn(&Check),
) -> (Report, Option<Session>) {
    let mut run = Runner {
        checks: Vec::new(),
        on_check,
    };
    let source = found
        .map(|f| f.source.clone())
        .unwrap_or_else(|| "-".into());
    let url = run.step(Layer::Url, || url::check(var, found, s));
    let session = match &url {
        Some((url, target)) => run.network(url, target, s),
        None => None,
    };
    // Layers after a failure are reported as skipped, so the list is complete.
    let last = if s.idle_probe.is_some() {
        Layer::Idle
    } else {
        s.upto
    };
    for layer in Layer::ALL.iter().copied().filter(|l| *l <= last) {
        if !run.checks.iter().any(|c| c.layer == layer) {
            run.push(Check {
                layer,
                status: Status::Skip,
                ms: 0,
                detail: "not run: an earlier layer failed".into(),
                hint: None,
                code: None,
            });
        }
    }
    let diagnosis = match run.checks.iter().find(|c| c.status == Status::Fail) {
        Some(fail) => Diagnosis {
            code: fail.code.unwrap_or(Code::ServerClosed),
            layer: Some(fail.layer),
            hint: fail.hint.clone().unwrap_or_default(),
        },
        None => Diagnosis {
            code: Code::Ok,
            layer: None,
            hint: String::new(),
        },
    };
    let report = Report {
        var: var.to_string(),
        source,
        url: url.map(|(u, _)| u),
        checks: run.checks,
        diagnosis,
    };
    (report, session)
}

struct Runner<'a> {
    checks: Vec<Check>,
    on_check: &'a dyn Fn(&Check),
}

/// A check's result before it is timed.
struct Outcome {
    status: Status,
    detail: String,
    hint: Option<String>,
    code: Option<Code>,
}

fn pass(detail: impl Into<String>) -> Outcome {
    Outcome {
        status: Status::Pass,
        detail: detail.into(),
        hint: None,
        code: None,
    }
}
fn warn(detail: impl Into<String>, hint: impl Into<String>) -> Outcome {
    Outcome {
        status: Status::Warn,
        detail: detail.into(),
        hint: Some(hint.into()),
        code: None,
    }
}
fn fail(code: Code, detail: impl Into<String>, hint: impl Into<String>) -> Outcome {
    Outcome {
        status: Status::Fail,
        detail: detail.into(),
        hint: Some(hint.into()),
        code: Some(code),
    }
}
fn skip(detail: impl Into<String>) -> Outcome {
    Outcome {
        status: Status::Skip,
        detail: detail.into(),
        hint: None,
        code: None,
    }
}

/// The hint for every way a session ends early: the causes of Prisma's P1017.
fn closed_hint() -> String {
    "the server or something in between ended the session: TLS required but not used, a pooler or proxy, the server restarting, or a connection limit; this is Prisma's P1017".into()
}

impl Runner<'_> {
    fn push(&mut self, c: Check) {
        (self.on_check)(&c);
        self.checks.push(c);
    }

    /// Times `f` and records its outcome; the value only when the layer did
    /// not fail.
    fn step<T>(&mut self, layer: Layer, f: impl FnOnce() -> (Outcome, Option<T>)) -> Option<T> {
        let start = Instant::now();
        let (o, value) = f();
        let failed = o.status == Status::Fail;
        self.push(Check {
            layer,
            status: o.status,
            ms: output::ms_since(start),
            detail: o.detail,
            hint: o.hint,
            code: o.code,
        });
        if failed {
            None
        } else {
            value
        }
    }

    /// The checks on an authenticated session, up to `s.upto`, from one
    /// round trip; true when none failed.
    fn session(
        &mut self,
        session: &mut Session,
        url: &PgUrl,
        target: &Target,
        s: &Settings,
    ) -> bool {
        let mut reads = None;
        let queried = self.step(Layer::Query, || {
            let r = batch::read(session, url, s, target.timeout);
            let o = server::query(&r);
            reads = Some(r);
            o
        });
        let Some(reads) = reads.filter(|_| queried.is_some()) else {
            return false;
        };
        if self
            .step(Layer::Pooler, || {
                pooler::check(session, &reads, url, target, s)
            })
            .is_none()
        {
            return false;
        }
        if s.upto == Layer::Query {
            return true;
        }
        if self.step(Layer::Server, || server::check(&reads)).is_none() {
            return false;
        }
        s.upto == Layer::Server
            || self
                .step(Layer::Migrations, || migrations::check(&reads, url, s))
                .is_some()
    }
}
