//! The auth layer: startup and authentication, the driver's errors read
//! by SQLSTATE (wrong password, missing database, no slots, TLS required).

use super::{closed_hint, fail, pass, Code, Outcome};
use crate::conn::{self, ConnectError, Target};
use crate::conn::{Link, Session};
use crate::pgurl::PgUrl;
use crate::poolers::{self, Kind, Refusal, Refused};

/// Startup and authentication on the connection the earlier layers opened
/// (or, for a Unix socket, on one opened here), within the target's bound.
pub(super) fn check(
    link: Result<Link, ConnectError>,
    url: &PgUrl,
    target: &Target,
    bound: std::time::Duration,
) -> (Outcome, Option<Session>) {
    let user = url.user().unwrap_or("-").to_string();
    let db = url.database().unwrap_or(&user).to_string();
    let host = url.host();
    match link.and_then(|l| l.startup(&target.config, bound)) {
        Ok(c) => (pass(format!("authenticated as {user} to database {db}")), Some(c)),
        Err(ConnectError::TimedOut(_)) => (
            fail(Code::StartupTimeout, format!("the connection was not ready within connect_timeout ({}s): authentication had not finished", target.timeout.as_secs()), "a slow link (a VPN, another region) or a busy server needs more time than connect_timeout gives the whole connection: raise connect_timeout (`cargo xtask env-fix` sets 30; Prisma's default is 5s); if it never answers, check the port, any proxy or tunnel"),
            None,
        ),
        Err(ConnectError::Setup(e)) => (fail(Code::TlsFailed, e, "check sslrootcert"), None),
        Err(ConnectError::Unreachable(e)) => (fail(Code::ServerClosed, format!("{host}: {e}"), closed_hint()), None),
        Err(ConnectError::Pg(e)) => (classify(&e, &user, &db, &host, url), None),
    }
}

/// Turns a driver error into a finding, by SQLSTATE where there is one.
fn classify(e: &tokio_postgres::Error, user: &str, db: &str, host: &str, url: &PgUrl) -> Outcome {
    let text = conn::describe(e);
    if let Some(dbe) = e.as_db_error() {
        let msg = crate::secret::redact(dbe.message());
        if let Some(r) = poolers::refused_startup_param(dbe.message()) {
            return refused(&r, &msg, dbe.code().code(), user, url);
        }
        if let Some((by, why)) = poolers::refused(dbe.message()) {
            return pooler_refused(by, why, &msg, dbe.code().code());
        }
        return match dbe.code().code() {
            "28P01" => fail(Code::AuthFailed, format!("password authentication failed for {user} (28P01)"), format!("wrong password, or one whose @ # $ & were not percent-encoded, or a `$` eaten by dotenv: run `cargo xtask env-fix` (or set it with --password-stdin){}", other_server(url))),
            // The server's own pg_hba message, not a library's: "no
            // encryption" is the only thing that tells this 28000 apart.
            "28000" if msg.contains("no encryption") => fail(Code::TlsRequired, format!("the server requires TLS and this connection did not use it (28000: {msg})"), if url.is_local() {
                // env-fix leaves a local host's sslmode as written unless asked.
                "the server requires TLS: set sslmode=require in the URL: `cargo xtask env-fix --sslmode require` does it"
            } else {
                "add sslmode=require to the URL (RDS sets rds.force_ssl=1): `cargo xtask env-fix` does it"
            }),
            // `localhost` reached the server over ::1 first, and its
            // pg_hba.conf allows only 127.0.0.1 (causes.md entry 35).
            "28000" if msg.contains("host \"::1\"") && url.host() == "localhost" => fail(Code::AuthFailed, format!("{msg} (28000)"), "localhost resolved to ::1 first, and the server's pg_hba.conf has no entry for ::1 (libpq and Prisma do not try 127.0.0.1 after a refusal): put 127.0.0.1 in the URL instead of localhost, or add `host all all ::1/128 scram-sha-256` to pg_hba.conf"),
            "28000" => fail(Code::AuthFailed, format!("{msg} (28000)"), format!("the server's pg_hba.conf or the role refuses {user} from here: check the user name and the server's access rules{}", other_server(url))),
            "3D000" => fail(Code::DatabaseMissing, format!("database {db} does not exist (3D000)"), format!("check the database name after the host in the URL; create it with `CREATE DATABASE \"{db}\"` or use the one RDS created")),
            "53300" => fail(Code::TooManyConnections, format!("{msg} (53300)"), "every connection slot is taken: close idle clients (dev servers, other migrations), lower connection_limit in the app's URL, or raise max_connections in the RDS parameter group"),
            "57P03" => fail(Code::ServerClosed, format!("{msg} (57P03)"), "the server is starting up or shutting down (RDS reboot or failover): wait a minute and retry"),
            code => fail(Code::AuthFailed, format!("{msg} ({code})"), "see the server's message"),
        };
    }
    // TLS is set up before startup (`tls`), so what fails here without a
    // SQLSTATE is the connection itself: judged by its I/O error's kind.
    match conn::io_kind(e) {
        Some(std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) => fail(
            Code::StartupTimeout,
            text,
            "the server did not answer in time",
        ),
        _ => fail(Code::ServerClosed, format!("{host}: {text}"), closed_hint()),
    }
}

