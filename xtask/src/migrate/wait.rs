//! Stage 3, wait: Prisma's migration lock (advisory lock 72707369), waited
//! for here rather than inside Prisma. Prisma waits 10 s on a connection
//! of its own and fails with P1002; many runners deploying at once (a CI
//! matrix, every replica of a service at start-up) would each hold a
//! connection for that wait and fail behind any migration longer than it.
//! Here a runner looks at the lock on a short connection every second or
//! two, holding none in between, says who holds it, and starts Prisma only
//! when it is free. Runners that see it free at once go through a gate,
//! our own advisory lock (72707369, 1): one starts Prisma, the others wait
//! on until its Prisma holds the lock (`Gate`). A holder that is not a
//! live migration (an idle session left open, a vanished client, a lock
//! left on a pooled backend) is not waited on: it is named with the SQL
//! that ends it, and the tool ends nothing itself.

use std::time::{Duration, Instant};

use super::resolve::Urls;
use crate::conn::Session;
use crate::output::{self, Style};
use crate::prisma::table::{self, Holder};
use crate::util::Ctx;

/// The gate: taken by the runner about to start Prisma, released once its
/// Prisma holds the migration lock (or has ended).
const GATE_SQL: &str = "SELECT pg_try_advisory_lock(72707369, 1)";
/// Whether another runner is at the gate.
const GATE_HELD_SQL: &str = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
     AND classid = 72707369 AND objid = 1 AND objsubid = 2 AND granted \
     AND database = (SELECT oid FROM pg_database WHERE datname = current_database())";
/// How long a holder may sit idle, running nothing, before it is taken for
/// left behind rather than between two statements of a migration: Prisma's
/// own patience with any holder (it gives up after 10 s with P1002). A
/// tagged run whose other session is busy (`migrate dev` replaying its
/// shadow database while its main session idles) stays live.
const STALE_AFTER: u64 = 10;
/// How often the lock is looked at (a little less for each runner, so
/// runners started together drift apart).
const EVERY: Duration = Duration::from_millis(1500);
/// How often an unchanged wait is said again.
const REPEAT: Duration = Duration::from_secs(15);

/// How the wait ended.
pub(super) enum Waited {
    /// The lock is free and this runner holds the gate: start Prisma.
    Free(Gate),
    /// `--lock-wait` ran out with the lock still held.
    TimedOut { holder: Holder },
    /// The holder runs nothing and has not for `STALE_AFTER` seconds.
    Stale { holder: Holder },
    /// The server could not be asked: Prisma waits by itself, as it would
    /// without us.
    Unknown,
    /// Ctrl-C while waiting.
    Interrupted,
    /// After a wait: every migration on disk is recorded as applied
    /// (another runner applied them): nothing for Prisma to do.
    NothingToApply,
}

/// The gate's session, held until this run's Prisma holds the lock.
pub(super) struct Gate(Option<Session>);

impl Gate {
    /// No gate (nothing to hand over): the Unknown case.
    pub(super) fn none() -> Gate {
        Gate(None)
    }

    /// The gate's session, for a read before Prisma starts.
    pub(super) fn session(&mut self) -> Option<&mut Session> {
        self.0.as_mut()
    }

    /// Once a session tagged `like` holds the migration lock: releases the
    /// gate and hands its session on (the watch looks through it, so the
    /// gate costs no connection of its own). None until then, and after.
    pub(super) fn release_when_locked(&mut self, like: &str) -> Option<Session> {
        let s = self.0.as_mut()?;
        let sql = format!(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE {} AND a.application_name LIKE '{}'",
            table::lock_held!(),
            like.replace('\'', "''")
        );
        let b = s.batch(&sql, Duration::from_secs(5));
        if b.error.is_some() {
            self.0 = None;
            return None;
        }
        if first(&b.results) == Some("0") {
            return None;
        }
        let mut s = self.0.take()?;
        s.batch(
            "SELECT pg_advisory_unlock(72707369, 1)",
            Duration::from_secs(5),
        );
        Some(s)
    }
}

