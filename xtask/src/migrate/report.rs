//! Stage 6, report: the run's summary, built in one place and printed as
//! one line; `cmd::migrate` renders it for `--json`, onboard as its step.

use std::time::Instant;

use super::run::Ran;
use super::{Plan, Summary, Verdict};
use crate::exit::Exit;
use crate::output::{self, Style};

/// Builds the summary and prints its line.
pub(super) fn summary(
    plan: &Plan,
    start: Instant,
    // None: the preflight stopped the run before Prisma started.
    ran: Option<Ran>,
    exit: Exit,
    diagnosis: Option<(Verdict, String)>,
    style: Style,
) -> Summary {
    let (attempts, applied, waits) = ran
        .map(|r| (r.attempts, r.applied, r.waits))
        .unwrap_or_default();
    let s = Summary {
        ok: exit == Exit::Success,
        exit,
        mode: plan.mode,
        engine: plan.engine,
        attempts,
        applied,
        waits,
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
    s
}
