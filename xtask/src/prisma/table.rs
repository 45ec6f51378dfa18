//! Prisma's bookkeeping in the database: the _prisma_migrations table,
//! its advisory lock 72707369, and the migrations on disk. The statements
//! are plain text so a diagnosis can send them in its one batch; their rows
//! come back as text.

use std::path::Path;
use std::time::Duration;

use crate::conn::{Rows, Session};

pub struct MigrationRows {
    pub applied: Vec<String>,
    pub failed: Vec<String>,
}

/// Whether `_prisma_migrations` exists in `schema`: one row, `t` or `f`.
pub fn migrations_table_sql(schema: &str) -> String {
    format!(
        "SELECT to_regclass(format('%I._prisma_migrations', '{}')) IS NOT NULL",
        schema.replace('\'', "''")
    )
}

/// Reads `_prisma_migrations` in `schema`: no rows where the table is not
/// there, and no error either. A plain SELECT of a missing table writes
/// an ERROR line into the server's log (on RDS, into CloudWatch, where
/// log-based alarms read it) on every check of a database not migrated
/// yet. Here the table is read through `query_to_xml`, which plans its
/// query only when it runs, behind a one-time filter on `to_regclass`:
/// for a missing table it never runs.
pub fn migrations_sql(schema: &str) -> String {
    let lit = schema.replace('\'', "''");
    format!(
        "SELECT x.name, x.finished, x.rolled_back FROM xmltable('/table/row' PASSING \
         query_to_xml(format('SELECT migration_name, finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS rolled_back FROM %I._prisma_migrations ORDER BY started_at', '{lit}'), false, false, '') \
         COLUMNS name text PATH 'migration_name', finished bool PATH 'finished', rolled_back bool PATH 'rolled_back') AS x \
         WHERE to_regclass(format('%I._prisma_migrations', '{lit}')) IS NOT NULL"
    )
}

/// The applied and the failed migrations in the rows of `migrations_sql`.
pub fn migration_rows(rows: &Rows) -> MigrationRows {
    let mut out = MigrationRows {
        applied: Vec::new(),
        failed: Vec::new(),
    };
    for r in rows {
        let name = r.first().cloned().flatten().unwrap_or_default();
        let yes = |i: usize| r.get(i).and_then(|v| v.as_deref()) == Some("t");
        if yes(1) {
            out.applied.push(name);
        } else if !yes(2) {
            out.failed.push(name);
        }
    }
    out
}

/// Reads `_prisma_migrations` in `schema` on its own: empty when the table
/// is not there yet, None when it cannot be read (an empty history would
/// then pass for the truth).
pub fn prisma_migrations(session: &mut Session, schema: &str) -> Option<MigrationRows> {
    let sql = format!(
        "{};\n{}",
        migrations_table_sql(schema),
        migrations_sql(schema)
    );
    let b = session.batch(&sql, Duration::from_secs(10));
    if b.error.is_some() {
        return None;
    }
    Some(
        b.results
            .get(1)
            .map(migration_rows)
            .unwrap_or(MigrationRows {
                applied: Vec::new(),
                failed: Vec::new(),
            }),
    )
}

/// `_prisma_migrations`' rows in full, oldest first, read as
/// `migrations_sql` reads them (no error for a missing table): name,
/// finished, rolled back, seconds since it started, and the first line of
/// its logs (Prisma writes the database's error there).
pub fn history_sql(schema: &str) -> String {
    let lit = schema.replace('\'', "''");
    format!(
        "SELECT x.name, x.finished, x.rolled_back, x.age, x.logs FROM xmltable('/table/row' PASSING \
         query_to_xml(format('SELECT migration_name, finished_at IS NOT NULL AS finished, rolled_back_at IS NOT NULL AS rolled_back, extract(epoch FROM now() - started_at)::bigint AS age, split_part(COALESCE(logs, ''''), chr(10), 1) AS logs FROM %I._prisma_migrations ORDER BY started_at', '{lit}'), false, false, '') \
         COLUMNS name text PATH 'migration_name', finished bool PATH 'finished', rolled_back bool PATH 'rolled_back', age bigint PATH 'age', logs text PATH 'logs') AS x \
         WHERE to_regclass(format('%I._prisma_migrations', '{lit}')) IS NOT NULL"
    )
}

