//! Beside stage 4: this run's sessions that outlive their Prisma, found by
//! their tag and cleared, after a failed attempt and after an interrupt. A
//! backend waiting for a lock (Prisma's advisory lock after its 10 s P1002,
//! a table lock) or running a statement does not notice that its client is
//! gone: it would hold a connection slot, take the lock when it frees, or
//! commit after we said the run stopped.

use std::time::{Duration, Instant};

use super::resolve::Tag;
use crate::conn::Session;
use crate::output::{self, Style};

/// What `clear_leftovers` did.
#[derive(Debug, Default)]
pub struct Cleared {
    /// Sessions that were still there and were cancelled or ended.
    pub ended: Vec<String>,
    /// Sessions still there at the end (none unless the server refuses).
    pub remaining: Vec<String>,
}

/// After a Prisma attempt that did not succeed: this run's tagged sessions
/// that outlive their Prisma. A backend waiting for a lock (Prisma's
/// advisory lock after its 10 s P1002, a table lock) does not notice its
/// client is gone: it would wait on, holding a connection slot, and take
/// the lock when it frees. Each is given `grace` to end by itself, then
/// cancelled, then ended: they are this run's own, and their Prisma is gone.
pub(super) fn clear(s: &mut Session, tag: &Tag, grace: Duration, style: Style) -> Cleared {
    let of_run = format!("FROM pg_stat_activity WHERE {}", tag.ours());
    let list = format!("SELECT pid {of_run}");
    let left = |s: &mut Session, wait: Duration| -> Vec<String> {
        let deadline = Instant::now() + wait;
        loop {
            let b = s.batch(&list, Duration::from_secs(5));
            let pids: Vec<String> = b
                .results
                .first()
                .map(|r| {
                    r.iter()
                        .filter_map(|c| c.first().cloned().flatten())
                        .collect()
                })
                .unwrap_or_default();
            if pids.is_empty() || Instant::now() >= deadline {
                return pids;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let mut out = Cleared::default();
    let pids = left(s, grace);
    if pids.is_empty() {
        return out;
    }
    for (how, sql) in [
        (
            "cancelled",
            format!("SELECT pg_cancel_backend(pid) {of_run}"),
        ),
        (
            "ended",
            format!("SELECT pg_terminate_backend(pid) {of_run}"),
        ),
    ] {
        s.batch(&sql, Duration::from_secs(5));
        let now = left(s, Duration::from_secs(3));
        if now.is_empty() {
            output::err(format!(
                "{} Prisma's session(s) (pid {}) outlived it on the server (a backend waiting for a lock does not see its client go): {how}",
                style.yellow("migrate:"),
                pids.join(", ")
            ));
            out.ended = pids;
            return out;
        }
    }
    out.remaining = left(s, Duration::ZERO);
    out
}
