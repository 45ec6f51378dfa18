//! Stage 6, report: the run's summary, built in one place and printed as
//! one line; `cmd::migrate` renders it for `--json`, onboard as its step.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::run::Ran;
use super::{Plan, Summary, Verdict};
use crate::exit::Exit;
use crate::output::{self, Style};
use crate::prisma::table::Holder;
use crate::util::Ctx;

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

/// Where the last run's summary is kept for `cargo xtask report`: the
/// workspace's target directory (git-ignored, where the dev-db lives), one
/// file per project directory (named by an FNV-1a hash of its path, stable
/// across builds).
pub fn last_run_path(ctx: &Ctx) -> PathBuf {
    let hash = project_key(ctx)
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    ctx.target_dir()
        .join("xtask")
        .join(format!("last-migrate-{hash:016x}.txt"))
}

/// The project directory as the kept file names it: resolved, so `app`,
/// `app/` and a link to it are one project.
pub fn project_key(ctx: &Ctx) -> PathBuf {
    std::fs::canonicalize(&ctx.project_dir).unwrap_or_else(|_| ctx.project_dir.clone())
}

/// Keeps the run's summary, 0600, one file per workspace: the project,
/// when, the outcome, each attempt, the waits and the diagnosis (hints are
/// masked by construction, as everywhere). A failure to keep it is said
/// and is not the run's failure.
fn keep(ctx: &Ctx, s: &Summary) {
    let when = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut lines = vec![
        format!("project: {}", project_key(ctx).display()),
        format!("finished: {when}"),
        format!(
            "migrate --{} on the {} engine: {}, exit {}, {} attempt(s), {:.1}s",
            s.mode.as_str(),
            s.engine.as_str(),
            if s.ok { "ok" } else { "failed" },
            s.exit.code(),
            s.attempts.len(),
            s.elapsed.as_secs_f64()
        ),
    ];
    for (i, a) in s.attempts.iter().enumerate() {
        lines.push(format!(
            "attempt {}: {} after {:.1}s (exit {})",
            i + 1,
            a.failure
                .as_ref()
                .map(|f| f.code())
                .unwrap_or_else(|| "ok".into()),
            a.ms as f64 / 1000.0,
            a.exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "none".into())
        ));
    }
    if s.lock_waited >= Duration::from_secs(1) {
        lines.push(format!(
            "waited {:.1}s for the migration lock",
            s.lock_waited.as_secs_f64()
        ));
    }
    lines.push(match s.applied.is_empty() {
        true => "applied: none".into(),
        false => format!("applied: {}", s.applied.join(", ")),
    });
    for w in &s.waits {
        lines.push(format!("waited: {}", super::watch_sentence(w)));
    }
    if let Some((verdict, hint)) = &s.diagnosis {
        lines.push(format!("diagnosis: {}: {hint}", verdict.code()));
    }
    let path = last_run_path(ctx);
    let text = crate::secret::redact(&(lines.join("\n") + "\n"));
    let kept = std::fs::create_dir_all(path.parent().unwrap_or(&path))
        .map_err(anyhow::Error::from)
        .and_then(|_| crate::util::atomic_write_as(&path, text.as_bytes(), &path));
    if let Err(e) = kept {
        output::err(format!(
            "migrate: the run's summary was not kept for `cargo xtask report`: {e:#}"
        ));
    }
}

/// Builds the summary and prints its line.
pub(super) fn summary(
    ctx: &Ctx,
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
    // A status check or Prisma's help would put the run worth reporting
    // out of the file.
    if plan.mode != super::Mode::Status
        && !plan.passthrough.iter().any(|a| a == "--help" || a == "-h")
    {
        keep(ctx, &s);
    }
    s
}
