//! `cargo xtask db-test`: what `psql -c "SELECT version()"` and the manual
//! checks of the troubleshooting page do, layer by layer, through the
//! `postgres` crate: url, dns, tcp, tls, auth, query, server, migrations and
//! (on request) idle. The first failing layer becomes the verdict, with a
//! stable code and the fix. Every network step is bounded in time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::envload::{self, EnvFile, Found};
use crate::flags::Args;
use crate::output::{self, Json, Style};
use crate::pg::{self, ConnectError, Target, TlsMode};
use crate::pgurl::{PgUrl, Reader, UrlError};
use crate::util::Ctx;

pub const HELP: &str = "\
cargo xtask db-test: diagnose the database connection layer by layer

Usage: cargo xtask db-test [options]

Checks DATABASE_URL (and DIRECT_URL, SHADOW_DATABASE_URL when defined), in order:
  url         parses; placeholder or unencoded password; parameters the driver must not see
  dns         the addresses the host resolves to
  tcp         connect to each address (refused and timed out are different findings)
  tls         the server's answer to the TLS request, the handshake, certificate checks
  auth        startup and authentication (wrong password, missing database, no slots, ...)
  query       SELECT version()
  server      connections against max_connections, timeouts, encryption, rds.force_ssl
  migrations  CREATEDB for the shadow database, _prisma_migrations, advisory lock 72707369
  idle        with --idle-probe SECS: stay idle, then query again (the P1017 pattern)

The URL comes from the environment first, then .env.development.local, .env.local,
.env.development, .env (the first that defines it wins), as Next.js reads them.

Options:
  --var NAME          a variable to test (repeatable)
  --env-file PATH     read these files instead of the usual ones (repeatable)
  --timeout SECS      bound for each network step (default: the URL's connect_timeout, else 10)
  --idle-probe SECS   keep the connection idle this long, then query again
  --quick             stop after the server check (no migration checks)
  --json              {\"ok\", \"targets\": [{\"var\", \"source\", ..., \"checks\": [...], \"diagnosis\"}]}

Exit codes: 0 every target passes (warnings allowed), 1 a check failed,
2 bad usage or input (no URL, an invalid URL, a placeholder password).

Example:
  cargo xtask db-test
  cargo xtask db-test --var DIRECT_URL --idle-probe 400 --json
";

/// The layers, in the order they are checked.
pub const LAYERS: [&str; 9] = [
    "url",
    "dns",
    "tcp",
    "tls",
    "auth",
    "query",
    "server",
    "migrations",
    "idle",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub ms: u64,
    pub detail: String,
    pub hint: Option<String>,
    /// The diagnosis code when this check failed.
    pub code: Option<&'static str>,
}

/// The verdict for one URL.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub code: &'static str,
    pub layer: &'static str,
    pub hint: String,
}

/// Everything db-test found about one variable.
pub struct Report {
    pub var: String,
    pub source: String,
    pub url: Option<PgUrl>,
    pub checks: Vec<Check>,
    pub diagnosis: Diagnosis,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.diagnosis.code == "ok"
    }
    /// Bad input rather than a failed check (exit 2).
    pub fn bad_input(&self) -> bool {
        matches!(
            self.diagnosis.code,
            "url_missing" | "url_invalid" | "password_placeholder"
        )
    }
}

/// How far and how hard to check.
#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Option<Duration>,
    pub idle_probe: Option<Duration>,
    /// The last layer to run ("query" for a preflight, "server", "migrations").
    pub upto: &'static str,
    pub project_dir: PathBuf,
    /// A SHADOW_DATABASE_URL is configured, so CREATEDB is not needed.
    pub shadow_configured: bool,
}

