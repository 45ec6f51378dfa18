//! Part of stage 5, diagnose: what a failed migration left on the server,
//! read rather than guessed from Prisma's code. After P3018 the SQLSTATE
//! and the timeouts in force for the role (and where they come from) say
//! whether the SQL or a limit is at fault; after P3009 `_prisma_migrations`
//! names the failed migration. Either way the migration's objects, looked
//! up in the schema, say whether its changes are in the database, and so
//! which `prisma migrate resolve` is the true one.

use std::time::Duration;

use super::resolve::Urls;
use super::watch::Idle;
use crate::conn::Session;
use crate::diagnose::{self, Limit, Setting};
use crate::output::{self, Style};
use crate::prisma::codes::ScriptError;
use crate::prisma::footprint::{Footprint, Presence};
use crate::prisma::table;
use crate::util::Ctx;

/// Why a migration script failed, from its SQLSTATE and the server.
#[derive(Debug)]
enum Cause {
    /// A timeout in force for the role cancelled it.
    Limit(Limit),
    /// Someone cancelled it (pg_cancel_backend, an interrupted run).
    Cancelled,
    /// Its session was ended (pg_terminate_backend, a restart, a
    /// failover, a lost connection).
    SessionEnded,
    /// Another transaction deadlocked with it.
    Deadlock,
    /// The SQL itself.
    Sql,
}

/// After P3018: the cause and the fix, both said. None when the server
/// cannot be asked (the caller falls back to Prisma's code alone).
pub(super) fn script_failed(
    ctx: &Ctx,
    urls: &Urls,
    e: &ScriptError,
    style: Style,
) -> Option<(String, String)> {
    let mut s = urls.connect(ctx)?;
    let limits = s
        .batch(diagnose::TIMEOUTS_SQL, Duration::from_secs(5))
        .results
        .first()
        .map(diagnose::limits)
        .unwrap_or_default();
    let limit = |setting| Limit::find(&limits, setting);
    let msg = e.message.to_lowercase();
    let cause = match e.sqlstate.as_str() {
        "57014" if msg.contains("statement timeout") => limit(Setting::Statement).map(Cause::Limit),
        "57014" => Some(Cause::Cancelled),
        "55P03" if msg.contains("lock timeout") => limit(Setting::Lock).map(Cause::Limit),
        "57P01" | "57P02" | "57P03" | "none" => Some(Cause::SessionEnded),
        "40P01" => Some(Cause::Deadlock),
        _ => None,
    }
    .unwrap_or(Cause::Sql);
    let (presence, commits_itself) = presence(ctx, urls, &mut s, &e.migration);
    let (state, resolve) = match commits_itself {
        true => presence.verdict(&e.migration),
        false => presence.verdict_after_rollback(&e.migration),
    };
    let (what, first) = match &cause {
        Cause::Limit(l) => (
            format!("{} stopped it: the server cancelled the statement that ran longer; the SQL is not at fault", l.describe()),
            Some(format!("lift it for the migration role: {}", l.fix)),
        ),
        Cause::Cancelled => ("its statement was cancelled by another session (`pg_cancel_backend`) or an interrupted run".into(), None),
        Cause::SessionEnded => ("its session was ended under it (`pg_terminate_backend`, a server restart or failover, or a lost connection)".into(), None),
        Cause::Deadlock => ("it deadlocked with another session's transaction (another runner deploying, or the app writing to the same tables)".into(), None),
        Cause::Sql => (format!("its SQL failed: {} ({})", e.message, e.sqlstate), Some(format!("fix the SQL in prisma/migrations/{}/migration.sql", e.migration))),
    };
    output::err(format!(
        "{} migration {}: {what}; {state}",
        style.red("migrate:"),
        e.migration
    ));
    let mut steps: Vec<String> = first.into_iter().collect();
    steps.push(format!("run {resolve}"));
    steps.push("run the same command again".into());
    let fix = steps.join(", then ");
    output::err(format!("  fix: {fix}"));
    Some((format!("migration {}: {what}", e.migration), fix))
}

/// After P3009: the failed migrations `_prisma_migrations` records, each
/// with its logs' first line, what the schema shows, and its resolve.
pub(super) fn failed_history(ctx: &Ctx, urls: &Urls, style: Style) -> Option<(String, String)> {
    let mut s = urls.connect(ctx)?;
    let schema = urls.url.param("schema").unwrap_or("public").to_string();
    let b = s.batch(&table::history_sql(&schema), Duration::from_secs(10));
    let failed: Vec<_> = b
        .results
        .first()
        .map(table::recorded)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.failed())
        .collect();
    if failed.is_empty() {
        return None;
    }
    let mut fixes = Vec::new();
    let mut whats = Vec::new();
    for r in &failed {
        let (state, resolve) = presence(ctx, urls, &mut s, &r.name).0.verdict(&r.name);
        let logs = match r.logs.is_empty() {
            true => "no error was recorded: its run was stopped".to_string(),
            false => format!("its recorded error: {}", r.logs),
        };
        output::err(format!(
            "{} migration {} failed {} ago; {logs}; {state}",
            style.red("migrate:"),
            r.name,
            age(r.age)
        ));
        whats.push(format!("{} failed: {state}", r.name));
        fixes.push(resolve);
    }
    let fix = format!(
        "run {}, then run the same command again",
        fixes.join(", then ")
    );
    output::err(format!("  fix: {fix}"));
    Some((whats.join("; "), fix))
}

/// Whether `name`'s changes are in the database, and whether its file
/// commits by itself.
pub(super) fn presence(ctx: &Ctx, urls: &Urls, s: &mut Session, name: &str) -> (Presence, bool) {
    let f = Footprint::read(&ctx.project_dir, name);
    let schema = urls.url.param("schema").unwrap_or("public");
    let p = match f.sql(schema) {
        Some(sql) => f.presence(s.batch(&sql, Duration::from_secs(10)).results.first()),
        None => Presence::Unknown,
    };
    (p, f.commits_itself)
}

fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}min", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// After a P1017 that came once a session of Prisma's had sat idle: the
/// server's idle_session_timeout when one is set for the role, else a cut
/// in the path. Either way a retry idles as long and is cut again.
pub(super) fn idle_cut(idle: &Idle, style: Style) -> (String, String) {
    let (what, fix) = match &idle.limit {
        Some(l) => (
            format!("{} ended Prisma's connection after it sat idle (seen idle {}s, pid {}): `migrate dev`'s main connection idles while the shadow database replays the history", l.describe(), idle.seconds, idle.pid),
            format!("lift it for the migration role: {}, then run the same command again", l.fix),
        ),
        None => (
            format!("Prisma's connection was cut after it sat idle (seen idle {}s, pid {}), and the server sets no idle_session_timeout: something in the path (a pooler, proxy, NAT, VPN or port-forward) cuts idle connections", idle.seconds, idle.pid),
            format!("confirm with `cargo xtask db-test --idle-probe {}`; then raise that idle limit, or run the migration from where nothing cuts idle connections (inside the VPC, directly to the instance)", idle.seconds + 10),
        ),
    };
    output::err(format!(
        "{} {what}; not retried: a retry idles as long",
        style.red("migrate:")
    ));
    output::err(format!("  fix: {fix}"));
    (what, fix)
}
