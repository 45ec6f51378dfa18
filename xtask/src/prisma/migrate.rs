//! The migrate flow, shared by `migrate` and `onboard`: load the URL, tune
//! it as env-fix would (without touching the file), run db-test's checks as
//! a preflight, run the project's pinned Prisma with the URL in its
//! environment only (on the schema engine the plan names), retry what is
//! transient (P1017, P1001, P1002) and explain what is not.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::codes::{self, ErrorCode, Failure};
use super::engine::{Engine, Setup};
use super::urls::Urls;
use super::{table, Install};
use crate::diagnose::{self, Layer, Report, Status};
use crate::flags::Exit;
use crate::input::PasswordSource;
use crate::link::Session;
use crate::output::{self, Style};
use crate::passwords::iam;
use crate::process;
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

    /// Whether Prisma 7.10.1 said it finished (build/cli.js): when its engine dies, it may exit 0.
    fn finished(self, stdout: &str) -> bool {
        let text = codes::strip_ansi(stdout);
        self.done_sentences().iter().any(|s| text.contains(s))
    }

    fn done_sentences(self) -> &'static [&'static str] {
        match self {
            Mode::Deploy => &[
                "All migrations have been successfully applied.",
                "No pending migrations to apply.",
            ],
            Mode::Dev | Mode::CreateOnly => &[
                "Your database is now in sync with your schema.",
                "Already in sync, no schema change or pending migration was found.",
                "Prisma Migrate created the following migration without applying it",
            ],
            Mode::Status => &["Database schema is up to date!"],
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
    /// `--engine`: Prisma's native schema engine or the WebAssembly one.
    pub engine: Engine,
    /// The same xtask command with `--engine wasm`, for the fix after a
    /// failed engine download; None when the caller falls back by itself.
    pub wasm_rerun: Option<String>,
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
    pub engine: Engine,
    pub attempts: Vec<Attempt>,
    pub applied: Vec<String>,
    /// What went wrong and the fix.
    pub diagnosis: Option<(Verdict, String)>,
    pub elapsed: Duration,
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
    // Checked before anything connects: a missing `.wasm` is exit 2.
    let setup = Setup::new(plan.engine, &install, &ctx.workspace_root)?;
    let mut session = match plan
        .preflight
        .then(|| preflight(ctx, plan, &urls, run.style))
    {
        Some(Err(diagnosis)) => {
            let exit = match &diagnosis.0 {
                Verdict::Preflight(code) if code.is_bad_input() => Exit::BadInput,
                _ => Exit::Failed,
            };
            return Ok(run.finish(exit, Some(diagnosis)));
        }
        Some(Ok(s)) => s,
        None => None,
    };
    let args = prisma_args(plan);
    // At a terminal Prisma writes straight to it and we cannot read its
    // list; the database's own record says what was applied instead.
    let stdout_inherited =
        std::io::IsTerminal::is_terminal(&std::io::stdout()) && !plan.prisma_stdout_to_stderr;
    // The preflight's session answers this; it is closed before Prisma
    // starts, so it holds no connection slot meanwhile.
    let recorded_before = stdout_inherited
        .then(|| finished(ctx, &urls, session.take()))
        .flatten();
    drop(session);
    process::install_interrupt_handler();
    announce(&setup, &install, run.style);
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
        setup.apply(&mut cmd);
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
        run.record_applied(&out, recorded_before.as_deref(), stdout_inherited, &urls);
        if let Some(summary) = run.after_attempt(&out, ms, &urls, stdout_inherited)? {
            return Ok(summary);
        }
    }
}

