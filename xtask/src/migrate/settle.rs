//! Stage 5, after an interrupt: what the server was left with, told from
//! the server. The watch has cancelled the statements of this run's tagged
//! sessions; here the sessions are seen to go (any that stay are ended:
//! they are this run's own, and their Prisma is gone), the migration lock
//! is checked free, and `_prisma_migrations`' rows of this run are read,
//! each with whether its changes are in the database and the exact
//! `prisma migrate resolve` that matches.

use std::time::Duration;

use super::evidence;
use super::leftovers;
use super::resolve::{Tag, Urls};
use super::run::Ran;
use crate::conn::Session;
use crate::output::{self, Style};
use crate::prisma::table;
use crate::util::Ctx;

/// How long the cancelled sessions get to end by themselves (a CI runner
/// sends its second signal a few seconds after the first).
const GRACE: Duration = Duration::from_secs(2);

/// Says what the interrupt left; the hint for the summary.
pub(super) fn after_interrupt(
    ctx: &Ctx,
    urls: &Urls,
    ran: &Ran,
    run_secs: u64,
    style: Style,
) -> String {
    let red = style.red("migrate:");
    let Some(mut s) = urls.connect(ctx) else {
        let hint = "interrupted; the server could not be reached to see what was left: run `cargo xtask migrate --status`".to_string();
        output::err(format!("{red} {hint}"));
        return hint;
    };
    let mut said = Vec::new();
    if let Some(tag) = &urls.tag {
        said.extend(sessions_gone(&mut s, tag, ran, style));
    }
    let other = table::advisory_lock_holder(&mut s);
    match &other {
        None => said.push("the migration lock is free".to_string()),
        Some(h) => said.push(format!(
            "the migration lock is held by another session: {}",
            h.described
        )),
    }
    // Interrupted before Prisma ran, or another session migrating now: the
    // unfinished rows are not this run's to resolve.
    if ran.attempts.is_empty() || other.is_some() {
        output::err(format!("{red} interrupted: {}", said.join("; ")));
        return format!("interrupted: {}", said.join("; "));
    }
    let schema = urls.url.param("schema").unwrap_or("public").to_string();
    let b = s.batch(&table::history_sql(&schema), Duration::from_secs(10));
    let rows = b.results.first().map(table::recorded).unwrap_or_default();
    // Started during this run, by the server's clock (with a second's slack).
    let this_run: Vec<_> = rows.into_iter().filter(|r| r.age <= run_secs + 1).collect();
    let mut fixes = Vec::new();
    if this_run.is_empty() {
        said.push("no migration had started: nothing to resolve".to_string());
    }
    for r in &this_run {
        if r.finished {
            said.push(format!("{} was applied before the interrupt", r.name));
            continue;
        }
        let (state, fix) = evidence::presence(ctx, urls, &mut s, &r.name)
            .0
            .verdict(&r.name);
        said.push(format!("{} was stopped before it finished: {state}; `_prisma_migrations` records it as failed, so the next run stops with P3009 until you run {fix}", r.name));
        fixes.push(fix);
    }
    output::err(format!("{red} interrupted: {}", said.join("; ")));
    match fixes.is_empty() {
        true => format!("interrupted: {}", said.join("; ")),
        false => format!(
            "interrupted; before the next run: {}",
            fixes.join(", then ")
        ),
    }
}

/// Waits for this run's tagged sessions to end after their cancel; ends
/// the ones that stay. What happened, for the report.
fn sessions_gone(s: &mut Session, tag: &Tag, ran: &Ran, style: Style) -> Vec<String> {
    let mut said = Vec::new();
    let cancelled = ran.cancelled.as_deref().unwrap_or_default();
    if cancelled.iter().any(|c| c.was_active) {
        said.push("its statement was cancelled on the server".to_string());
    }
    let cleared = leftovers::clear(s, tag, GRACE, style);
    if !cleared.ended.is_empty() {
        said.push(format!(
            "this run's leftover sessions (pid {}) were ended",
            cleared.ended.join(", ")
        ));
    }
    match cleared.remaining.is_empty() {
        true => said.push("no session of this run is left on the server".to_string()),
        false => said.push(format!("this run's sessions pid {} are still on the server: end them with `SELECT pg_terminate_backend(pid)`", cleared.remaining.join(", "))),
    }
    said
}
