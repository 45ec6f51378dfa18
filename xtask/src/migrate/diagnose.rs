//! Stage 5, diagnose: what a failed run means, from Prisma's code and
//! what the server shows (db-test's checks after P1017/P1001, the lock's
//! holder on P1002), with the fix.

use super::evidence;
use super::preflight::print_report_brief;
use super::resolve::Urls;
use super::watch::Idle;
use super::{Plan, Verdict};
use crate::diagnose::{Layer, Shadow};
use crate::output::{self, Style};
use crate::passwords::iam;
use crate::prisma::codes::{self, ErrorCode, Failure, ScriptError};
use crate::prisma::table;
use crate::prisma::Engine;
use crate::util::Ctx;

/// What the failed attempt left besides Prisma's code.
pub(super) struct Left<'a> {
    pub exit: i32,
    pub script: Option<&'a ScriptError>,
    pub idle: Option<&'a Idle>,
}

/// Why the run failed, printed with its fix; the verdict and the fix.
pub(super) fn explain(
    ctx: &Ctx,
    plan: &Plan,
    failure: Option<Failure>,
    left: Left,
    urls: &Urls,
    style: Style,
) -> (Verdict, String) {
    if let Some(note) = urls.token_at.and_then(iam::expired_note) {
        output::err(format!("{} {note}", style.red("migrate:")));
    }
    let Some(f) = failure else {
        output::err(format!(
            "{} Prisma exited with status {}; see its output above",
            style.red("migrate:"),
            left.exit
        ));
        return (Verdict::Unknown, "see Prisma's output".into());
    };
    let rerun = match plan.engine {
        Engine::Native => plan.wasm_rerun.as_deref(),
        Engine::Wasm => None,
    };
    let non_tty = !std::io::IsTerminal::is_terminal(&std::io::stdin());
    let (what, fix) = codes::explain(&f, non_tty, rerun);
    output::err(format!("{} {}: {what}", style.red("migrate:"), f.code()));
    // The server's evidence, where it has some, replaces the generic fix.
    let read = match (&f, left.script, left.idle) {
        (Failure::Code(ErrorCode::P3018), Some(e), _) => {
            evidence::script_failed(ctx, urls, e, style)
        }
        (Failure::Code(ErrorCode::P3009), _, _) => evidence::failed_history(ctx, urls, style),
        (Failure::Code(ErrorCode::P1017), _, Some(idle)) => Some(evidence::idle_cut(idle, style)),
        _ => None,
    };
    if let Some((_, fix)) = read {
        return (Verdict::Prisma(f), fix);
    }
    output::err(format!("  fix: {fix}"));
    match f {
        Failure::Code(ErrorCode::P1017 | ErrorCode::P1001) => {
            explain_with_db_test(ctx, urls, style)
        }
        Failure::Code(ErrorCode::P1002) => show_lock_holder(ctx, urls, style),
        _ => {}
    }
    (Verdict::Prisma(f), fix)
}

/// After P1017/P1001: db-test's checks name the layer that breaks.
fn explain_with_db_test(ctx: &Ctx, urls: &Urls, style: Style) {
    let (report, _) = urls.diagnose(ctx, Layer::Query, Shadow::Unused);
    if report.ok() {
        output::err("  db-test: the connection works now (checks 1-6 pass): the break was transient or happens only under Prisma's longer session (idle timeouts, a pooler): try `cargo xtask db-test --idle-probe 60`");
    } else {
        print_report_brief(&report, style);
    }
}

pub(super) fn show_lock_holder(ctx: &Ctx, urls: &Urls, style: Style) {
    match urls.connect(ctx) {
        Some(mut session) => match table::advisory_lock_holder(&mut session) {
            Some(h) => output::err(format!("  {} Prisma's migration lock (advisory lock 72707369) is held by {}; {}", style.yellow("lock:"), h.described, h.advice())),
            None => output::err("  lock: nobody holds advisory lock 72707369 now (a pooler or RDS Proxy in the path can also cause P1002)"),
        },
        None => output::err("  lock: could not connect to see who holds advisory lock 72707369"),
    }
}
