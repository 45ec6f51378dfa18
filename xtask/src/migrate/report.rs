//! Stage 6, report: the run's summary, built in one place and printed as
//! one line; `cmd::migrate` renders it for `--json`, onboard as its step.

use std::time::{Duration, Instant};

use super::run::Ran;
use super::{Plan, Summary, Verdict};
use crate::exit::Exit;
use crate::output::{self, Style};
use crate::prisma::table::Holder;

/// The migration lock stayed held: who holds it, for how long we waited,
/// and what to do; the verdict and the fix.
pub(super) fn lock_held(
    holder: &Holder,
    waited: Duration,
    stale: bool,
    plan: &Plan,
    style: Style,
) -> (Verdict, String) {
    let (verdict, what, fix) = if stale {
        (
            Verdict::LockStale,
            format!("the migration lock (advisory lock 72707369) is held by {}, which runs nothing: not a migration in progress", holder.described),
            format!("end it with `SELECT pg_terminate_backend({})` if nobody needs it (a session left open, a crashed deploy, a lock left on a pooler's connection; unless a `migrate dev` waits at its prompt), then run the same command again", holder.pid),
        )
    } else {
        (
            Verdict::LockWaitTimeout,
            format!("the migration lock (advisory lock 72707369) was still held after {:.0}s (--lock-wait {}): by {}, a migration in progress", waited.as_secs_f64(), plan.lock_wait.as_secs(), holder.described),
            format!("let it finish and run the same command again, or wait longer with --lock-wait; if it hangs, end it with `SELECT pg_terminate_backend({})`", holder.pid),
        )
    };
    output::err(format!("{} {what}", style.red("migrate:")));
    output::err(format!("  fix: {fix}"));
    (verdict, fix)
}

/// Builds the summary and prints its line.
pub(super) fn summary(
    plan: &Plan,
    start: Instant,
    // None: the preflight stopped the run before Prisma started.
    ran: Option<Ran>,
    exit: Exit,
    diagnosis: Option<(Verdict, String)>,
    style: Style,
) -> Summary {
    let (attempts, applied, waits, lock_waited) = ran
        .map(|r| (r.attempts, r.applied, r.waits, r.lock_waited))
        .unwrap_or_default();
    let s = Summary {
        ok: exit == Exit::Success,
        exit,
        mode: plan.mode,
        engine: plan.engine,
        attempts,
        applied,
        waits,
        lock_waited,
        diagnosis,
        elapsed: start.elapsed(),
    };
    let result = if s.ok {
        style.green("ok")
    } else {
        style.red("failed")
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
