//! Beside stage 4, the watch: while Prisma runs, the sessions it opened
//! (tagged by `resolve`) are looked at from one side session whenever
//! Prisma has printed nothing for a few seconds: what they wait on (the
//! migration lock, a table lock, a long statement), who is in the way and
//! which timeout will end it, said when it starts and when it changes.
//! On Ctrl-C or SIGTERM it cancels their statements on the server at once:
//! stopping Prisma alone leaves the statement running, holding the lock,
//! and free to commit after we said the run was interrupted. It touches no
//! session it did not tag, and ends none.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::resolve::Tag;
use super::wait::Gate;
use crate::conn::{self, Session, Target};
use crate::diagnose::{self, Limit, Setting};
use crate::output::{self, Style};
use crate::prisma::table::{self, Holder};
use crate::process::{self, Activity};

/// Prisma's silence after which the watch looks.
const QUIET: Duration = Duration::from_secs(3);
/// How often it looks while Prisma stays quiet.
const EVERY: Duration = Duration::from_secs(1);
/// How often the gate checks whether Prisma holds the lock yet.
const GATE_EVERY: Duration = Duration::from_millis(250);
/// How often an unchanged wait is said again.
const REPEAT: Duration = Duration::from_secs(15);

stable_names! {
    /// What a tagged session was seen waiting on.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum WaitKind {
        AdvisoryLock = "advisory_lock",
        TableLock = "table_lock",
        Statement = "statement",
    }
}

/// One thing a tagged session waited on.
#[derive(Debug, Clone)]
pub struct Wait {
    pub kind: WaitKind,
    /// The tagged session's pid.
    pub pid: i32,
    /// How long it had waited (or run) when last seen.
    pub seconds: u64,
    /// The sentence, without the elapsed time.
    pub said: String,
    /// The session in the way, if one is.
    pub holder: Option<Holder>,
    /// The timeout that will end it, when one applies.
    pub limit: Option<Limit>,
}

impl Wait {
    /// The same wait (the same kind, on the same holder or relation).
    fn same(&self, other: &Wait) -> bool {
        self.kind == other.kind
            && self.pid == other.pid
            && self.holder.as_ref().map(|h| h.pid) == other.holder.as_ref().map(|h| h.pid)
            && self.said == other.said
    }
}

/// A tagged session found when the run was interrupted.
#[derive(Debug, Clone)]
pub struct Cancelled {
    pub pid: i32,
    /// It was running a statement, which was cancelled.
    pub was_active: bool,
}

/// The longest a tagged session was seen idle (`migrate dev`'s main
/// connection idles while the shadow database replays the history).
#[derive(Debug, Clone)]
pub struct Idle {
    pub pid: i32,
    pub seconds: u64,
    /// The server's idle_session_timeout for the role, if one is set.
    pub limit: Option<Limit>,
}

/// What the watch saw during one attempt.
#[derive(Debug, Default)]
pub struct Seen {
    pub waits: Vec<Wait>,
    pub idle: Option<Idle>,
    /// Set when an interrupt came: the tagged sessions then (empty when
    /// the server could not be reached to cancel them).
    pub cancelled: Option<Vec<Cancelled>>,
}

/// The watch of one Prisma attempt, on its own thread.
pub(super) struct Watch {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Seen>,
}

impl Watch {
    /// Starts watching; `gate` (the wait stage's) is released once this
    /// run's Prisma holds the migration lock.
    pub(super) fn start(
        target: Target,
        tag: Tag,
        activity: Activity,
        mut gate: Gate,
        style: Style,
    ) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let like = tag.like();
            let mut gate_at = Instant::now();
            let mut w = Watcher {
                target,
                tag,
                style,
                session: None,
                unreachable: false,
                limits: Vec::new(),
                seen: Seen::default(),
                said_at: None,
            };
            let mut next_look = Instant::now();
            loop {
                // Checked before `stop`: the interrupt that ends Prisma
                // must still reach the server.
                if process::interrupted() && w.seen.cancelled.is_none() {
                    w.cancel();
                }
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                if gate_at.elapsed() >= GATE_EVERY {
                    if let Some(s) = gate.release_when_locked(&like) {
                        w.adopt(s);
                    }
                    gate_at = Instant::now();
                }
                if !process::interrupted()
                    && activity.quiet_for() >= QUIET
                    && Instant::now() >= next_look
                {
                    w.look();
                    next_look = Instant::now() + EVERY;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            w.seen
        });
        Watch { stop, handle }
    }

    /// Stops the watch once Prisma has ended; what it saw.
    pub(super) fn finish(self) -> Seen {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap_or_default()
    }
}

struct Watcher {
    target: Target,
    tag: Tag,
    style: Style,
    session: Option<Session>,
    /// The side session could not be opened: the watch gives up quietly
    /// rather than try on every look.
    unreachable: bool,
    limits: Vec<Limit>,
    seen: Seen,
    /// When the last wait was said.
    said_at: Option<Instant>,
}

