//! The migrate flow, shared by `migrate` and `onboard`: load the URL, tune
//! it as env-fix would (without touching the file), run db-test's checks as
//! a preflight, run the project's pinned Prisma with the URL in its
//! environment only, retry what is transient (P1017, P1001, P1002) and
//! explain what is not.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::codes::{self, ErrorCode, Failure};
use super::{table, Install};
use crate::aws::{iam, password};
use crate::diagnose::{self, Layer, Report, Settings, Status};
use crate::envload::{self, Found};
use crate::flags::{bad_input, Exit};
use crate::input::PasswordSource;
use crate::output::{self, Style};
use crate::pg;
use crate::pgurl::{PgUrl, Reader};
use crate::process;
use crate::repair;
use crate::util::Ctx;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Dev,
    CreateOnly,
    Deploy,
    Status,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Dev => "dev",
            Mode::CreateOnly => "create-only",
            Mode::Deploy => "deploy",
            Mode::Status => "status",
        }
    }
}

/// Everything one migrate run needs.
pub struct Plan {
    pub mode: Mode,
    pub name: Option<String>,
    pub preflight: bool,
    pub tune: bool,
    pub retries: u32,
    pub retry_delay: Duration,
    pub env_files: Vec<std::path::PathBuf>,
    pub passthrough: Vec<String>,
    /// Relay Prisma's stdout to stderr (stdout is kept for one JSON object).
    pub prisma_stdout_to_stderr: bool,
    /// `--password-from` / `--iam`: DATABASE_URL's password, fetched (a
    /// token: made again for each attempt) just before connecting.
    pub password: Option<PasswordSource>,
    pub aws_profile: Option<String>,
}

/// One Prisma run.
pub struct Attempt {
    pub exit_code: Option<i32>,
    pub failure: Option<Failure>,
    pub ms: u64,
}

/// Why a run did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The preflight failed at a layer; Prisma was not started.
    Preflight(diagnose::Code),
    /// Prisma failed and its output says why.
    Prisma(Failure),
    /// Prisma failed without a message we know.
    Unknown,
    /// Ctrl-C.
    Interrupted,
}

impl Verdict {
    pub fn code(&self) -> String {
        match self {
            Verdict::Preflight(c) => c.as_str().to_string(),
            Verdict::Prisma(f) => f.code(),
            Verdict::Unknown => "unknown".into(),
            Verdict::Interrupted => "interrupted".into(),
        }
    }
}

/// The outcome, for the summary, `--json` and onboard.
pub struct Summary {
    pub ok: bool,
    pub exit: Exit,
    pub mode: Mode,
    pub attempts: Vec<Attempt>,
    pub applied: Vec<String>,
    /// What went wrong and the fix.
    pub diagnosis: Option<(Verdict, String)>,
    pub elapsed: Duration,
}

/// The URLs Prisma gets, loaded once.
struct Urls {
    found: Found,
    /// DATABASE_URL as Prisma gets it (tuned unless --no-tune).
    url: PgUrl,
    child_url: String,
    shadow_url: Option<String>,
    /// When the IAM token in `child_url` was made.
    token_at: Option<Instant>,
}

impl Urls {
    fn load(ctx: &Ctx, plan: &Plan, style: Style) -> anyhow::Result<Urls> {
        let files = envload::read_files(&ctx.project_dir, &plan.env_files)?;
        let Some(found) = envload::find("DATABASE_URL", &files) else {
            return Err(bad_input(format!(
                "DATABASE_URL is not set in {}: put it in .env.local, or run `cargo xtask dev-db up --write-env` for a local database",
                envload::looked_at(&files, &plan.env_files)
            )));
        };
        let mut url = PgUrl::parse(&found.value)
            .map_err(|e| bad_input(format!("DATABASE_URL ({}): {e}", found.source)))?;
        if plan.password.is_none()
            && url
                .password()
                .is_some_and(|p| repair::is_placeholder(p.expose()))
        {
            return Err(bad_input(format!(
                "DATABASE_URL ({}) has a placeholder instead of a password: set the real one with `printf '%s' \"$PASSWORD\" | cargo xtask env-fix --password-stdin`",
                found.source
            )));
        }
        let child_url = if plan.tune {
            for c in repair::tune("DATABASE_URL", &mut url) {
                output::err(format!("{} {}", style.dim("tune:"), c.detail));
            }
            url.render_for(Reader::Prisma)
        } else {
            found.value.clone()
        };
        // The shadow database's URL gets the same tuning, once for all attempts.
        let shadow = envload::find("SHADOW_DATABASE_URL", &files);
        let shadow_url = shadow.as_ref().map(|s| match PgUrl::parse(&s.value) {
            Ok(mut u) if plan.tune => {
                repair::tune("SHADOW_DATABASE_URL", &mut u);
                u.render_for(Reader::Prisma)
            }
            _ => s.value.clone(),
        });
        output::err(format!(
            "{} DATABASE_URL from {}: {}",
            style.dim("migrate:"),
            found.source,
            url.masked()
        ));
        let mut urls = Urls {
            found,
            url,
            child_url,
            shadow_url,
            token_at: None,
        };
        urls.fetch_password(plan)?;
        Ok(urls)
    }

