//! The migrate flow, shared by `migrate` and `onboard`, as stages that hand
//! typed values forward, one module each, in the order they run:
//! `resolve` (the URLs Prisma will use, tuned as env-fix would, without
//! touching the file) → `preflight` (db-test's checks) → `wait` (for the
//! migration lock) → `run` (the project's pinned Prisma, with the URL in
//! its environment only, retrying what is transient: P1017, P1001, P1002)
//! → `diagnose` (what a failure means and its fix) → `report` (the
//! summary `cmd::migrate` and onboard render).

mod diagnose;
mod evidence;
mod leftovers;
mod preflight;
mod report;

pub use report::{last_run_path, project_key};
mod resolve;
mod run;
mod settle;
mod wait;
mod watch;

// WaitKind is named by names.rs, which pins its JSON names.
#[allow(unused_imports)]
pub use watch::{sentence as watch_sentence, Wait, WaitKind};

use std::time::{Duration, Instant};

use crate::diagnose::Code;
use crate::exit::Exit;
use crate::input::PasswordSource;
use crate::output::Style;
use crate::prisma::codes::Failure;
use crate::prisma::engine::{Engine, Setup};
use crate::prisma::Install;
use crate::process;
use crate::util::Ctx;

stable_names! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Mode {
        Dev = "dev",
        CreateOnly = "create-only",
        Deploy = "deploy",
        Status = "status",
    }
}

impl Mode {
    /// Whether Prisma 7.10.1 said it finished (build/cli.js): when its engine dies, it may exit 0.
    pub(super) fn finished(self, stdout: &str) -> bool {
        let text = crate::prisma::codes::strip_ansi(stdout);
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

/// `--lock-wait`'s default: long enough for the migrations of most
/// deploys, short of the hour most CI jobs are given.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(600);

/// Everything one migrate run needs.
pub struct Plan {
    pub mode: Mode,
    pub name: Option<String>,
    pub preflight: bool,
    pub tune: bool,
    pub retries: u32,
    pub retry_delay: Duration,
    /// `--lock-wait`: how long to wait for Prisma's migration lock while
    /// a live migration holds it.
    pub lock_wait: Duration,
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
    Preflight(Code),
    /// Prisma failed and its output says why.
    Prisma(Failure),
    /// Prisma failed without a message we know.
    Unknown,
    /// Ctrl-C.
    Interrupted,
    /// The migration lock's holder runs nothing: left behind.
    LockStale,
    /// `--lock-wait` ran out while a live migration held the lock.
    LockWaitTimeout,
}

impl Verdict {
    pub fn code(&self) -> String {
        match self {
            Verdict::Preflight(c) => c.as_str().to_string(),
            Verdict::Prisma(f) => f.code(),
            Verdict::Unknown => "unknown".into(),
            Verdict::Interrupted => "interrupted".into(),
            Verdict::LockStale => "lock_stale".into(),
            Verdict::LockWaitTimeout => "lock_wait_timeout".into(),
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
    /// What Prisma's sessions were seen waiting on while it was quiet.
    pub waits: Vec<Wait>,
    /// Time spent waiting for the migration lock before Prisma started.
    pub lock_waited: Duration,
    /// What went wrong and the fix.
    pub diagnosis: Option<(Verdict, String)>,
    pub elapsed: Duration,
}

/// Runs the whole migrate flow, stage by stage.
pub fn migrate(ctx: &Ctx, plan: &Plan) -> anyhow::Result<Summary> {
    let start = Instant::now();
    let style = Style::stderr();
    let mut urls = resolve::Urls::load(ctx, plan, style)?;
    let install = Install::find(&ctx.project_dir);
    let version = install.prisma_version()?;
    // Checked before anything connects: a missing `.wasm` is exit 2.
    let setup = Setup::new(plan.engine, &install, &ctx.workspace_root)?;
    let session = match plan
        .preflight
        .then(|| preflight::check(ctx, plan, &urls, style))
    {
        Some(Err((code, hint))) => {
            let exit = if code.is_bad_input() {
                Exit::BadInput
            } else {
                Exit::Failed
            };
            let diagnosis = Some((Verdict::Preflight(code), hint));
            return Ok(report::summary(
                ctx, plan, start, None, exit, diagnosis, style,
            ));
        }
        Some(Ok(s)) => s,
        None => None,
    };
    process::install_interrupt_handler();
    let prisma = run::Prisma {
        install: &install,
        version: &version,
        setup: &setup,
    };
    let ran = run::attempts(ctx, plan, &mut urls, &prisma, session, style)?;
    let (exit, diagnosis) = match &ran.ended {
        run::Ended::Success => (Exit::Success, None),
        run::Ended::LockHeld {
            holder,
            waited,
            stale,
        } => (
            Exit::Failed,
            Some(report::lock_held(holder, *waited, *stale, plan, style)),
        ),
        run::Ended::Interrupted => (
            Exit::Interrupted,
            Some((
                Verdict::Interrupted,
                settle::after_interrupt(ctx, &urls, &ran, start.elapsed().as_secs(), style),
            )),
        ),
        run::Ended::Failed(failed) => (
            Exit::Child(failed.exit),
            Some(diagnose::explain(
                ctx,
                plan,
                failed.failure.clone(),
                diagnose::Left {
                    exit: failed.exit,
                    script: failed.script.as_ref(),
                    idle: failed.idle.as_ref(),
                },
                &urls,
                style,
            )),
        ),
    };
    Ok(report::summary(
        ctx,
        plan,
        start,
        Some(ran),
        exit,
        diagnosis,
        style,
    ))
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
