//! The auth layer: startup and authentication, the driver's errors read
//! by SQLSTATE (wrong password, missing database, no slots, TLS required).

use super::{closed_hint, fail, pass, tls, Code, Outcome};
use crate::link::{Link, Session};
use crate::pg::{self, ConnectError, Target};
use crate::pgurl::PgUrl;

/// Startup and authentication on the connection the earlier layers opened
/// (or, for a Unix socket, on one opened here), within the target's bound.
pub(super) fn check(
    link: Result<Link, ConnectError>,
    url: &PgUrl,
    target: &Target,
) -> (Outcome, Option<Session>) {
    let user = url.user().unwrap_or("-").to_string();
    let db = url.database().unwrap_or(&user).to_string();
    let host = url.host();
    match link.and_then(|l| l.startup(&target.config, target.timeout)) {
        Ok(c) => (pass(format!("authenticated as {user} to database {db}")), Some(c)),
        Err(ConnectError::TimedOut(t)) => (
            fail(Code::StartupTimeout, format!("no answer to the startup message within {}s", t.as_secs()), "the server accepted TCP but never answered: check the port, any proxy or tunnel, and the server's load"),
            None,
        ),
        Err(ConnectError::Setup(e)) => (fail(Code::TlsFailed, e, "check sslrootcert"), None),
        Err(ConnectError::Unreachable(e)) => (fail(Code::ServerClosed, format!("{host}: {e}"), closed_hint()), None),
        Err(ConnectError::Pg(e)) => (classify(&e, &user, &db, &host, target), None),
    }
}

/// Turns a driver error into a finding, by SQLSTATE where there is one.
fn classify(e: &postgres::Error, user: &str, db: &str, host: &str, target: &Target) -> Outcome {
    let text = pg::describe(e);
    if let Some(dbe) = e.as_db_error() {
        let msg = crate::secret::redact(dbe.message());
        return match dbe.code().code() {
            "28P01" => fail(Code::AuthFailed, format!("password authentication failed for {user} (28P01)"), "wrong password, or one whose @ # $ & were not percent-encoded, or a `$` eaten by dotenv: run `cargo xtask env-fix` (or set it with --password-stdin)"),
            "28000" if msg.contains("no encryption") => fail(Code::TlsRequired, format!("the server requires TLS and this connection did not use it (28000: {msg})"), "add sslmode=require to the URL (RDS sets rds.force_ssl=1): `cargo xtask env-fix` does it"),
            "28000" => fail(Code::AuthFailed, format!("{msg} (28000)"), format!("the server's pg_hba.conf or the role refuses {user} from here: check the user name and the server's access rules")),
            "3D000" => fail(Code::DatabaseMissing, format!("database {db} does not exist (3D000)"), format!("check the database name after the host in the URL; create it with `CREATE DATABASE \"{db}\"` or use the one RDS created")),
            "53300" => fail(Code::TooManyConnections, format!("{msg} (53300)"), "every connection slot is taken: close idle clients (dev servers, other migrations), lower connection_limit in the app's URL, or raise max_connections in the RDS parameter group"),
            "57P03" => fail(Code::ServerClosed, format!("{msg} (57P03)"), "the server is starting up or shutting down (RDS reboot or failover): wait a minute and retry"),
            code => fail(Code::AuthFailed, format!("{msg} ({code})"), "see the server's message"),
        };
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("server does not support tls") || lower.contains("does not support ssl") {
        tls::unavailable(target.tls)
    } else if lower.contains("certificate")
        || lower.contains("ssl")
        || lower.contains("tls")
        || lower.contains("handshake")
    {
        fail(Code::TlsFailed, text, "check sslmode and sslrootcert")
    } else if lower.contains("timed out") || lower.contains("timeout") {
        fail(
            Code::StartupTimeout,
            text,
            "the server did not answer in time",
        )
    } else {
        fail(Code::ServerClosed, format!("{host}: {text}"), closed_hint())
    }
}
