//! The pooler layer: is PostgreSQL itself at the other end, or a pooler
//! or proxy that owns the session, and does it pool transactions? Found by
//! behaviour, names only to say which one:
//! - PostgreSQL announces its backend's own pid at startup; a pooler
//!   announces a made-up one (`conn::Session::announced_pid`), so the two
//!   differ exactly when a pooler owns the session.
//! - Then a second, short session asks for its backend while ours idles:
//!   a transaction pooler hands it our backend (PgBouncer reuses the last
//!   one used), a session pooler cannot.
//!
//! Transaction pooling fails the URL that Prisma Migrate uses; for the
//! app's runtime URL it is what the pooler is for, so only a note.

use super::batch::{Reads, Statement};
use super::{fail, pass, skip, warn, Code, Outcome, Settings};
use crate::conn::{self, Session, Target};
use crate::pgurl::PgUrl;
use crate::poolers::{self, Kind};

/// What the second session found.
enum Mode {
    Transaction,
    Session,
    Unknown(String),
}

pub(super) fn check(
    session: &Session,
    reads: &Reads,
    url: &PgUrl,
    target: &Target,
    s: &Settings,
) -> (Outcome, Option<()>) {
    let backend = reads
        .row(Statement::Version)
        .ok()
        .and_then(|r| r.get(1).cloned().flatten())
        .and_then(|p| p.parse::<i32>().ok());
    let (Some(backend), Some(announced)) = (backend, session.announced_pid()) else {
        return (skip("the backend's pid could not be read"), Some(()));
    };
    let named = poolers::named_by(url);
    if announced == backend {
        let mut detail = format!(
            "none: PostgreSQL itself answered (backend pid {backend}, as announced at startup)"
        );
        if let Some(n) = &named {
            detail.push_str(&format!("; {}, but nothing pools this session", n.why));
        }
        return (pass(detail), Some(()));
    }
    let kind = named.as_ref().map(|n| n.kind).unwrap_or(Kind::Unknown);
    let mut detail = format!(
        "{}: startup announced pid {announced}, but the queries ran on backend {backend}",
        kind.label()
    );
    if let Some(n) = &named {
        detail.push_str(&format!(" ({})", n.why));
    }
    judge(probe(target, backend), backend, named.as_ref(), detail, s)
}

/// The verdict: transaction pooling fails the URL Prisma Migrate uses
/// and is a note for the app's; a name that says transaction pooling
/// outweighs one probe that saw none (a busy pool can hand a second
/// session another backend).
fn judge(
    mode: Mode,
    backend: i32,
    named: Option<&poolers::Named>,
    mut detail: String,
    s: &Settings,
) -> (Outcome, Option<()>) {
    let breaks = poolers::TRANSACTION_POOLING_BREAKS;
    let fix = poolers::DIRECT_URL_FIX;
    let named_transaction = named.filter(|n| n.transaction == Some(true));
    let (transaction, because) = match mode {
        Mode::Transaction => {
            detail.push_str(&format!("; a second session ran on the same backend {backend} while this one idled: transaction pooling"));
            (true, String::new())
        }
        Mode::Session => {
            detail.push_str("; a second session got a backend of its own: session pooling, as far as one probe can tell");
            match named_transaction {
                Some(n) => (true, format!("but {} (transaction pooling): ", n.why)),
                None => return (pass(detail), Some(())),
            }
        }
        Mode::Unknown(why) => {
            detail.push_str(&format!("; its pooling mode is unknown ({why})"));
            match named_transaction {
                Some(n) => (true, format!("{} (transaction pooling): ", n.why)),
                None => (false, String::new()),
            }
        }
    };
    match (transaction, s.migrates) {
        (true, true) => (
            fail(
                Code::PoolerTransaction,
                detail,
                format!("{because}{breaks}; {fix}"),
            ),
            None,
        ),
        (true, false) => (
            warn(
                detail,
                format!("{because}fine for the app at runtime, not for migrations: {breaks}"),
            ),
            Some(()),
        ),
        (false, _) => (
            warn(detail, format!("if it pools transactions, {breaks}; {fix}")),
            Some(()),
        ),
    }
}

/// A second session's backend, while ours idles.
fn probe(target: &Target, ours: i32) -> Mode {
    let mut second = match conn::connect(target) {
        Ok(s) => s,
        Err(e) => return Mode::Unknown(format!("a second session failed: {e}")),
    };
    let batch = second.batch("SELECT pg_backend_pid()", target.timeout);
    let pid = batch
        .results
        .first()
        .and_then(|rows| rows.first())
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|p| p.parse::<i32>().ok());
    match pid {
        Some(p) if p == ours => Mode::Transaction,
        Some(_) => Mode::Session,
        None => Mode::Unknown("a second session could not query".into()),
    }
}