    /// `--password-from` / `--iam`: the password goes into the URL Prisma
    /// gets (its environment only); a token is made here, just before use.
    fn fetch_password(&mut self, plan: &Plan) -> anyhow::Result<()> {
        let Some(source) = &plan.password else {
            return Ok(());
        };
        let reader = plan.tune.then_some(Reader::Prisma);
        let profile = plan.aws_profile.as_deref();
        let child = password::for_child(
            source,
            &mut self.url,
            self.shadow_url.as_deref(),
            reader,
            profile,
            "migrate:",
        )?;
        self.child_url = child.url;
        self.shadow_url = child.shadow.or(self.shadow_url.take());
        self.token_at = child.iam.then(Instant::now);
        Ok(())
    }

    /// db-test's checks against the URL Prisma gets, up to `upto`.
    fn diagnose(&self, ctx: &Ctx, upto: Layer) -> Report {
        let settings = Settings {
            timeout: None,
            idle_probe: None,
            upto,
            project_dir: ctx.project_dir.clone(),
            shadow_configured: self.shadow_url.is_some(),
        };
        let tuned = Found {
            value: self.child_url.clone(),
            ..self.found.clone()
        };
        diagnose::diagnose("DATABASE_URL", Some(&tuned), &settings, &|_| {})
    }

    /// A session for the xtask's own queries, on the URL Prisma gets.
    fn connect(&self, ctx: &Ctx) -> Option<postgres::Client> {
        let url = PgUrl::parse(&self.child_url).unwrap_or_else(|_| self.url.clone());
        pg::connect_url(&url, &ctx.project_dir, Duration::from_secs(5)).ok()
    }
}

/// Runs the whole migrate flow.
pub fn migrate(ctx: &Ctx, plan: &Plan) -> anyhow::Result<Summary> {
    let mut run = Run {
        ctx,
        plan,
        style: Style::stderr(),
        start: Instant::now(),
        attempts: Vec::new(),
        applied: Vec::new(),
    };
    let mut urls = Urls::load(ctx, plan, run.style)?;
    let install = Install::find(&ctx.project_dir);
    let version = install.prisma_version()?;
    if plan.preflight {
        if let Err(diagnosis) = preflight(ctx, plan, &urls, run.style) {
            let exit = match &diagnosis.0 {
                Verdict::Preflight(code) if code.is_bad_input() => Exit::BadInput,
                _ => Exit::Failed,
            };
            return Ok(run.finish(exit, Some(diagnosis)));
        }
    }
    let args = prisma_args(plan);
    // At a terminal Prisma writes straight to it and we cannot read its
    // list; the database's own record says what was applied instead.
    let stdout_inherited =
        std::io::IsTerminal::is_terminal(&std::io::stdout()) && !plan.prisma_stdout_to_stderr;
    let recorded_before = stdout_inherited.then(|| finished(ctx, &urls)).flatten();
    process::install_interrupt_handler();
    loop {
        let n = run.attempts.len() + 1;
        if n > 1 && urls.token_at.is_some() {
            urls.fetch_password(plan)?;
        }
        output::err(format!(
            "{} running {} (prisma {version}, attempt {n} of {})",
            run.style.dim("migrate:"),
            install.display(&args),
            plan.retries + 1
        ));
        let mut cmd = install.prisma_command(&ctx.sh, &args);
        cmd.env("DATABASE_URL", &urls.child_url);
        if let Some(url) = &urls.shadow_url {
            cmd.env("SHADOW_DATABASE_URL", url);
        }
        let t0 = Instant::now();
        let out = process::run_child(cmd, plan.prisma_stdout_to_stderr).with_context(|| {
            format!(
                "cannot start {}: is Node.js installed and on PATH?",
                install.display(&[])
            )
        })?;
        let ms = output::ms_since(t0);
        match &recorded_before {
            Some(before) => {
                if let Some(after) = finished(ctx, &urls) {
                    run.applied = after.into_iter().filter(|m| !before.contains(m)).collect();
                }
            }
            None if !stdout_inherited => run.applied.extend(codes::applied_migrations(&out.stdout)),
            None => {}
        }
        if let Some(summary) = run.after_attempt(&out, ms, &urls)? {
            return Ok(summary);
        }
    }
}