impl Watcher {
    /// The side session, opened at the first look (none while Prisma
    /// talks), unless the gate's was handed on.
    fn session(&mut self) -> Option<&mut Session> {
        if self.session.is_none() && !self.unreachable {
            match conn::connect(&self.target) {
                Ok(s) => self.adopt(s),
                Err(_) => self.unreachable = true,
            }
        }
        self.session.as_mut()
    }

    /// Takes `s` as the side session, if there is none yet.
    fn adopt(&mut self, mut s: Session) {
        if self.session.is_none() {
            let b = s.batch(diagnose::TIMEOUTS_SQL, Duration::from_secs(5));
            self.limits = b.results.first().map(diagnose::limits).unwrap_or_default();
            self.session = Some(s);
        }
    }

    fn look(&mut self) {
        let sql = format!("{};\n{}", watch_sql(&self.tag), idle_sql(&self.tag));
        let Some(s) = self.session() else { return };
        let b = s.batch(&sql, Duration::from_secs(5));
        if b.error.is_some() {
            // Broken (an idle cut, a restart): open a new one next time.
            self.session = None;
        }
        for row in b.results.first().into_iter().flatten() {
            if let Some(wait) = self.wait(row) {
                self.note(wait);
            }
        }
        for row in b.results.get(1).into_iter().flatten() {
            let num = |i: usize| {
                row.get(i)
                    .cloned()
                    .flatten()
                    .and_then(|v| v.parse::<u64>().ok())
            };
            let (Some(pid), Some(seconds)) = (num(0), num(1)) else {
                continue;
            };
            if self.seen.idle.as_ref().is_none_or(|i| seconds > i.seconds) {
                self.seen.idle = Some(Idle {
                    pid: pid as i32,
                    seconds,
                    limit: Limit::find(&self.limits, Setting::IdleSession),
                });
            }
        }
    }

    /// A row of `watch_sql` as a wait.
    fn wait(&self, r: &[Option<String>]) -> Option<Wait> {
        let text = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
        let pid: i32 = text(0).parse().ok()?;
        let (event_type, event, secs, query, relation) =
            (text(1), text(2), text(3), text(4), text(5));
        let shadow = text(13).starts_with("prisma_migrate_shadow_db_");
        let seconds = secs.parse().unwrap_or(0);
        let holder = r
            .get(6)
            .cloned()
            .flatten()
            .and_then(|_| table::lock_holder(&vec![r[6..13].to_vec()]));
        let limit = |setting| Limit::find(&self.limits, setting);
        let (kind, said, limit) = match (event_type.as_str(), event.as_str()) {
            ("Lock", "advisory") => (
                WaitKind::AdvisoryLock,
                "Prisma waits for its migration lock (advisory lock 72707369)".to_string(),
                None,
            ),
            ("Lock", _) => {
                let on = if relation.is_empty() {
                    format!("a {event} lock")
                } else {
                    format!("a lock on {relation}")
                };
                (
                    WaitKind::TableLock,
                    format!("the migration waits for {on}"),
                    limit(Setting::Lock),
                )
            }
            _ => (
                WaitKind::Statement,
                match shadow {
                    true => format!(
                        "a migration statement is replaying in the shadow database (`{query}`)"
                    ),
                    false => format!("a migration statement is running (`{query}`)"),
                },
                limit(Setting::Statement),
            ),
        };
        Some(Wait {
            kind,
            pid,
            seconds,
            said,
            holder,
            limit,
        })
    }

    /// Records a wait, and says it when it is new or has lasted a while.
    fn note(&mut self, wait: Wait) {
        let known = self.seen.waits.iter_mut().find(|w| w.same(&wait));
        let say = match known {
            Some(w) => {
                w.seconds = wait.seconds;
                self.said_at.is_some_and(|t| t.elapsed() >= REPEAT)
            }
            None => true,
        };
        if say {
            output::err(format!(
                "{} {}",
                self.style.yellow("migrate:"),
                sentence(&wait)
            ));
            self.said_at = Some(Instant::now());
        }
        if !self.seen.waits.iter().any(|w| w.same(&wait)) {
            self.seen.waits.push(wait);
        }
    }

