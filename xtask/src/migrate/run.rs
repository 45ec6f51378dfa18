//! Stage 4, run: the project's pinned Prisma with the URL in its
//! environment only, on the schema engine the plan names; P1017, P1001 and
//! P1002 are retried with a growing pause. Hands on every attempt, what was
//! applied, and how the run ended.

use std::time::{Duration, Instant};

use anyhow::Context;

use super::leftovers;
use super::resolve::Urls;
use super::wait::{self, Gate, Waited};
use super::watch::{Cancelled, Idle, Wait, Watch};
use super::{Attempt, Mode, Plan};
use crate::conn::Session;
use crate::output::{self, Style};
use crate::prisma::codes::{self, ErrorCode, Failure};
use crate::prisma::engine::Setup;
use crate::prisma::table::{self, Holder};
use crate::prisma::Install;
use crate::process;
use crate::util::Ctx;

/// Idle seconds that make a P1017 an idle cut rather than a random break.
const IDLE_EVIDENCE: u64 = 2;
/// Lost races before a P1002 counts as a failure again.
const MAX_LOST_RACES: usize = 20;

/// The Prisma install a run uses, found once.
pub(super) struct Prisma<'a> {
    pub install: &'a Install,
    pub version: &'a str,
    pub setup: &'a Setup,
}

/// How the attempts ended.
#[derive(Debug, Clone)]
pub(super) enum Ended {
    Success,
    Interrupted,
    /// The migration lock stayed held: by a session left behind (stale),
    /// or by a live migration past `--lock-wait`.
    LockHeld {
        holder: Holder,
        waited: Duration,
        stale: bool,
    },
    /// Not transient, or out of retries.
    Failed(Box<Failed>),
}

/// Prisma's failure (None when its output says nothing we know), the exit
/// status passed on, and what the attempt left besides.
#[derive(Debug, Clone)]
pub(super) struct Failed {
    pub failure: Option<Failure>,
    pub exit: i32,
    /// P3018's migration, SQLSTATE and message.
    pub script: Option<codes::ScriptError>,
    /// A P1017 that came after a session of Prisma's was seen idle.
    pub idle: Option<Idle>,
}

/// What the run stage hands on.
pub(super) struct Ran {
    pub attempts: Vec<Attempt>,
    pub applied: Vec<String>,
    pub ended: Ended,
    /// What the watch saw the tagged sessions wait on, over all attempts.
    pub waits: Vec<Wait>,
    /// On an interrupt: the tagged sessions then, their statements
    /// cancelled (None without an interrupt or without a watch).
    pub cancelled: Option<Vec<Cancelled>>,
    /// Time spent waiting for the migration lock, without Prisma.
    pub lock_waited: Duration,
}

/// Runs Prisma until it succeeds, fails for good, or is interrupted.
pub(super) fn attempts(
    ctx: &Ctx,
    plan: &Plan,
    urls: &mut Urls,
    prisma: &Prisma,
    session: Option<Session>,
    style: Style,
) -> anyhow::Result<Ran> {
    let mut run = Run {
        ctx,
        plan,
        style,
        attempts: Vec::new(),
        applied: Vec::new(),
        waits: Vec::new(),
        cancelled: None,
        idle: None,
        lock_waited: Duration::ZERO,
        lost_races: 0,
        preflight_session: None,
    };
    let args = prisma_args(plan);
    // At a terminal Prisma writes straight to it and we cannot read its
    // list; the database's own record says what was applied instead.
    let stdout_inherited =
        std::io::IsTerminal::is_terminal(&std::io::stdout()) && !plan.prisma_stdout_to_stderr;
    // The wait stage's first look uses the preflight's session (and keeps
    // it as the gate): no connection of our own is opened before Prisma's.
    run.preflight_session = session;
    announce(prisma.setup, prisma.install, style);
    loop {
        let n = run.attempts.len() + 1;
        let mut gate = match run.wait_for_lock(urls) {
            Ok(gate) => gate,
            Err(ended) => return Ok(run.ran(ended)),
        };
        // What is applied before this attempt, read behind the gate (no
        // other runner migrates meanwhile): at a terminal, and after a
        // failure (Prisma lists what it applied only when it succeeds),
        // the database's record says what the attempt applied.
        let before = match gate.session() {
            Some(s) => finished_on(s, urls),
            None if stdout_inherited => finished(ctx, urls),
            None => None,
        };
        if n > 1 && urls.token_at.is_some() {
            urls.fetch_password(plan)?;
        }
        output::err(format!(
            "{} running {} (prisma {}, attempt {n} of {})",
            style.dim("migrate:"),
            prisma.install.display(&args),
            prisma.version,
            plan.retries + 1
        ));
        let mut cmd = prisma.install.prisma_command(&ctx.sh, &args);
        // The env files' variables first: the engine we set up wins over a
        // PRISMA_SCHEMA_ENGINE_BINARY kept in .env.local.
        cmd.envs(urls.child_env());
        prisma.setup.apply(&mut cmd);
        let t0 = Instant::now();
        let out = run.watched(cmd, urls, gate).with_context(|| {
            format!(
                "cannot start {}: is Node.js installed and on PATH?",
                prisma.install.display(&[])
            )
        })?;
        let ms = output::ms_since(t0);
        if !out.succeeded() && !process::interrupted() {
            clear_leftovers(ctx, urls, style);
        }
        run.record_applied(&out, before.as_deref(), stdout_inherited, urls);
        if let Some(ended) = run.after_attempt(&out, ms, urls, stdout_inherited) {
            return Ok(run.ran(ended));
        }
    }
}

