//! The query and server layers: SELECT version(), then connections against
//! max_connections, the timeouts that cut sessions, encryption, rds.force_ssl.

use super::batch::{Reads, Statement};
use super::{closed_hint, fail, pass, warn, Code, Outcome};

/// The version, from the batch's first statement.
pub(super) fn query(reads: &Reads) -> (Outcome, Option<()>) {
    match reads.row(Statement::Version) {
        Ok(row) => (
            pass(row.first().cloned().flatten().unwrap_or_default()),
            Some(()),
        ),
        Err(e) => (
            fail(
                Code::ServerClosed,
                format!("SELECT version() failed: {e}"),
                closed_hint(),
            ),
            None,
        ),
    }
}

/// The server's settings, read in the batch (every value as text).
/// `idle_session_timeout` exists from PostgreSQL 14 on: read with
/// `missing_ok`, so an older server does not fail the whole batch.
pub(super) const SQL: &str = "SELECT \
        (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database())::int, \
        (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int, \
        current_setting('max_connections')::int, \
        current_setting('superuser_reserved_connections')::int, \
        COALESCE(current_setting('rds.rds_superuser_reserved_connections', true), '0'), \
        current_setting('statement_timeout'), \
        current_setting('idle_in_transaction_session_timeout'), \
        COALESCE(current_setting('idle_session_timeout', true), '0'), \
        current_setting('tcp_keepalives_idle'), \
        COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false), \
        current_setting('rds.force_ssl', true)";

/// The timeouts that will cut Prisma's sessions, with where each value
/// comes from (`pg_settings.source`: the server's configuration, the
/// database, the role, the role in this database, the URL).
pub const TIMEOUTS_SQL: &str = "SELECT name, setting, source, current_user, current_database() \
     FROM pg_settings WHERE name IN ('statement_timeout', 'lock_timeout', 'idle_session_timeout', 'idle_in_transaction_session_timeout') ORDER BY name";

/// One timeout in force for this session.
struct Timeout {
    name: String,
    ms: u64,
    source: String,
}

impl Timeout {
    /// Where the value comes from, and the SQL (or place) that lifts it
    /// for the migration role.
    fn origin(&self, role: &str, db: &str) -> (String, String) {
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let n = &self.name;
        match self.source.as_str() {
            "user" => (format!("set on role {role}"), format!("`ALTER ROLE {} SET {n} = 0`", q(role))),
            "database" => (format!("set on database {db}"), format!("`ALTER DATABASE {} SET {n} = 0`, or for the migration role only `ALTER ROLE {} SET {n} = 0`", q(db), q(role))),
            "database user" => (format!("set on role {role} in database {db}"), format!("`ALTER ROLE {} IN DATABASE {} SET {n} = 0`", q(role), q(db))),
            "client" => ("set by the connection (the URL's options)".into(), format!("remove {n} from the URL's options")),
            "configuration file" | "default" | "command line" => ("the server's default (on RDS: the parameter group)".into(), format!("set {n} to 0 in the parameter group, or for the migration role only `ALTER ROLE {} SET {n} = 0`", q(role))),
            other => (format!("set by {other}"), format!("`ALTER ROLE {} SET {n} = 0`", q(role))),
        }
    }

    /// What this limit does to a migration, when it can.
    fn effect(&self) -> Option<&'static str> {
        match self.name.as_str() {
            "statement_timeout" => Some("a migration statement that runs longer is cancelled (57014, P3018), and so can be `migrate dev`'s DROP DATABASE of its shadow database"),
            "lock_timeout" => Some("a migration that waits longer for a table lock (a busy table, an open transaction) is cancelled (55P03, P3018)"),
            // migrate dev's main connection idles while the shadow
            // database replays the history, and at its name prompt.
            "idle_session_timeout" if self.ms < 3_600_000 => Some("`migrate dev`'s main connection sits idle while the shadow database replays the history (and at its prompts): the server ends it (57P05) and Prisma reports P1017"),
            "idle_in_transaction_session_timeout" if self.ms < 600_000 => Some("a migration paused inside its transaction (a prompt, a debugger) loses its connection (P1017)"),
            _ => None,
        }
    }
}

stable_names! {
    /// The session timeouts that cut a migration.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Setting {
        Statement = "statement_timeout",
        Lock = "lock_timeout",
        IdleSession = "idle_session_timeout",
        IdleInTransaction = "idle_in_transaction_session_timeout",
    }
}

/// A timeout in force for a session, for the migrate flow's watch and
/// diagnosis: its value, where it comes from and what lifts it.
#[derive(Debug, Clone)]
pub struct Limit {
    pub setting: Setting,
    pub name: String,
    pub ms: u64,
    /// "set on role app", "the server's default (on RDS: the parameter group)", ...
    pub from: String,
    /// The SQL (or place) that lifts it for the migration role.
    pub fix: String,
}