/// A pooler or proxy refused a startup parameter: name it, and the way to
/// set the same thing without it (on the role, which every path honours).
fn refused(r: &Refusal, msg: &str, code: &str, user: &str, url: &PgUrl) -> Outcome {
    let settings = match r.param.as_str() {
        "options" => url
            .param("options")
            .map(poolers::option_settings)
            .unwrap_or_default(),
        p => url
            .param(p)
            .map(|v| vec![(p.to_string(), v.to_string())])
            .unwrap_or_default(),
    };
    let instead = if settings.is_empty() {
        format!("set it on the role instead (`ALTER ROLE \"{user}\" SET name = value`) or in the server's parameter group")
    } else {
        let sql: Vec<String> = settings
            .iter()
            .map(|(k, v)| poolers::alter_role_sql(user, k, v))
            .collect();
        format!(
            "set the same on the role instead, which applies through any pooler: `{}` (or in the parameter group)",
            sql.join("; ")
        )
    };
    fail(
        Code::StartupParamRefused,
        format!("{} refused the startup parameter `{}`: {msg} ({code})", r.by.label(), r.param),
        format!(
            "remove `{}` from the URL ({} accepts only the startup parameters it tracks); {instead}; or connect directly, not through the pooler",
            r.param,
            r.by.label()
        ),
    )
}

/// A pooler or proxy turned the session away for a reason of its own.
fn pooler_refused(by: Kind, why: Refused, msg: &str, code: &str) -> Outcome {
    let by = by.label();
    let detail = format!("{by} refused the session: {msg} ({code})");
    match why {
        Refused::ClientLimit => fail(Code::TooManyConnections, detail, format!("{by} has no room for another client: close idle clients (dev servers, other deploys) or raise its client limit (PgBouncer: max_client_conn; RDS Proxy: MaxConnectionsPercent); migrations can connect directly instead")),
        Refused::ServerSide => fail(Code::AuthFailed, detail, format!("{by} cannot log in to the database behind it: its credentials for this role (PgBouncer: auth_file/auth_type, e.g. an md5 entry against a SCRAM server; RDS Proxy: the Secrets Manager secret) or the server itself; check with the direct URL")),
        Refused::PoolWait => fail(Code::TooManyConnections, detail, format!("every server connection in {by}'s pool is busy: size the pool, or connect directly for migrations")),
        Refused::TlsRequired => fail(Code::TlsRequired, detail, "this proxy requires TLS: add sslmode=require to the URL (`cargo xtask env-fix` does it)"),
    }
}

/// On this machine, a second PostgreSQL (a host install shadowing the
/// Docker one, another cluster) can answer on the port the URL names, and
/// it knows other roles and passwords (causes.md entry 11).
fn other_server(url: &PgUrl) -> String {
    if !url.is_local() {
        return String::new();
    }
    let port = url.port();
    format!("; or another PostgreSQL answers on port {port} (an install on the host shadowing Docker's, a second cluster): see which program listens with `ss -ltnp 'sport = :{port}'` (macOS `lsof -iTCP:{port} -sTCP:LISTEN`, Windows `netstat -ano | findstr :{port}`)")
}