/// One row of `_prisma_migrations`.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub name: String,
    pub finished: bool,
    pub rolled_back: bool,
    /// Seconds since it started, by the server's clock.
    pub age: u64,
    /// The first line of its logs (masked), empty when none.
    pub logs: String,
}

impl Recorded {
    /// Started, not finished, not marked rolled back: Prisma stops at it
    /// with P3009.
    pub fn failed(&self) -> bool {
        !self.finished && !self.rolled_back
    }
}

/// The rows of `history_sql`.
pub fn recorded(rows: &Rows) -> Vec<Recorded> {
    rows.iter()
        .map(|r| {
            let text = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            Recorded {
                name: text(0),
                finished: text(1) == "t",
                rolled_back: text(2) == "t",
                age: text(3).parse().unwrap_or(0),
                logs: crate::secret::redact(&text(4)),
            }
        })
        .collect()
}

/// The `pg_locks l` rows of Prisma's migration lock (advisory lock
/// 72707369), granted, in this database (an advisory lock is per
/// database: a migration of another database on the same server is not in
/// the way). A macro, so that the statements built on it stay constants.
macro_rules! lock_held {
    () => {
        "l.locktype = 'advisory' AND l.classid = 0 AND l.objid = 72707369 AND l.objsubid = 1 AND l.granted \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    };
}
pub(crate) use lock_held;

/// Who holds Prisma's migration lock: no row when nobody does.
pub const LOCK_HOLDER_SQL: &str = concat!(
    "SELECT a.pid, COALESCE(a.application_name, ''), COALESCE(a.usename::text, ''), \
        COALESCE(to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), ''), \
        COALESCE(extract(epoch FROM now() - a.state_change)::bigint, 0), \
        COALESCE(host(a.client_addr), 'a local socket'), COALESCE(a.state, '') \
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE ",
    lock_held!(),
    " LIMIT 1"
);

/// Who holds Prisma's migration lock.
#[derive(Debug, Clone)]
pub struct Holder {
    pub pid: i32,
    /// One line: pid, application, user, client, state and since when.
    pub described: String,
    /// Idle, outside any transaction: no migration is running on it (a
    /// psql left open, a crashed deploy, a lock left behind on a pooled
    /// connection).
    pub stale: bool,
    /// Seconds in its present state.
    pub idle_secs: u64,
}

impl Holder {
    /// What to do about it; the user ends a session, never the tool.
    pub fn advice(&self) -> String {
        if self.stale {
            format!("it is idle, running nothing: unless a `migrate dev` holds it while it replays its shadow database or waits at its prompt, it was left behind (a session left open, a crashed deploy, a lock left on a pooler's connection): end it with `SELECT pg_terminate_backend({})` if nobody needs it; Prisma gives up after 10s (P1002)", self.pid)
        } else {
            format!("a migration is running on it: wait for it to finish; Prisma gives up after 10s (P1002); if it hangs, end it with `SELECT pg_terminate_backend({})`", self.pid)
        }
    }
}

/// The lock's holder, from `LOCK_HOLDER_SQL`'s rows.
pub fn lock_holder(rows: &Rows) -> Option<Holder> {
    let r = rows.first()?;
    let text = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
    let pid: i32 = text(0).parse().ok()?;
    let (app, user, since, secs, client, state) =
        (text(1), text(2), text(3), text(4), text(5), text(6));
    let app = if app.is_empty() {
        String::new()
    } else {
        format!(" ({app})")
    };
    Some(Holder {
        pid,
        described: format!("pid {pid}{app}, user {user}, from {client}, {state} for {secs}s, connected since {since}"),
        stale: state == "idle",
        idle_secs: secs.parse().unwrap_or(0),
    })
}

/// Who holds Prisma's migration lock, asked on its own.
pub fn advisory_lock_holder(session: &mut Session) -> Option<Holder> {
    let b = session.batch(LOCK_HOLDER_SQL, Duration::from_secs(10));
    b.results.first().and_then(lock_holder)
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