impl Limit {
    /// The one for `setting` among `limits`, if it is set.
    pub fn find(limits: &[Limit], setting: Setting) -> Option<Limit> {
        limits.iter().find(|l| l.setting == setting).cloned()
    }

    /// "statement_timeout 1s (set on role app)".
    pub fn describe(&self) -> String {
        format!("{} {} ({})", self.name, show_ms(self.ms), self.from)
    }
}

/// The timeouts in `TIMEOUTS_SQL`'s rows (read on a session of the role and
/// database in question), the ones set to 0 left out.
pub fn limits(rows: &crate::conn::Rows) -> Vec<Limit> {
    let (list, role, db) = timeouts_in(rows);
    list.into_iter()
        .filter(|t| t.ms > 0)
        .filter_map(|t| {
            let setting = *Setting::ALL.iter().find(|s| s.as_str() == t.name)?;
            let (from, fix) = t.origin(&role, &db);
            Some(Limit {
                setting,
                name: t.name,
                ms: t.ms,
                from,
                fix,
            })
        })
        .collect()
}

fn timeouts(reads: &Reads) -> (Vec<Timeout>, String, String) {
    match reads.rows(Statement::Timeouts) {
        Ok(rows) => timeouts_in(rows),
        Err(_) => (Vec::new(), String::new(), String::new()),
    }
}

fn timeouts_in(rows: &crate::conn::Rows) -> (Vec<Timeout>, String, String) {
    let text = |r: &Vec<Option<String>>, i: usize| r.get(i).cloned().flatten().unwrap_or_default();
    let role = rows.first().map(|r| text(r, 3)).unwrap_or_default();
    let db = rows.first().map(|r| text(r, 4)).unwrap_or_default();
    let list = rows
        .iter()
        .map(|r| Timeout {
            name: text(r, 0),
            // pg_settings gives these in milliseconds.
            ms: text(r, 1).parse().unwrap_or(0),
            source: text(r, 2),
        })
        .collect();
    (list, role, db)
}

pub(super) fn check(reads: &Reads) -> (Outcome, Option<()>) {
    let row = match reads.row(Statement::Server) {
        Ok(r) => r,
        Err(e) => {
            return (
                fail(
                    Code::ServerClosed,
                    format!("reading server settings failed: {e}"),
                    closed_hint(),
                ),
                None,
            )
        }
    };
    let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
    let int = |i: usize| text(i).parse::<i32>().unwrap_or(0);
    let (in_db, total, max) = (int(0), int(1), int(2));
    let reserved = int(3) + int(4);
    let (stmt, idle_tx, idle_s, keep) = (text(5), text(6), text(7), text(8));
    let ssl = text(9) == "t";
    let force_ssl = row.get(10).cloned().flatten();
    let usable = max - reserved;
    let headroom = usable - total;
    let (limits, role, db) = timeouts(reads);
    let shown: Vec<String> = if limits.is_empty() {
        vec![format!("statement_timeout {stmt}, idle_in_transaction_session_timeout {idle_tx}, idle_session_timeout {idle_s}")]
    } else {
        limits
            .iter()
            .map(|t| match t.ms {
                0 => format!("{} 0", t.name),
                ms => format!("{} {} ({})", t.name, show_ms(ms), t.origin(&role, &db).0),
            })
            .collect()
    };
    let mut detail = format!(
        "connections: {in_db} to this database, {total} in all of {usable} usable (max_connections {max}, {reserved} reserved); {}, tcp_keepalives_idle {keep}; session {}",
        shown.join(", "),
        if ssl { "encrypted" } else { "NOT encrypted" }
    );
    if let Some(f) = &force_ssl {
        detail.push_str(&format!("; rds.force_ssl {f}"));
    }
    let mut hints = Vec::new();
    if headroom < 3 || headroom * 10 < usable {
        hints.push(format!("only {headroom} connection slot(s) left: stop idle dev servers or lower connection_limit; migrate dev needs 2 (one for the shadow database)"));
    }
    for t in limits.iter().filter(|t| t.ms > 0) {
        if let Some(effect) = t.effect() {
            let (from, fix) = t.origin(&role, &db);
            hints.push(format!(
                "{} is {} ({from}): {effect}; {fix}",
                t.name,
                show_ms(t.ms)
            ));
        }
    }
    if !ssl {
        hints.push("this session is not encrypted".to_string());
    }
    if hints.is_empty() {
        (pass(detail), Some(()))
    } else {
        (warn(detail, hints.join("; ")), Some(()))
    }
}

/// A duration as PostgreSQL would write it.
pub fn show_ms(ms: u64) -> String {
    match ms {
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}min", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_shown_as_postgresql_writes_them() {
        for (ms, shown) in [
            (2000, "2s"),
            (300_000, "5min"),
            (1500, "1500ms"),
            (3_600_000, "1h"),
        ] {
            assert_eq!(show_ms(ms), shown);
        }
    }
}