/// Once per run, before Prisma starts: which engine runs, and what we
/// cannot keep off its command line.
fn announce(setup: &Setup, install: &Install, style: Style) {
    output::err(format!(
        "{} engine: {}",
        style.dim("migrate:"),
        setup.describe(install)
    ));
    // We keep the URL out of every command line we start, but Prisma 7.10.1
    // starts its schema engine with `--datasource {"url": ...}` (build/cli.js),
    // and no option of its avoids that: say so rather than claim otherwise.
    output::err(format!(
        "{} Prisma passes the URL, password included, to its schema engine on the command line: other users of this machine can see it in process listings while the migration runs",
        style.dim("note:")
    ));
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
    /// What this attempt applied: from Prisma's output, or at a terminal
    /// (where we cannot read it) from the database's record.
    fn record_applied(
        &mut self,
        out: &process::Output,
        before: Option<&[String]>,
        stdout_inherited: bool,
        urls: &Urls,
    ) {
        match before {
            Some(before) => {
                if let Some(after) = finished(self.ctx, urls, None) {
                    self.applied = after.into_iter().filter(|m| !before.contains(m)).collect();
                }
            }
            None if !stdout_inherited => {
                self.applied.extend(codes::applied_migrations(&out.stdout))
            }
            None => {}
        }
    }

    /// Records an attempt; the summary when the run is over, None to retry.
    fn after_attempt(
        &mut self,
        out: &process::Output,
        ms: u64,
        urls: &Urls,
        stdout_inherited: bool,
    ) -> anyhow::Result<Option<Summary>> {
        let n = self.attempts.len() + 1;
        let said_done = || self.plan.mode.finished(&out.stdout);
        let failure = match out.status {
            _ if process::interrupted() => None,
            // At a terminal Prisma's stdout is not ours to read; `--help`
            // passed through prints help.
            Some(0) if stdout_inherited || self.asked_for_help() || said_done() => None,
            Some(0) => Some(Failure::EngineEnded),
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
        if out.status == Some(0) && failure.is_none() {
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
        // 130 is ours for Ctrl-C; Prisma also uses it when it could not ask.
        let exit = out.status.filter(|c| *c != 0 && *c != 130).unwrap_or(1);
        let diagnosis = self.explain(failure, exit, urls);
        Ok(Some(self.finish(Exit::Child(exit), Some(diagnosis))))
    }

    fn asked_for_help(&self) -> bool {
        self.plan
            .passthrough
            .iter()
            .any(|a| a == "--help" || a == "-h")
    }

    fn wait_before_retry(&self, f: &Failure, n: usize, urls: &Urls) {
        let (what, _) = codes::explain(f, true, None);
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
        let rerun = match self.plan.engine {
            Engine::Native => self.plan.wasm_rerun.as_deref(),
            Engine::Wasm => None,
        };
        let non_tty = !std::io::IsTerminal::is_terminal(&std::io::stdin());
        let (what, fix) = codes::explain(&f, non_tty, rerun);
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
            engine: self.plan.engine,
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

/// db-test's checks before Prisma starts: their session when they pass,
/// the verdict when they fail.
fn preflight(
    ctx: &Ctx,
    plan: &Plan,
    urls: &Urls,
    style: Style,
) -> Result<Option<Session>, (Verdict, String)> {
    let upto = if plan.mode == Mode::Dev {
        Layer::Migrations
    } else {
        Layer::Query
    };
    let (report, session) = urls.diagnose(ctx, upto);
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
    Ok(session)
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

/// Names of the migrations `_prisma_migrations` records as finished, asked
/// on `session` if there is one, else on a new one; None when the database
/// cannot be asked.
fn finished(ctx: &Ctx, urls: &Urls, session: Option<Session>) -> Option<Vec<String>> {
    let mut session = session.or_else(|| urls.connect(ctx))?;
    let schema = urls.url.param("schema").unwrap_or("public");
    Some(
        table::prisma_migrations(&mut session, schema)
            .map(|m| m.applied)
            .unwrap_or_default(),
    )
}

/// After P1017/P1001: db-test's checks name the layer that breaks.
fn explain_with_db_test(ctx: &Ctx, urls: &Urls, style: Style) {
    let (report, _) = urls.diagnose(ctx, Layer::Query);
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
        Some(mut session) => match table::advisory_lock_holder(&mut session) {
            Some((_, holder)) => output::err(format!("  {} Prisma's migration lock (advisory lock 72707369) is held by {holder}", style.yellow("lock:"))),
            None => output::err("  lock: nobody holds advisory lock 72707369 now (a pooler or RDS Proxy in the path can also cause P1002)"),
        },
        None => output::err("  lock: could not connect to see who holds advisory lock 72707369"),
    }
}

#[cfg(test)]
mod tests {
    use super::Mode;

    #[test]
    fn a_run_is_finished_only_when_prisma_says_so() {
        // Prisma 7.10.1's stdout for a deploy whose engine was killed.
        let silent = "Datasource \"db\": PostgreSQL database \"summitly\"\n\n3 migrations found in prisma/migrations\n\n";
        assert!(!Mode::Deploy.finished(silent));
        assert!(Mode::Deploy.finished(&format!("{silent}No pending migrations to apply.\n")));
        assert!(Mode::Deploy
            .finished("\u{1b}[32mAll migrations have been successfully applied.\u{1b}[39m"));
        assert!(Mode::Dev.finished("Your database is now in sync with your schema.\n"));
        assert!(!Mode::Status.finished(silent));
    }
}
