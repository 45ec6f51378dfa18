//! Prisma's bookkeeping in the database: the _prisma_migrations table,
//! its advisory lock 72707369, and the migrations on disk.

use std::path::Path;

pub struct MigrationRows {
    pub applied: Vec<String>,
    pub failed: Vec<String>,
}

/// Reads `_prisma_migrations` in `schema`; None when the table is not there
/// (or cannot be read).
pub fn prisma_migrations(client: &mut postgres::Client, schema: &str) -> Option<MigrationRows> {
    let table = format!("\"{}\"._prisma_migrations", schema.replace('"', "\"\""));
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .ok()?
        .get(0);
    if !exists {
        return None;
    }
    let rows = client
        .query(&format!("SELECT migration_name, finished_at IS NOT NULL, rolled_back_at IS NOT NULL FROM {table} ORDER BY started_at"), &[])
        .ok()?;
    let mut out = MigrationRows {
        applied: Vec::new(),
        failed: Vec::new(),
    };
    for r in &rows {
        let (name, finished, rolled_back): (String, bool, bool) = (r.get(0), r.get(1), r.get(2));
        if finished {
            out.applied.push(name);
        } else if !rolled_back {
            out.failed.push(name);
        }
    }
    Some(out)
}

/// Who holds Prisma's migration lock (advisory lock 72707369), if anyone:
/// the pid and a description.
pub fn advisory_lock_holder(client: &mut postgres::Client) -> Option<(i32, String)> {
    let r = client
        .query_opt(
            "SELECT a.pid, COALESCE(a.application_name, ''), COALESCE(a.usename::text, ''), \
                COALESCE(to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), ''), \
                COALESCE(extract(epoch FROM now() - a.state_change)::bigint, 0) \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = 72707369 AND l.objsubid = 1 AND l.granted \
         LIMIT 1",
            &[],
        )
        .ok()??;
    let (pid, app, user, since, secs): (i32, String, String, String, i64) =
        (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
    let app = if app.is_empty() {
        String::new()
    } else {
        format!(" ({app})")
    };
    Some((pid, format!("pid {pid}{app}, user {user}, connected since {since}, in its current state for {secs}s")))
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