/// The state of one migrate run, and the one place its summary is built.
struct Run<'a> {
    ctx: &'a Ctx,
    plan: &'a Plan,
    style: Style,
    start: Instant,
    attempts: Vec<Attempt>,
    applied: Vec<String>,
}

impl Run<'_> {
    /// Records an attempt; the summary when the run is over, None to retry.
    fn after_attempt(
        &mut self,
        out: &process::Output,
        ms: u64,
        urls: &Urls,
    ) -> anyhow::Result<Option<Summary>> {
        let n = self.attempts.len() + 1;
        let failure = match out.status {
            _ if process::interrupted() => None,
            Some(0) => None,
            _ => codes::classify(&format!("{}\n{}", out.stdout, out.stderr)),
        };
        self.attempts.push(Attempt {
            exit_code: out.status,
            failure: failure.clone(),
            ms,
        });
        if process::interrupted() {
            output::err(format!(
                "{} interrupted; Prisma was stopped",
                self.style.red("migrate:")
            ));
            let diagnosis = (Verdict::Interrupted, "stopped by Ctrl-C".to_string());
            return Ok(Some(self.finish(Exit::Interrupted, Some(diagnosis))));
        }
        if out.status == Some(0) {
            return Ok(Some(self.finish(Exit::Success, None)));
        }
        let transient = failure.as_ref().is_some_and(codes::is_transient);
        if let (true, Some(f)) = (transient && (n as u32) <= self.plan.retries, &failure) {
            self.wait_before_retry(f, n, urls);
            return Ok(None);
        }
        // Not transient, or out of retries: explain.
        if let Some(note) = urls.token_at.and_then(iam::expired_note) {
            output::err(format!("{} {note}", self.style.red("migrate:")));
        }
        let exit = out.status.filter(|c| *c != 0).unwrap_or(1);
        let diagnosis = self.explain(failure, exit, urls);
        Ok(Some(self.finish(Exit::Child(exit), Some(diagnosis))))
    }

    fn wait_before_retry(&self, f: &Failure, n: usize, urls: &Urls) {
        let (what, _) = codes::explain(f, true);
        let wait = self.plan.retry_delay.mul_f64(2f64.powi(n as i32 - 1));
        output::err(format!(
            "{} {} ({what}); retrying in {:.1}s",
            self.style.yellow("migrate:"),
            f.code(),
            wait.as_secs_f64()
        ));
        if *f == Failure::Code(ErrorCode::P1002) {
            show_lock_holder(self.ctx, urls, self.style);
        }
        std::thread::sleep(wait);
    }

    fn explain(&self, failure: Option<Failure>, exit: i32, urls: &Urls) -> (Verdict, String) {
        let style = self.style;
        let Some(f) = failure else {
            output::err(format!(
                "{} Prisma exited with status {exit}; see its output above",
                style.red("migrate:")
            ));
            return (Verdict::Unknown, "see Prisma's output".into());
        };
        let (what, fix) = codes::explain(&f, !std::io::IsTerminal::is_terminal(&std::io::stdin()));
        output::err(format!("{} {}: {what}", style.red("migrate:"), f.code()));
        output::err(format!("  fix: {fix}"));
        if matches!(f, Failure::Code(ErrorCode::P1017 | ErrorCode::P1001)) {
            explain_with_db_test(self.ctx, urls, style);
        }
        (Verdict::Prisma(f), fix)
    }

    /// Builds the summary and prints its line.
    fn finish(&mut self, exit: Exit, diagnosis: Option<(Verdict, String)>) -> Summary {
        let s = Summary {
            ok: exit == Exit::Success,
            exit,
            mode: self.plan.mode,
            attempts: std::mem::take(&mut self.attempts),
            applied: std::mem::take(&mut self.applied),
            diagnosis,
            elapsed: self.start.elapsed(),
        };
        let result = if s.ok {
            self.style.green("ok")
        } else {
            self.style.red("failed")
        };
        let applied = match s.applied.len() {
            0 => "no migrations applied".to_string(),
            1 => format!("1 migration applied ({})", s.applied[0]),
            n => format!("{n} migrations applied"),
        };
        output::err(format!(
            "migrate {}: {result}, {} attempt(s), {:.1}s, {applied}",
            s.mode.as_str(),
            s.attempts.len(),
            s.elapsed.as_secs_f64()
        ));
        s
    }
}