/// After a failed attempt: this run's sessions that outlived Prisma
/// (`watch::clear_leftovers`), before a retry or the diagnosis.
fn clear_leftovers(ctx: &Ctx, urls: &Urls, style: Style) {
    if let (Some(tag), Some(mut s)) = (&urls.tag, urls.connect(ctx)) {
        leftovers::clear(&mut s, tag, Duration::from_secs(1), style);
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
/// on a new session; None when the database cannot be asked.
fn finished(ctx: &Ctx, urls: &Urls) -> Option<Vec<String>> {
    finished_on(&mut urls.connect(ctx)?, urls)
}

/// The same, on `session`.
fn finished_on(session: &mut Session, urls: &Urls) -> Option<Vec<String>> {
    let schema = urls.url.param("schema").unwrap_or("public");
    table::prisma_migrations(session, schema).map(|m| m.applied)
}

/// The state of the attempts.
struct Run<'a> {
    ctx: &'a Ctx,
    plan: &'a Plan,
    style: Style,
    attempts: Vec<Attempt>,
    applied: Vec<String>,
    waits: Vec<Wait>,
    cancelled: Option<Vec<Cancelled>>,
    /// The longest idleness the watch saw in the last attempt.
    idle: Option<Idle>,
    /// Time spent in the wait stage so far, against `--lock-wait`.
    lock_waited: Duration,
    /// P1002s after the lock was seen free: another runner got it first.
    lost_races: usize,
    /// The preflight's session, for the wait stage's first look.
    preflight_session: Option<Session>,
}

impl Run<'_> {
    /// What the stage hands on.
    fn ran(self, ended: Ended) -> Ran {
        Ran {
            attempts: self.attempts,
            applied: self.applied,
            ended,
            waits: self.waits,
            cancelled: self.cancelled,
            lock_waited: self.lock_waited,
        }
    }

    /// Stage 3 before each attempt: the migration lock, waited for without
    /// Prisma (`migrate status` takes no lock).
    fn wait_for_lock(&mut self, urls: &Urls) -> Result<Gate, Ended> {
        // --no-preflight: nothing touches the database before Prisma.
        // Through a pooler the lock and the gate would sit on a server
        // connection that outlives our client: Prisma waits by itself.
        if self.plan.mode == Mode::Status || !self.plan.preflight || urls.pooled {
            self.preflight_session = None;
            return Ok(Gate::none());
        }
        let t0 = Instant::now();
        let left = self.plan.lock_wait.saturating_sub(self.lock_waited);
        let deploy = self.plan.mode == Mode::Deploy;
        let first = self.preflight_session.take();
        let waited = wait::for_lock(self.ctx, urls, first, left, deploy, self.style);
        self.lock_waited += t0.elapsed();
        match waited {
            Waited::Free(gate) => Ok(gate),
            Waited::Unknown => Ok(Gate::none()),
            Waited::Interrupted => Err(Ended::Interrupted),
            Waited::NothingToApply => Err(Ended::Success),
            Waited::Stale { holder } => Err(Ended::LockHeld {
                holder,
                waited: self.lock_waited,
                stale: true,
            }),
            Waited::TimedOut { holder } => Err(Ended::LockHeld {
                holder,
                waited: self.lock_waited,
                stale: false,
            }),
        }
    }

    /// One Prisma run, watched from the server's side while it is quiet.
    fn watched(
        &mut self,
        cmd: std::process::Command,
        urls: &Urls,
        gate: Gate,
    ) -> anyhow::Result<process::Output> {
        let activity = process::Activity::new();
        // Held here until Prisma ends when there is no watch to let go of
        // it once Prisma holds the lock.
        let mut gate = Some(gate);
        let watch = urls
            .tag
            .clone()
            .zip(urls.side_target(self.ctx))
            .map(|(tag, target)| {
                let gate = gate.take().unwrap_or_else(Gate::none);
                Watch::start(target, tag, activity.clone(), gate, self.style)
            });
        let out = process::run_child(cmd, self.plan.prisma_stdout_to_stderr, &activity);
        drop(gate);
        let seen = watch.map(Watch::finish).unwrap_or_default();
        self.waits.extend(seen.waits);
        self.idle = seen.idle;
        self.cancelled = self.cancelled.take().or(seen.cancelled);
        out
    }

    /// What this attempt applied: from Prisma's output, or at a terminal
    /// (where we cannot read it) and after a failure (where it says
    /// nothing) from the database's record.
    fn record_applied(
        &mut self,
        out: &process::Output,
        before: Option<&[String]>,
        stdout_inherited: bool,
        urls: &Urls,
    ) {
        let listed = codes::applied_migrations(&out.stdout);
        // Prisma's own list, when it printed one (it does on success).
        let printed = out.succeeded() || !listed.is_empty();
        let new = if printed && !stdout_inherited {
            listed
        } else if codes::classify(&format!("{}\n{}", out.stdout, out.stderr))
            == Some(Failure::Code(ErrorCode::P1002))
        {
            // It never held the lock: whatever was applied meanwhile was
            // another runner's.
            Vec::new()
        } else {
            // At a terminal, or after a failure: what the database records
            // as finished now and did not before this attempt.
            match (before, finished(self.ctx, urls)) {
                (Some(before), Some(after)) => {
                    after.into_iter().filter(|m| !before.contains(m)).collect()
                }
                _ => Vec::new(),
            }
        };
        for m in new {
            if !self.applied.contains(&m) {
                self.applied.push(m);
            }
        }
    }

    /// Records an attempt; how the run ended, or None to retry.
    fn after_attempt(
        &mut self,
        out: &process::Output,
        ms: u64,
        urls: &Urls,
        stdout_inherited: bool,
    ) -> Option<Ended> {
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
            return Some(Ended::Interrupted);
        }
        if out.status == Some(0) && failure.is_none() {
            return Some(Ended::Success);
        }
        // A connection cut after it sat idle is cut again on a retry,
        // which idles as long: not worth one.
        let idle = self.idle_cut(failure.as_ref(), ms);
        let transient = failure.as_ref().is_some_and(codes::is_transient) && idle.is_none();
        // Prisma waited its 10 s for a lock we saw free: another runner
        // got it first. Not a failure: back to waiting.
        let lost_race = self.lost_race(failure.as_ref(), out, urls);
        if lost_race {
            self.lost_races += 1;
            // Prisma's own wait counts against --lock-wait too.
            self.lock_waited += Duration::from_millis(ms);
            output::err(format!(
                "{} another runner took the migration lock first (Prisma's P1002): waiting for it again",
                self.style.dim("migrate:")
            ));
            return None;
        }
        let retried = n - self.lost_races;
        if let (true, Some(f)) = (transient && (retried as u32) <= self.plan.retries, &failure) {
            self.wait_before_retry(f, n, urls);
            return None;
        }
        // Not transient, or out of retries: `diagnose` explains.
        // 130 is ours for Ctrl-C; Prisma also uses it when it could not ask.
        let exit = out.status.filter(|c| *c != 0 && *c != 130).unwrap_or(1);
        let script = (failure == Some(Failure::Code(ErrorCode::P3018)))
            .then(|| codes::script_error(&format!("{}\n{}", out.stdout, out.stderr)))
            .flatten();
        Some(Ended::Failed(Box::new(Failed {
            failure,
            exit,
            script,
            idle,
        })))
    }

    /// The evidence of an idle cut behind a P1017: with a server limit,
    /// only one the attempt lasted long enough to reach; without one, a
    /// cut after a couple of idle seconds.
    fn idle_cut(&mut self, failure: Option<&Failure>, ms: u64) -> Option<Idle> {
        (failure == Some(&Failure::Code(ErrorCode::P1017)))
            .then(|| self.idle.take())
            .flatten()
            .filter(|i| match &i.limit {
                Some(l) => l.ms <= ms + 1000,
                None => i.seconds >= IDLE_EVIDENCE,
            })
    }

    /// Whether a P1002 is about the migration lock, after this run waited
    /// for it and saw it free, within the bounds.
    fn lost_race(&self, failure: Option<&Failure>, out: &process::Output, urls: &Urls) -> bool {
        failure == Some(&Failure::Code(ErrorCode::P1002))
            && codes::strip_ansi(&format!("{}{}", out.stdout, out.stderr)).contains("advisory lock")
            && urls.tag.is_some()
            && self.plan.preflight
            && self.lost_races < MAX_LOST_RACES
            && self.lock_waited < self.plan.lock_wait
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
            super::diagnose::show_lock_holder(self.ctx, urls, self.style);
        }
        std::thread::sleep(wait);
    }
}