pub fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<i32> {
    let vars = args.values("--var")?;
    let env_files: Vec<PathBuf> = args
        .values("--env-file")?
        .into_iter()
        .map(PathBuf::from)
        .collect();
    let timeout: Option<u64> = args.parsed("--timeout", "seconds")?;
    let idle: Option<u64> = args.parsed("--idle-probe", "seconds")?;
    let quick = args.flag("--quick");
    let json = args.flag("--json");
    args.finish()?;
    if timeout == Some(0) {
        return Err(crate::flags::Usage(
            "--timeout must be at least 1 second\nhint: run `cargo xtask db-test --help`".into(),
        )
        .into());
    }
    let files = envload::read_files(&ctx.project_dir, &env_files)?;
    let explicit = !vars.is_empty();
    let vars: Vec<String> = if explicit {
        vars
    } else {
        crate::env_fix::DEFAULT_VARS
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let settings = Settings {
        timeout: timeout.map(Duration::from_secs),
        idle_probe: idle.map(Duration::from_secs),
        upto: if quick { "server" } else { "migrations" },
        project_dir: ctx.project_dir.clone(),
        shadow_configured: envload::find("SHADOW_DATABASE_URL", &files).is_some(),
    };
    let mut reports = Vec::new();
    for (i, var) in vars.iter().enumerate() {
        let found = envload::find(var, &files);
        // DIRECT_URL and SHADOW_DATABASE_URL are tested only when defined.
        if found.is_none() && !explicit && i > 0 {
            continue;
        }
        let style = Style::stdout();
        if !json {
            print_header(var, found.as_ref(), &files, &env_files);
        }
        let report = diagnose(var, found.as_ref(), &settings, &|c: &Check| {
            if !json {
                print_check(c, style);
            }
        });
        if !json {
            print_verdict(&report, style);
        }
        reports.push(report);
    }
    if json {
        output::json(&Json::obj([
            ("ok", Json::Bool(reports.iter().all(Report::ok))),
            (
                "targets",
                Json::Arr(reports.iter().map(report_json).collect()),
            ),
        ]));
    }
    Ok(if reports.iter().any(Report::bad_input) {
        2
    } else if reports.iter().all(Report::ok) {
        0
    } else {
        1
    })
}

fn print_header(var: &str, found: Option<&Found>, files: &[EnvFile], explicit: &[PathBuf]) {
    match found {
        Some(f) => {
            let shown = PgUrl::parse(&f.value)
                .map(|u| u.masked())
                .unwrap_or_else(|_| "(not a valid URL)".into());
            output::out(format!("{var} from {}: {shown}", f.source));
            if let Some(file) = &f.shadowed {
                output::out(format!(
                    "  {} {var} is set in your shell and overrides {file}, which has a different value: `unset {var}` (PowerShell: `Remove-Item Env:{var}`) to use the file",
                    Style::stdout().yellow("warning:")
                ));
            }
        }
        None => output::out(format!(
            "{var}: not found in {}",
            envload::looked_at(files, explicit)
        )),
    }
}

fn print_check(c: &Check, style: Style) {
    let status = match c.status {
        Status::Pass => style.green("pass"),
        Status::Warn => style.yellow("warn"),
        Status::Fail => style.red("FAIL"),
        Status::Skip => style.dim("skip"),
    };
    output::out(format!(
        "  {status}  {:<10} {:>5} ms  {}",
        c.name, c.ms, c.detail
    ));
    if let (Some(h), Status::Warn | Status::Fail) = (&c.hint, c.status) {
        output::out(format!("        {:<10}           hint: {h}", ""));
    }
}

fn print_verdict(r: &Report, style: Style) {
    if r.ok() {
        output::out(format!(
            "  verdict: {} (every check passed{})\n",
            style.green("ok"),
            if r.checks.iter().any(|c| c.status == Status::Warn) {
                "; see the warnings"
            } else {
                ""
            }
        ));
    } else {
        output::out(format!(
            "  verdict: {} at layer {}: {}\n",
            style.red(r.diagnosis.code),
            r.diagnosis.layer,
            r.diagnosis.hint
        ));
    }
}

pub fn report_json(r: &Report) -> Json {
    let url = r.url.as_ref();
    Json::obj([
        ("var", Json::str(&r.var)),
        ("source", Json::str(&r.source)),
        (
            "host",
            url.map(|u| Json::str(u.host())).unwrap_or(Json::Null),
        ),
        (
            "port",
            url.map(|u| Json::num(u.port())).unwrap_or(Json::Null),
        ),
        ("database", Json::opt_str(url.and_then(|u| u.database()))),
        ("user", Json::opt_str(url.and_then(|u| u.user()))),
        (
            "sslmode",
            url.map(|u| Json::str(pg::tls_mode(u).map(|m| m.name()).unwrap_or("invalid")))
                .unwrap_or(Json::Null),
        ),
        (
            "checks",
            Json::Arr(r.checks.iter().map(check_json).collect()),
        ),
        (
            "diagnosis",
            Json::obj([
                ("code", Json::Lit(r.diagnosis.code)),
                ("layer", Json::Lit(r.diagnosis.layer)),
                ("hint", Json::str(&r.diagnosis.hint)),
            ]),
        ),
    ])
}

fn check_json(c: &Check) -> Json {
    Json::obj([
        ("name", Json::Lit(c.name)),
        ("status", Json::Lit(c.status.name())),
        ("ms", Json::num(c.ms as f64)),
        ("detail", Json::str(&c.detail)),
        ("hint", Json::opt_str(c.hint.clone())),
    ])
}

/// Runs the checks for one variable, reporting each as it completes.
pub fn diagnose(
    var: &str,
    found: Option<&Found>,
    s: &Settings,
    on_check: &dyn Fn(&Check),
) -> Report {
    let mut run = Runner {
        checks: Vec::new(),
        on_check,
    };
    let source = found
        .map(|f| f.source.clone())
        .unwrap_or_else(|| "-".into());
    let url = run.url(var, found, s);
    let mut report = Report {
        var: var.to_string(),
        source,
        url: url.as_ref().map(|(u, _)| u.clone()),
        checks: Vec::new(),
        diagnosis: Diagnosis {
            code: "ok",
            layer: "-",
            hint: String::new(),
        },
    };
    if let Some((url, target)) = url {
        run.network(&url, &target, s);
    }
    // Layers after a failure are reported as skipped, so the list is complete.
    let last = LAYERS
        .iter()
        .position(|l| *l == s.upto)
        .unwrap_or(7)
        .max(if s.idle_probe.is_some() { 8 } else { 0 });
    for layer in &LAYERS[..=last] {
        if !run.checks.iter().any(|c| c.name == *layer) {
            run.push(Check {
                name: layer,
                status: Status::Skip,
                ms: 0,
                detail: "not run: an earlier layer failed".into(),
                hint: None,
                code: None,
            });
        }
    }
    if let Some(fail) = run.checks.iter().find(|c| c.status == Status::Fail) {
        report.diagnosis = Diagnosis {
            code: fail.code.unwrap_or("failed"),
            layer: fail.name,
            hint: fail.hint.clone().unwrap_or_default(),
        };
    }
    report.checks = run.checks;
    report
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
    code: Option<&'static str>,
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
fn fail(code: &'static str, detail: impl Into<String>, hint: impl Into<String>) -> Outcome {
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

impl Runner<'_> {
    fn push(&mut self, c: Check) {
        (self.on_check)(&c);
        self.checks.push(c);
    }

    /// Times `f` and records its outcome; true when the layer did not fail.
    fn step<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce() -> (Outcome, Option<T>),
    ) -> Option<T> {
        let start = Instant::now();
        let (o, value) = f();
        let failed = o.status == Status::Fail;
        self.push(Check {
            name,
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

    fn url(&mut self, var: &str, found: Option<&Found>, s: &Settings) -> Option<(PgUrl, Target)> {
        self.step("url", || {
            let Some(found) = found else {
                return (fail("url_missing", format!("{var} is not set"), format!("set {var} in .env.local (postgresql://USER:PASSWORD@HOST:5432/DATABASE), or run `cargo xtask dev-db up --write-env` for a local database")), None);
            };
            let url = match PgUrl::parse(&found.value) {
                Ok(u) => u,
                Err(UrlError::NotPostgres { scheme }) if scheme.starts_with("prisma+") => {
                    return (fail("url_invalid", format!("{scheme}:// is Prisma Accelerate / Prisma Postgres, not a direct connection"), "migrations need the direct postgresql:// URL of the database"), None)
                }
                Err(e) => return (fail("url_invalid", format!("{var} ({}): {e}", found.source), "fix the URL: postgresql://USER:PASSWORD@HOST:5432/DATABASE?sslmode=require"), None),
            };
            if url.password().is_some_and(crate::env_fix::is_placeholder) {
                return (fail("password_placeholder", format!("{var} ({}) has a placeholder instead of a password", found.source), "set the real password: printf '%s' \"$PASSWORD\" | cargo xtask env-fix --password-stdin"), None);
            }
            let target = match pg::target(&url, &s.project_dir, Duration::from_secs(10), s.timeout) {
                Ok(t) => t,
                Err(e) => return (fail("url_invalid", e, "fix the URL's parameters"), None),
            };
            let mut notes = vec![format!(
                "user {}, database {}, sslmode={} ({})",
                url.user().unwrap_or("-"),
                url.database().unwrap_or("-"),
                target.tls.name(),
                match target.tls {
                    TlsMode::Disable => "no encryption",
                    TlsMode::Prefer => "encrypt if the server offers it, do not verify",
                    TlsMode::Require => "encrypt, do not verify",
                    TlsMode::VerifyCa => "encrypt, verify the chain",
                    TlsMode::VerifyFull => "encrypt, verify the chain and host name",
                }
            )];
            let aside: Vec<String> = url.not_understood_by(Reader::RustPostgres).iter().map(|p| p.key.clone()).filter(|k| k != "sslrootcert").collect();
            if !aside.is_empty() {
                notes.push(format!("set aside for the driver: {}", aside.join(", ")));
            }
            let mut problems = Vec::new();
            if !url.unencoded_userinfo().is_empty() {
                problems.push("the user or password has characters that must be percent-encoded; Prisma reads a different password: run `cargo xtask env-fix`".to_string());
            }
            if let Some(written) = &found.written {
                let written_pw = PgUrl::parse(written).ok().and_then(|u| u.password().map(str::to_string));
                if written_pw.as_deref() != url.password() {
                    problems.push("dotenv substitution changes the password as written (a `$` was eaten): run `cargo xtask env-fix`".into());
                } else {
                    problems.push("dotenv reads this value differently from what is written: run `cargo xtask env-fix`".into());
                }
            }
            if found.shadowed.is_some() {
                problems.push(format!("the shell's {var} overrides {}: `unset {var}`", found.shadowed.clone().unwrap_or_default()));
            }
            let o = if problems.is_empty() {
                pass(notes.join("; "))
            } else {
                warn(notes.join("; "), problems.join("; "))
            };
            (o, Some((url, target)))
        })
    }

    fn network(&mut self, url: &PgUrl, target: &Target, s: &Settings) {
        let host = url.host();
        let port = url.port();
        let t = target.timeout;
        if host.starts_with('/') {
            self.step::<()>("dns", || (skip("a Unix socket: no DNS"), Some(())));
            self.step::<()>("tcp", || (skip("a Unix socket: no TCP"), Some(())));
            self.step::<()>("tls", || (skip("a Unix socket: no TLS"), Some(())));
        } else {
            let Some(addrs) = self.step("dns", || dns(&host, port, t)) else {
                return;
            };
            // Like libpq's connect_timeout, one bound covers the TCP connect
            // and the TLS request of this attempt.
            let attempt = Instant::now();
            let Some(stream) = self.step("tcp", || tcp(&host, &addrs, t)) else {
                return;
            };
            let left = t
                .saturating_sub(attempt.elapsed())
                .max(Duration::from_millis(100));
            if self
                .step("tls", || tls(&host, stream, target, left))
                .is_none()
            {
                return;
            }
        }
        let Some(mut client) = self.step("auth", || auth(url, target)) else {
            return;
        };
        if self.step("query", || query(&mut client)).is_none() || s.upto == "query" {
            return;
        }
        if self.step("server", || server(&mut client)).is_none() || s.upto == "server" {
            return;
        }
        if s.upto == "migrations"
            && self
                .step("migrations", || migrations(&mut client, url, s))
                .is_none()
        {
            return;
        }
        if let Some(idle) = s.idle_probe {
            self.step::<()>("idle", || (idle_probe(client, idle, target), Some(())));
        }
    }
}

/// Runs `f` on a thread and gives up after `bound`: std has no DNS timeout,
/// and a blocked resolver must not hang the verdict.
fn bounded<T: Send + 'static>(
    bound: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(bound).ok()
}

fn dns(host: &str, port: u16, t: Duration) -> (Outcome, Option<Vec<SocketAddr>>) {
    let h = host.to_string();
    match bounded(t, move || (h.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>())) {
        Some(Ok(addrs)) if !addrs.is_empty() => {
            let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            (pass(shown.join(", ")), Some(addrs))
        }
        Some(Ok(_)) | Some(Err(_)) => (
            fail("dns_failed", format!("{host} does not resolve"), "check the host name (the RDS console's \"Endpoint\"); a private endpoint resolves only inside its VPC or over the VPN"),
            None,
        ),
        None => (fail("dns_failed", format!("resolving {host} took longer than {}s", t.as_secs()), "check your DNS or VPN connection"), None),
    }
}

fn tcp(host: &str, addrs: &[SocketAddr], t: Duration) -> (Outcome, Option<TcpStream>) {
    let mut refused = Vec::new();
    let mut timed_out = Vec::new();
    let mut reset = Vec::new();
    for a in addrs {
        match TcpStream::connect_timeout(a, t) {
            Ok(s) => {
                let mut detail = format!("connected to {a}");
                if !refused.is_empty() || !timed_out.is_empty() {
                    detail.push_str(&format!(
                        " (after {} failed address(es))",
                        refused.len() + timed_out.len()
                    ));
                }
                return (pass(detail), Some(s));
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused.push(a.to_string())
            }
            // Accepted and at once reset: something answers, then hangs up.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                ) =>
            {
                reset.push(a.to_string())
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => timed_out.push(a.to_string()),
            Err(e) => timed_out.push(format!("{a} ({e})")),
        }
    }
    let port = addrs.first().map(|a| a.port()).unwrap_or(5432);
    if !reset.is_empty() && timed_out.is_empty() {
        (
            fail(
                "server_closed",
                format!(
                    "{} accepted the connection and reset it at once",
                    reset.join(", ")
                ),
                closed_hint(),
            ),
            None,
        )
    } else if !timed_out.is_empty() {
        (
            fail("tcp_timeout", format!("no answer from {} within {}s", timed_out.join(", "), t.as_secs()), format!("a firewall drops the packets: on RDS, add an inbound rule for your IP on port {port} to the instance's security group (and check it is publicly accessible, or that you are on the VPN)")),
            None,
        )
    } else {
        (
            fail("tcp_refused", format!("{} refused the connection", refused.join(", ")), format!("nothing listens on {host}:{port}: check the instance is running (RDS console: Status) and the port in the URL")),
            None,
        )
    }
}

/// Sends PostgreSQL's SSLRequest on the raw socket and performs the
/// handshake, so "no TLS", "silent server" and "bad certificate" are told
/// apart before authentication muddles them.
fn tls(host: &str, mut stream: TcpStream, target: &Target, t: Duration) -> (Outcome, Option<()>) {
    if target.tls == TlsMode::Disable {
        return (skip("sslmode=disable: TLS not requested"), Some(()));
    }
    let _ = stream.set_read_timeout(Some(t));
    let _ = stream.set_write_timeout(Some(t));
    // Length 8, then the SSLRequest code 80877103.
    let request = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    if stream.write_all(&request).is_err() {
        return (
            fail(
                "server_closed",
                "the server closed the connection before the TLS request",
                closed_hint(),
            ),
            None,
        );
    }
    let mut answer = [0u8; 1];
    let ready = wait_readable(&stream, t);
    match ready.and_then(|_| stream.read(&mut answer)) {
        Ok(0) => return (fail("server_closed", "the server closed the connection at the TLS request", closed_hint()), None),
        Ok(_) => {}
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            return (fail("startup_timeout", format!("the server accepted the connection but said nothing for {}s", target.timeout.as_secs()), "something accepts TCP but does not speak PostgreSQL (a stuck proxy, a wrong port, an overloaded server): check the port and any proxy or tunnel"), None)
        }
        Err(e) => return (fail("server_closed", format!("the connection broke at the TLS request: {e}"), closed_hint()), None),
    }
    match (answer[0], target.tls) {
        (b'N', TlsMode::Prefer) => {
            return (
                warn(
                    "the server offers no TLS; continuing unencrypted (sslmode=prefer)",
                    "hosted databases should use TLS: enable it on the server",
                ),
                Some(()),
            )
        }
        (b'N', _) => return (tls_unavailable(target.tls), None),
        (b'S', _) => {}
        (other, _) => {
            return (
                fail(
                    "server_closed",
                    format!(
                        "unexpected answer {:?} to the TLS request: not a PostgreSQL server?",
                        other as char
                    ),
                    "check the host and port",
                ),
                None,
            )
        }
    }
    let connector = match target.tls_connector() {
        Ok(c) => c,
        Err(e) => return (fail("tls_failed", e, "check sslrootcert: it must name a PEM file with the CA certificate (RDS: global-bundle.pem)"), None),
    };
    match connector.connect(host, stream) {
        Ok(s) => {
            let verified = if target.tls.verifies() {
                "certificate verified"
            } else {
                "certificate not verified (libpq's meaning of this sslmode)"
            };
            drop(s);
            (pass(format!("TLS handshake done; {verified}")), Some(()))
        }
        Err(e) => {
            let msg = output::redact(&e.to_string());
            let timed_out = msg.contains("timed out")
                || msg.contains("WouldBlock")
                || msg.contains("would block");
            let lower = msg.to_ascii_lowercase();
            let closed = [
                "unexpected eof",
                "connection reset",
                "broken pipe",
                "connection aborted",
            ]
            .iter()
            .any(|w| lower.contains(w));
            if closed {
                (
                    fail(
                        "server_closed",
                        format!("the connection ended during the TLS handshake: {msg}"),
                        closed_hint(),
                    ),
                    None,
                )
            } else if timed_out {
                (fail("startup_timeout", format!("the TLS handshake got no answer within {}s", target.timeout.as_secs()), "something between you and the server holds the connection (proxy, VPN): check it"), None)
            } else if target.tls.verifies() {
                (fail("tls_failed", format!("certificate check failed: {msg}"), "sslrootcert must name the CA that signed the server's certificate (RDS: global-bundle.pem); verify-full also needs the host name in the URL to match the certificate"), None)
            } else {
                (fail("tls_failed", format!("TLS handshake failed: {msg}"), "the server's TLS settings do not match the client's (old protocol versions?)"), None)
            }
        }
    }
}

/// Waits until the socket has data or `t` passes. A socket read timeout
/// would do, but Linux's timer wheel lets a 3 s SO_RCVTIMEO run ~60-150 ms
/// late; poll() is precise, which is what puts our verdict level with psql's.
fn wait_readable(stream: &TcpStream, t: Duration) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let mut fds = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let deadline = Instant::now() + t;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // SAFETY: one valid pollfd for a socket we own, for the call's duration.
            let n =
                unsafe { libc::poll(&mut fds, 1, left.as_millis().min(i32::MAX as u128) as i32) };
            if n > 0 {
                return Ok(());
            }
            if n == 0 {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (stream, t);
        Ok(())
    }
}

/// The client demands TLS and the server has none.
fn tls_unavailable(mode: TlsMode) -> Outcome {
    fail(
        "tls_unavailable",
        format!("sslmode={} but the server does not offer TLS", mode.name()),
        "enable ssl on the server, or (local servers only) use sslmode=disable",
    )
}

fn closed_hint() -> String {
    "the server or something in between ended the session: TLS required but not used, a pooler or proxy, the server restarting, or a connection limit; this is Prisma's P1017".into()
}

fn auth(url: &PgUrl, target: &Target) -> (Outcome, Option<postgres::Client>) {
    let user = url.user().unwrap_or("-").to_string();
    let db = url.database().unwrap_or(&user).to_string();
    let host = url.host();
    match pg::connect(target) {
        Ok(c) => (pass(format!("authenticated as {user} to database {db}")), Some(c)),
        Err(ConnectError::TimedOut(t)) => (
            fail("startup_timeout", format!("no answer to the startup message within {}s", t.as_secs()), "the server accepted TCP but never answered: check the port, any proxy or tunnel, and the server's load"),
            None,
        ),
        Err(ConnectError::Setup(e)) => (fail("tls_failed", e, "check sslrootcert"), None),
        Err(ConnectError::Pg(e)) => (classify(&e, &user, &db, &host, target), None),
    }
}

/// Turns a driver error into a finding, by SQLSTATE where there is one.
fn classify(e: &postgres::Error, user: &str, db: &str, host: &str, target: &Target) -> Outcome {
    let text = pg::describe(e);
    if let Some(dbe) = e.as_db_error() {
        let msg = output::redact(dbe.message());
        return match dbe.code().code() {
            "28P01" => fail("auth_failed", format!("password authentication failed for {user} (28P01)"), "wrong password, or one whose @ # $ & were not percent-encoded, or a `$` eaten by dotenv: run `cargo xtask env-fix` (or set it with --password-stdin)"),
            "28000" if msg.contains("no encryption") => fail("tls_required", format!("the server requires TLS and this connection did not use it (28000: {msg})"), "add sslmode=require to the URL (RDS sets rds.force_ssl=1): `cargo xtask env-fix` does it"),
            "28000" => fail("auth_failed", format!("{msg} (28000)"), format!("the server's pg_hba.conf or the role refuses {user} from here: check the user name and the server's access rules")),
            "3D000" => fail("database_missing", format!("database {db} does not exist (3D000)"), format!("check the database name after the host in the URL; create it with `CREATE DATABASE \"{db}\"` or use the one RDS created")),
            "53300" => fail("too_many_connections", format!("{msg} (53300)"), "every connection slot is taken: close idle clients (dev servers, other migrations), lower connection_limit in the app's URL, or raise max_connections in the RDS parameter group"),
            "57P03" => fail("server_closed", format!("{msg} (57P03)"), "the server is starting up or shutting down (RDS reboot or failover): wait a minute and retry"),
            code => fail("auth_failed", format!("{msg} ({code})"), "see the server's message"),
        };
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("server does not support tls") || lower.contains("does not support ssl") {
        tls_unavailable(target.tls)
    } else if lower.contains("certificate")
        || lower.contains("ssl")
        || lower.contains("tls")
        || lower.contains("handshake")
    {
        fail("tls_failed", text, "check sslmode and sslrootcert")
    } else if lower.contains("timed out") || lower.contains("timeout") {
        fail("startup_timeout", text, "the server did not answer in time")
    } else {
        fail("server_closed", format!("{host}: {text}"), closed_hint())
    }
}

fn query(client: &mut postgres::Client) -> (Outcome, Option<()>) {
    match client.query_one("SELECT version()", &[]) {
        Ok(row) => (pass(row.get::<_, String>(0)), Some(())),
        Err(e) => (
            fail(
                "server_closed",
                format!("SELECT version() failed: {}", pg::describe(&e)),
                closed_hint(),
            ),
            None,
        ),
    }
}

fn server(client: &mut postgres::Client) -> (Outcome, Option<()>) {
    let sql = "SELECT \
        (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database())::int, \
        (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int, \
        current_setting('max_connections')::int, \
        current_setting('superuser_reserved_connections')::int, \
        COALESCE(current_setting('rds.rds_superuser_reserved_connections', true), '0'), \
        current_setting('statement_timeout'), \
        current_setting('idle_in_transaction_session_timeout'), \
        current_setting('idle_session_timeout'), \
        current_setting('tcp_keepalives_idle'), \
        COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false), \
        current_setting('rds.force_ssl', true)";
    let row = match client.query_one(sql, &[]) {
        Ok(r) => r,
        Err(e) => {
            return (
                fail(
                    "server_closed",
                    format!("reading server settings failed: {}", pg::describe(&e)),
                    closed_hint(),
                ),
                None,
            )
        }
    };
    let (in_db, total, max): (i32, i32, i32) = (row.get(0), row.get(1), row.get(2));
    let reserved: i32 = row.get::<_, i32>(3) + row.get::<_, String>(4).parse::<i32>().unwrap_or(0);
    let (stmt, idle_tx, idle_s, keep): (String, String, String, String) =
        (row.get(5), row.get(6), row.get(7), row.get(8));
    let ssl: bool = row.get(9);
    let force_ssl: Option<String> = row.get(10);
    let usable = max - reserved;
    let headroom = usable - total;
    let mut detail = format!(
        "connections: {in_db} to this database, {total} in all of {usable} usable (max_connections {max}, {reserved} reserved); statement_timeout {stmt}, idle_in_transaction_session_timeout {idle_tx}, idle_session_timeout {idle_s}, tcp_keepalives_idle {keep}; session {}",
        if ssl { "encrypted" } else { "NOT encrypted" }
    );
    if let Some(f) = &force_ssl {
        detail.push_str(&format!("; rds.force_ssl {f}"));
    }
    let mut hints = Vec::new();
    if headroom < 3 || headroom * 10 < usable {
        hints.push(format!("only {headroom} connection slot(s) left: stop idle dev servers or lower connection_limit; migrate dev needs 2 (one for the shadow database)"));
    }
    if let Some(ms) = duration_ms(&idle_s).filter(|ms| *ms > 0 && *ms < 600_000) {
        hints.push(format!("the server closes sessions idle for {}s: a `migrate dev` waiting at a prompt loses its connection (P1017); raise idle_session_timeout in the parameter group", ms / 1000));
    }
    if let Some(ms) = duration_ms(&stmt).filter(|ms| *ms > 0 && *ms < 60_000) {
        hints.push(format!("statement_timeout is {}ms: long migrations can be cancelled; set options=-c statement_timeout=... for migrations (env-fix --statement-timeout)", ms));
    }
    if !ssl {
        hints.push("this session is not encrypted".to_string());
    }
    if hints.is_empty() {
        (pass(detail), Some(()))
    } else {
        (warn(detail, hints.join("; ")), Some(()))
    }
}

/// Reads a PostgreSQL duration setting (`0`, `30s`, `5min`, `1500ms`, `1h`) in ms.
fn duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..split].parse().ok()?;
    let factor = match &s[split..] {
        "" | "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(n * factor)
}

fn migrations(client: &mut postgres::Client, url: &PgUrl, s: &Settings) -> (Outcome, Option<()>) {
    let mut notes = Vec::new();
    let mut hints = Vec::new();
    let can_create: bool = client
        .query_one(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .map(|r| r.get(0))
        .unwrap_or(false);
    if can_create {
        notes.push("may create databases (shadow database ok)".to_string());
    } else if s.shadow_configured {
        notes.push("cannot create databases; SHADOW_DATABASE_URL is set".to_string());
    } else {
        notes.push("cannot create databases".to_string());
        hints.push("`migrate dev` creates a shadow database and will fail with P3014: GRANT CREATEDB to this user, or set datasource.shadowDatabaseUrl in prisma.config.ts (SHADOW_DATABASE_URL)".to_string());
    }
    let schema = url.param("schema").unwrap_or("public").to_string();
    let mut failed = Vec::new();
    match prisma_migrations(client, &schema) {
        Some(MigrationRows { applied, failed: f }) => {
            failed = f;
            notes.push(format!("{} migration(s) applied", applied.len()));
            let local = local_migrations(&s.project_dir);
            let pending: Vec<&str> = local
                .iter()
                .filter(|m| !applied.contains(m))
                .map(String::as_str)
                .collect();
            if !pending.is_empty() {
                notes.push(format!(
                    "{} local migration(s) not applied yet: {}",
                    pending.len(),
                    pending.join(", ")
                ));
            }
        }
        None => notes.push(format!(
            "no _prisma_migrations table in schema {schema} yet"
        )),
    }
    if let Some((pid, holder)) = advisory_lock_holder(client) {
        notes.push(format!(
            "Prisma's advisory lock 72707369 is held by {holder}"
        ));
        hints.push(format!("another migration holds the lock, and Prisma gives up after 10s (P1002): wait for it, or end it with SELECT pg_terminate_backend({pid})"));
    }
    let detail = notes.join("; ");
    if !failed.is_empty() {
        return (
            fail("migration_failed", format!("{detail}; failed migration(s): {}", failed.join(", ")), format!("Prisma refuses to migrate until they are resolved (P3009): fix the database, then `npx prisma migrate resolve --rolled-back {}` (or --applied)", failed[0])),
            None,
        );
    }
    if hints.is_empty() {
        (pass(detail), Some(()))
    } else {
        (warn(detail, hints.join("; ")), Some(()))
    }
}

/// What `_prisma_migrations` records: finished migrations, and failed ones
/// (neither finished nor rolled back).
pub struct MigrationRows {
    pub applied: Vec<String>,
    pub failed: Vec<String>,
}

/// Reads `_prisma_migrations` in `schema`; None when the table is not there
/// (or cannot be read).
pub fn prisma_migrations(client: &mut postgres::Client, schema: &str) -> Option<MigrationRows> {
    let table = format!("\"{}\"._prisma_migrations", schema.replace('"', "\"\""));
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .ok()?
        .get(0);
    if !exists {
        return None;
    }
    let rows = client
        .query(&format!("SELECT migration_name, finished_at IS NOT NULL, rolled_back_at IS NOT NULL FROM {table} ORDER BY started_at"), &[])
        .ok()?;
    let mut out = MigrationRows {
        applied: Vec::new(),
        failed: Vec::new(),
    };
    for r in &rows {
        let (name, finished, rolled_back): (String, bool, bool) = (r.get(0), r.get(1), r.get(2));
        if finished {
            out.applied.push(name);
        } else if !rolled_back {
            out.failed.push(name);
        }
    }
    Some(out)
}

/// Who holds Prisma's migration lock (advisory lock 72707369), if anyone:
/// the pid and a description.
pub fn advisory_lock_holder(client: &mut postgres::Client) -> Option<(i32, String)> {
    let r = client
        .query_opt(
            "SELECT a.pid, COALESCE(a.application_name, ''), COALESCE(a.usename::text, ''), \
                COALESCE(to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), ''), \
                COALESCE(extract(epoch FROM now() - a.state_change)::bigint, 0) \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = 72707369 AND l.objsubid = 1 AND l.granted \
         LIMIT 1",
            &[],
        )
        .ok()??;
    let (pid, app, user, since, secs): (i32, String, String, String, i64) =
        (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
    let app = if app.is_empty() {
        String::new()
    } else {
        format!(" ({app})")
    };
    Some((pid, format!("pid {pid}{app}, user {user}, connected since {since}, in its current state for {secs}s")))
}

/// Migration directory names under prisma/migrations.
pub fn local_migrations(project_dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(project_dir.join("prisma").join("migrations"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().join("migration.sql").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn idle_probe(mut client: postgres::Client, idle: Duration, target: &Target) -> Outcome {
    std::thread::sleep(idle);
    let secs = idle.as_secs();
    match client.simple_query("SELECT 1") {
        Ok(_) => pass(format!("the connection survived {secs}s idle")),
        Err(e) => {
            let fresh = match pg::connect(target) {
                Ok(_) => "a fresh connection works",
                Err(_) => "a fresh connection fails too",
            };
            fail(
                "idle_closed",
                format!("the connection died after {secs}s idle ({}); {fresh}", pg::describe(&e)),
                "something closes idle connections: the server's idle_session_timeout, or a NAT gateway, firewall or VPN (AWS Network Firewall: 350s). This is P1017 during `migrate dev` prompts: raise the timeout, keep answering prompts promptly, or use `migrate deploy` in scripts",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (s, ms) in [
            ("0", 0),
            ("30s", 30_000),
            ("5min", 300_000),
            ("1500ms", 1500),
            ("1h", 3_600_000),
            ("2d", 172_800_000),
        ] {
            assert_eq!(duration_ms(s), Some(ms), "{s}");
        }
        assert_eq!(duration_ms("x"), None);
    }
}