/// db-test's checks before Prisma starts; the verdict when they fail.
fn preflight(ctx: &Ctx, plan: &Plan, urls: &Urls, style: Style) -> Result<(), (Verdict, String)> {
    let upto = if plan.mode == Mode::Dev {
        Layer::Migrations
    } else {
        Layer::Query
    };
    let report = urls.diagnose(ctx, upto);
    if !report.ok() {
        output::err(format!(
            "{} preflight failed: Prisma was not started",
            style.red("migrate:")
        ));
        print_report_brief(&report, style);
        return Err((
            Verdict::Preflight(report.diagnosis.code),
            report.diagnosis.hint.clone(),
        ));
    }
    let ms: u64 = report.checks.iter().map(|c| c.ms).sum();
    let ran = report
        .checks
        .iter()
        .filter(|c| c.status != Status::Skip)
        .count();
    output::err(format!(
        "{} preflight ok ({ran} checks, {ms} ms)",
        style.dim("migrate:")
    ));
    for w in report.warnings() {
        output::err(format!("  {} {w}", style.yellow("warning:")));
    }
    Ok(())
}

fn prisma_args(plan: &Plan) -> Vec<String> {
    let mut args: Vec<String> = vec!["migrate".into()];
    match plan.mode {
        Mode::Dev | Mode::CreateOnly => {
            args.push("dev".into());
            args.push("--name".into());
            args.push(plan.name.clone().unwrap_or_default());
            if plan.mode == Mode::CreateOnly {
                args.push("--create-only".into());
            }
        }
        Mode::Deploy => args.push("deploy".into()),
        Mode::Status => args.push("status".into()),
    }
    args.extend(plan.passthrough.iter().cloned());
    args
}

/// Names of the migrations `_prisma_migrations` records as finished; None
/// when the database cannot be asked.
fn finished(ctx: &Ctx, urls: &Urls) -> Option<Vec<String>> {
    let mut client = urls.connect(ctx)?;
    let schema = urls.url.param("schema").unwrap_or("public");
    Some(
        table::prisma_migrations(&mut client, schema)
            .map(|m| m.applied)
            .unwrap_or_default(),
    )
}

/// After P1017/P1001: db-test's checks name the layer that breaks.
fn explain_with_db_test(ctx: &Ctx, urls: &Urls, style: Style) {
    let report = urls.diagnose(ctx, Layer::Query);
    if report.ok() {
        output::err("  db-test: the connection works now (checks 1-6 pass): the break was transient or happens only under Prisma's longer session (idle timeouts, a pooler): try `cargo xtask db-test --idle-probe 60`");
    } else {
        print_report_brief(&report, style);
    }
}

fn print_report_brief(report: &Report, style: Style) {
    if let Some(c) = report.failed_check() {
        output::err(format!(
            "  db-test: {} at layer {}: {}",
            style.red(report.diagnosis.code.as_str()),
            c.layer.as_str(),
            c.detail
        ));
        output::err(format!("  fix: {}", report.diagnosis.hint));
    }
}

fn show_lock_holder(ctx: &Ctx, urls: &Urls, style: Style) {
    match urls.connect(ctx) {
        Some(mut client) => match table::advisory_lock_holder(&mut client) {
            Some((_, holder)) => output::err(format!("  {} Prisma's migration lock (advisory lock 72707369) is held by {holder}", style.yellow("lock:"))),
            None => output::err("  lock: nobody holds advisory lock 72707369 now (a pooler or RDS Proxy in the path can also cause P1002)"),
        },
        None => output::err("  lock: could not connect to see who holds advisory lock 72707369"),
    }
}
