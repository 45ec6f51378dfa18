//! Stage 2, preflight: db-test's checks against the URL Prisma gets, up to
//! the query layer (the migrations layer for `migrate dev`). A failure
//! stops the run before Prisma starts; a pass hands its session on.

use super::resolve::Urls;
use super::{Mode, Plan};
use crate::conn::Session;
use crate::diagnose::{Code, Layer, Report, Shadow, Status};
use crate::output::{self, Style};
use crate::util::Ctx;

/// db-test's checks before Prisma starts: their session when they pass,
/// the verdict when they fail.
pub(super) fn check(
    ctx: &Ctx,
    plan: &Plan,
    urls: &Urls,
    style: Style,
) -> Result<Option<Session>, (Code, String)> {
    // Every layer: the batch answers them all in the one round trip.
    let shadow = if plan.mode == Mode::Dev {
        Shadow::for_dev(urls.shadow.is_some())
    } else {
        Shadow::Unused
    };
    let (report, session) = urls.diagnose(ctx, Layer::Migrations, shadow);
    // A failed migration is Prisma's P3009 to report, and the diagnosis
    // after it explains it; everything else stops the run here.
    if !report.ok() && report.diagnosis.code != Code::MigrationFailed {
        output::err(format!(
            "{} preflight failed: Prisma was not started",
            style.red("migrate:")
        ));
        print_report_brief(&report, style);
        return Err((report.diagnosis.code, report.diagnosis.hint.clone()));
    }
    let ms: u64 = report.checks.iter().map(|c| c.ms).sum();
    let ran = report
        .checks
        .iter()
        .filter(|c| c.status != Status::Skip)
        .count();
    output::err(format!(
        "{} preflight ok ({ran} checks, {ms} ms)",
        style.dim("migrate:")
    ));
    for w in report.warnings() {
        output::err(format!("  {} {w}", style.yellow("warning:")));
    }
    Ok(session)
}

pub(super) fn print_report_brief(report: &Report, style: Style) {
    if let Some(c) = report.failed_check() {
        output::err(format!(
            "  db-test: {} at layer {}: {}",
            style.red(report.diagnosis.code.as_str()),
            c.layer.as_str(),
            c.detail
        ));
        output::err(format!("  fix: {}", report.diagnosis.hint));
    }
}
