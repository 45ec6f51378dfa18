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
    let mut detail = format!(
        "connections: {in_db} to this database, {total} in all of {usable} usable (max_connections {max}, {reserved} reserved); statement_timeout {stmt}, idle_in_transaction_session_timeout {idle_tx}, idle_session_timeout {idle_s}, tcp_keepalives_idle {keep}; session {}",
        if ssl { "encrypted" } else { "NOT encrypted" }
    );
    if let Some(f) = &force_ssl {
        detail.push_str(&format!("; rds.force_ssl {f}"));
    }
    let mut hints = Vec::new();
    if headroom < 3 || headroom * 10 < usable {
        hints.push(format!("only {headroom} connection slot(s) left: stop idle dev servers or lower connection_limit; migrate dev needs 2 (one for the shadow database)"));
    }
    if let Some(ms) = duration_ms(&idle_s).filter(|ms| *ms > 0 && *ms < 600_000) {
        hints.push(format!("the server closes sessions idle for {}s: a `migrate dev` waiting at a prompt loses its connection (P1017); raise idle_session_timeout in the parameter group", ms / 1000));
    }
    if let Some(ms) = duration_ms(&idle_tx).filter(|ms| *ms > 0 && *ms < 600_000) {
        hints.push(format!("the server ends sessions idle inside a transaction for {}s: a migration paused between statements (a `migrate dev` prompt inside its transaction, a debugger) loses its connection (P1017); raise idle_in_transaction_session_timeout in the parameter group", ms / 1000));
    }
    if let Some(ms) = duration_ms(&stmt).filter(|ms| *ms > 0 && *ms < 60_000) {
        hints.push(format!("statement_timeout is {}ms: long migrations can be cancelled; set options=-c statement_timeout=... for migrations (env-fix --statement-timeout)", ms));
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

/// Reads a PostgreSQL duration setting (`0`, `30s`, `5min`, `1500ms`, `1h`) in ms.
fn duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..split].parse().ok()?;
    let factor = match &s[split..] {
        "" | "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(n * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (s, ms) in [
            ("0", 0),
            ("30s", 30_000),
            ("5min", 300_000),
            ("1500ms", 1500),
            ("1h", 3_600_000),
            ("2d", 172_800_000),
        ] {
            assert_eq!(duration_ms(s), Some(ms), "{s}");
        }
        assert_eq!(duration_ms("x"), None);
    }
}