/// Waits until the lock is free (and this runner holds the gate), the
/// bound runs out, or the holder turns out to be left behind.
/// `reuse` is a session to look with first (the preflight's); `deploy`
/// says whether, after a wait, the migrations on disk are checked
/// against `_prisma_migrations` before Prisma is started for nothing.
pub(super) fn for_lock(
    ctx: &Ctx,
    urls: &Urls,
    mut reuse: Option<Session>,
    bound: Duration,
    deploy: bool,
    style: Style,
) -> Waited {
    let start = Instant::now();
    let every = EVERY - Duration::from_millis(u64::from(std::process::id() % 500));
    let mut said: Option<(i32, Instant)> = None;
    loop {
        if crate::process::interrupted() {
            return Waited::Interrupted;
        }
        let reused = reuse.is_some();
        let Some(mut s) = reuse.take().or_else(|| urls.connect(ctx)) else {
            return Waited::Unknown;
        };
        match look(&mut s) {
            // The preflight's session may have broken meanwhile: a new one.
            Look::Unknown if reused => continue,
            Look::Free => {
                if deploy && said.is_some() && all_applied(ctx, urls, &mut s) {
                    output::err(format!(
                        "{} the migration lock is free after {:.0}s, and every migration in prisma/migrations is recorded as applied (by the runner that held it): nothing to apply",
                        style.dim("migrate:"),
                        start.elapsed().as_secs_f64()
                    ));
                    return Waited::NothingToApply;
                }
                let b = s.batch(GATE_SQL, Duration::from_secs(5));
                // Another runner's Prisma may have taken the lock between
                // the look and the gate: look again behind the gate.
                if first(&b.results) == Some("t")
                    && !matches!(look(&mut s), Look::Free | Look::Gate)
                {
                    s.batch(
                        "SELECT pg_advisory_unlock(72707369, 1)",
                        Duration::from_secs(5),
                    );
                } else if first(&b.results) == Some("t") {
                    if said.is_some() {
                        output::err(format!(
                            "{} the migration lock is free after {:.0}s: starting Prisma",
                            style.dim("migrate:"),
                            start.elapsed().as_secs_f64()
                        ));
                    }
                    return Waited::Free(Gate(Some(s)));
                }
            }
            // Another runner is about to start Prisma; past the bound,
            // Prisma is started and waits for the lock by itself.
            Look::Gate if start.elapsed() >= bound => return Waited::Unknown,
            Look::Gate => {}
            Look::Held(holder, live) => {
                if !live {
                    return Waited::Stale { holder };
                }
                let waited = start.elapsed();
                if waited >= bound {
                    return Waited::TimedOut { holder };
                }
                if said.is_none_or(|(pid, at)| pid != holder.pid || at.elapsed() >= REPEAT) {
                    say_waiting(&holder, waited, bound, style);
                    said = Some((holder.pid, Instant::now()));
                }
            }
            Look::Unknown => return Waited::Unknown,
        }
        // The connection is closed while we wait: a waiting runner holds none.
        drop(s);
        sleep_unless_interrupted(every);
    }
}

/// The progress line: who holds the lock, and how long we have waited.
fn say_waiting(holder: &Holder, waited: Duration, bound: Duration, style: Style) {
    let state = match holder.stale {
        true => format!("idle: taken for left behind once it has run nothing for {STALE_AFTER}s"),
        false => "a migration in progress".to_string(),
    };
    output::err(format!(
        "{} waiting for the migration lock (advisory lock 72707369), {:.0}s of {}s (--lock-wait), without Prisma: held by {}, {state}",
        style.yellow("migrate:"),
        waited.as_secs_f64(),
        bound.as_secs(),
        holder.described
    ));
}

enum Look {
    Free,
    /// Free, but another runner is at the gate, about to start Prisma.
    Gate,
    /// Held; whether by a live migration.
    Held(Holder, bool),
    Unknown,
}

/// The lock's holder and whether a migration is in progress on it: it
/// runs a statement, or is inside a transaction, or (another xtask run,
/// tagged) one of its run's other sessions does, as `migrate dev`'s shadow
/// replay does while its main session idles; or it has been idle only
/// briefly, between two statements.
fn look(s: &mut Session) -> Look {
    let sql = format!(
        "{};\n{GATE_HELD_SQL};\n{}",
        table::LOCK_HOLDER_SQL,
        SIBLINGS_SQL
    );
    let b = s.batch(&sql, Duration::from_secs(5));
    if b.error.is_some() {
        return Look::Unknown;
    }
    let Some(holder) = b.results.first().and_then(table::lock_holder) else {
        return match b
            .results
            .get(1)
            .and_then(|r| r.first()?.first()?.clone())
            .as_deref()
        {
            Some("0") => Look::Free,
            _ => Look::Gate,
        };
    };
    let siblings_busy = first(&b.results[2..]).is_some_and(|n| n != "0");
    let live = !holder.stale || holder.idle_secs < STALE_AFTER || siblings_busy;
    Look::Held(holder, live)
}

/// Whether another session of the holder's run (the same xtask tag) is
/// running a statement.
const SIBLINGS_SQL: &str = concat!(
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
     JOIN pg_stat_activity s ON s.application_name = a.application_name AND s.pid <> a.pid AND s.state = 'active' \
     WHERE ",
    table::lock_held!(),
    " AND a.application_name LIKE '%xtask-migrate-%'"
);

/// Whether every migration on disk is recorded as finished, none failed.
fn all_applied(ctx: &Ctx, urls: &Urls, s: &mut Session) -> bool {
    let schema = urls.url.param("schema").unwrap_or("public");
    let Some(rows) = table::prisma_migrations(s, schema) else {
        return false;
    };
    let local = table::local_migrations(&ctx.project_dir);
    rows.failed.is_empty() && local.iter().all(|m| rows.applied.contains(m))
}

fn first(results: &[crate::conn::Rows]) -> Option<&str> {
    results.first()?.first()?.first()?.as_deref()
}

fn sleep_unless_interrupted(d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end && !crate::process::interrupted() {
        std::thread::sleep(Duration::from_millis(50));
    }
}