    /// The interrupt: cancel what the tagged sessions are running.
    fn cancel(&mut self) {
        let sql = format!(
            "SELECT pid, state = 'active', CASE WHEN state = 'active' THEN pg_cancel_backend(pid) ELSE false END \
             FROM pg_stat_activity WHERE {}",
            self.tag.ours()
        );
        let style = self.style;
        // An earlier failure to connect does not stop the cancel: try again.
        self.unreachable = false;
        let Some(s) = self.session() else {
            output::err(format!("{} interrupted, and the server could not be reached to cancel the migration's statement", style.red("migrate:")));
            self.seen.cancelled = Some(Vec::new());
            return;
        };
        let b = s.batch(&sql, Duration::from_secs(5));
        let cancelled: Vec<Cancelled> = b
            .results
            .first()
            .map(|rows| {
                rows.iter()
                    .filter_map(|r| {
                        let pid = r.first().cloned().flatten()?.parse().ok()?;
                        let was_active = r.get(1).cloned().flatten().as_deref() == Some("t");
                        Some(Cancelled { pid, was_active })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let active: Vec<String> = cancelled
            .iter()
            .filter(|c| c.was_active)
            .map(|c| c.pid.to_string())
            .collect();
        if !active.is_empty() {
            output::err(format!(
                "{} interrupted: cancelled the migration's statement on the server (pid {})",
                style.yellow("migrate:"),
                active.join(", ")
            ));
        }
        self.seen.cancelled = Some(cancelled);
    }
}

/// The sentence for a wait, with its holder and its timeout.
pub fn sentence(w: &Wait) -> String {
    let mut out = format!("{}, {}s so far", w.said, w.seconds);
    if let Some(h) = &w.holder {
        let advice = match w.kind {
            WaitKind::AdvisoryLock => h.advice(),
            _ => table_lock_advice(h),
        };
        out.push_str(&format!(": it is held by {}; {advice}", h.described));
    }
    match (w.kind, &w.limit) {
        (WaitKind::AdvisoryLock, _) => {}
        (_, Some(l)) => out.push_str(&format!(
            "; {} cancels it at {}",
            l.describe(),
            diagnose::show_ms(l.ms)
        )),
        (WaitKind::TableLock, None) => {
            out.push_str("; no lock_timeout applies: it waits as long as the lock is held")
        }
        (WaitKind::Statement, None) => out.push_str("; no statement_timeout applies"),
    }
    out
}

/// The tagged sessions sitting idle, and for how long.
fn idle_sql(tag: &Tag) -> String {
    format!(
        "SELECT pid, extract(epoch FROM now() - state_change)::bigint FROM pg_stat_activity \
         WHERE application_name LIKE '{}' AND pid <> pg_backend_pid() AND state = 'idle'",
        tag.like().replace('\'', "''")
    )
}

/// What to do about the session holding a table lock: the user ends it,
/// never the tool.
fn table_lock_advice(h: &Holder) -> String {
    if h.described.contains("idle in transaction") {
        format!("it is idle inside an open transaction and keeps its locks until it commits or rolls back: finish that transaction, or end it with `SELECT pg_terminate_backend({})` if nobody needs it", h.pid)
    } else if h.stale {
        format!(
            "it is idle: end it with `SELECT pg_terminate_backend({})` if nobody needs it",
            h.pid
        )
    } else {
        format!("it is running a statement: the migration goes on when it finishes; if it hangs, end it with `SELECT pg_terminate_backend({})`", h.pid)
    }
}

/// What the tagged sessions are doing: one row per active session, with
/// the session in its way that is not itself waiting (the holder, not
/// those queued ahead), in `table::LOCK_HOLDER_SQL`'s columns. The
/// statement is shown up to its first quote or dollar sign: a literal may
/// hold a password.
fn watch_sql(tag: &Tag) -> String {
    format!(
        "SELECT w.pid, COALESCE(w.wait_event_type, ''), COALESCE(w.wait_event, ''), \
           COALESCE(extract(epoch FROM now() - w.query_start)::bigint, 0), \
           left(regexp_replace(substring(COALESCE(w.query, '') FROM '^[^''$]*'), '\\s+', ' ', 'g'), 60), \
           COALESCE((SELECT l.relation::regclass::text FROM pg_locks l WHERE l.pid = w.pid AND NOT l.granted AND l.relation IS NOT NULL LIMIT 1), ''), \
           b.pid, COALESCE(b.application_name, ''), COALESCE(b.usename::text, ''), \
           COALESCE(to_char(b.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), ''), \
           COALESCE(extract(epoch FROM now() - b.state_change)::bigint, 0), \
           COALESCE(host(b.client_addr), 'a local socket'), COALESCE(b.state, ''), COALESCE(w.datname::text, '') \
         FROM pg_stat_activity w \
         LEFT JOIN LATERAL (SELECT * FROM pg_stat_activity x WHERE x.pid = ANY (pg_blocking_pids(w.pid)) \
           ORDER BY cardinality(pg_blocking_pids(x.pid)) = 0 DESC, x.backend_start LIMIT 1) b ON true \
         WHERE w.application_name LIKE '{}' AND w.pid <> pg_backend_pid() AND w.state = 'active' \
         ORDER BY w.query_start",
        tag.like().replace('\'', "''")
    )
}
