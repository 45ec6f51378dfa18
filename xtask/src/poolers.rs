//! What is known about the poolers and proxies between an app and its
//! PostgreSQL: which hosts and ports name one, the texts they refuse
//! startup parameters with, and what transaction pooling breaks for
//! Prisma Migrate. Facts from `../shared/reference/causes.md` (entries 1,
//! 2, 6, 27, 28) and PgBouncer's and RDS Proxy's documentation. A leaf:
//! the diagnosis and env-fix read it; it reads only the URL model.

use crate::pgurl::PgUrl;

/// A pooler or proxy, as named by the URL or by the text it answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    PgBouncer,
    Supavisor,
    NeonPooler,
    RdsProxy,
    /// Seen by its behaviour, with no name to go by.
    Unknown,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::PgBouncer => "PgBouncer",
            Kind::Supavisor => "Supabase's Supavisor",
            Kind::NeonPooler => "Neon's pooler (PgBouncer)",
            Kind::RdsProxy => "RDS Proxy",
            Kind::Unknown => "a pooler or proxy",
        }
    }
}

/// What the URL alone says about a pooler in the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub kind: Kind,
    /// Transaction pooling, when the name or port says so.
    pub transaction: Option<bool>,
    /// Why: the host, port or parameter that said it.
    pub why: String,
}

/// A pooler the URL names by its host, port or `pgbouncer=true`.
pub fn named_by(url: &PgUrl) -> Option<Named> {
    let host = url.host().to_ascii_lowercase();
    let port = url.port();
    let named = |kind, transaction, why: String| {
        Some(Named {
            kind,
            transaction,
            why,
        })
    };
    if host.ends_with(".rds.amazonaws.com") && host.contains(".proxy-") {
        return named(
            Kind::RdsProxy,
            Some(false),
            format!("{host} is an RDS Proxy endpoint"),
        );
    }
    if host.ends_with("pooler.supabase.com") {
        // Supavisor: 6543 pools transactions, 5432 sessions.
        return named(
            Kind::Supavisor,
            Some(port != 5432),
            format!("{host}:{port} is Supabase's pooler"),
        );
    }
    if host.contains("-pooler.") && host.ends_with(".neon.tech") {
        return named(
            Kind::NeonPooler,
            Some(true),
            format!("{host} is Neon's pooled host"),
        );
    }
    if url.param("pgbouncer") == Some("true") {
        return named(
            Kind::PgBouncer,
            Some(true),
            "the URL has pgbouncer=true (Prisma's flag for transaction pooling)".into(),
        );
    }
    match port {
        6543 => named(
            Kind::Unknown,
            Some(true),
            "port 6543 is the usual transaction-pooler port (Supabase)".into(),
        ),
        6432 => named(
            Kind::PgBouncer,
            None,
            "port 6432 is PgBouncer's default".into(),
        ),
        _ => None,
    }
}

/// A startup parameter a pooler or proxy refused, read from its FATAL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub by: Kind,
    /// The parameter as the refusal names it (`options`, `search_path`, ...).
    pub param: String,
}

/// Reads PgBouncer's and RDS Proxy's refusals of a startup parameter
/// (SQLSTATE 08P01 from PgBouncer, 0A000 from RDS Proxy). The texts are
/// theirs, as causes.md quotes them; no other signal exists.
pub fn refused_startup_param(message: &str) -> Option<Refusal> {
    let pgb = |param: &str| {
        Some(Refusal {
            by: Kind::PgBouncer,
            param: param.trim().trim_end_matches('.').to_string(),
        })
    };
    // PgBouncer 1.20+ reads inside `options`.
    if let Some(p) = message.strip_prefix("unsupported startup parameter in options: ") {
        return pgb(p);
    }
    if let Some(p) = message.strip_prefix("unsupported startup parameter: ") {
        return pgb(p);
    }
    if message.starts_with("unsupported options startup parameter") {
        return pgb("options");
    }
    // RDS Proxy writes its apostrophe as ’ or ' depending on the message.
    let m = message.replace('\u{2019}', "'");
    if m.contains("RDS Proxy currently doesn't support command-line options") {
        return Some(Refusal {
            by: Kind::RdsProxy,
            param: "options".into(),
        });
    }
    if let Some(rest) = m
        .split("RDS Proxy currently doesn't support the option ")
        .nth(1)
    {
        return Some(Refusal {
            by: Kind::RdsProxy,
            param: rest.trim().trim_end_matches('.').to_string(),
        });
    }
    None
}

/// A pooler or proxy turned the session away for a reason of its own
/// (PgBouncer's `janitor.c`/`client.c` texts, RDS Proxy's documented
/// ones, as causes.md quotes them: entries 29 and 31).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The pooler's own client limit (`max_client_conn`, RDS Proxy's
    /// maximum client connections).
    ClientLimit,
    /// The pooler cannot log in to, or reach, the server behind it.
    ServerSide,
    /// Waited too long for a server connection from the pool.
    PoolWait,
    /// The proxy requires TLS and the client did not use it.
    TlsRequired,
}

/// Reads a pooler's or proxy's own refusal; None for anything else.
pub fn refused(message: &str) -> Option<(Kind, Refused)> {
    let m = message.to_ascii_lowercase();
    let pgb = |r| Some((Kind::PgBouncer, r));
    let proxy = |r| Some((Kind::RdsProxy, r));
    if m.contains("no more connections allowed (max_client_conn)") {
        return pgb(Refused::ClientLimit);
    }
    if m.contains("server login has been failing")
        || m.contains("pgbouncer cannot connect to server")
        || m.contains("server login failed")
    {
        return pgb(Refused::ServerSide);
    }
    if m.starts_with("query_wait_timeout") {
        return pgb(Refused::PoolWait);
    }
    if m.contains("rds proxy requires tls connections") {
        return proxy(Refused::TlsRequired);
    }
    if m.contains("maximum number of client connections to the proxy exceeded")
        || m.contains("rate of connection to proxy exceeded")
    {
        return proxy(Refused::ClientLimit);
    }
    if m.contains("timed-out waiting to acquire database connection") {
        return proxy(Refused::PoolWait);
    }
    if m.contains("this rds proxy has no credentials for the role")
        || m.contains("the password that was provided for the role")
    {
        return proxy(Refused::ServerSide);
    }
    None
}

/// The settings in an `options` value (`-c k=v`, `-ck=v`, `--k=v`), in order.
pub fn option_settings(options: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut words = options.split_whitespace();
    while let Some(w) = words.next() {
        let kv = if w == "-c" {
            words.next()
        } else {
            w.strip_prefix("-c").or_else(|| w.strip_prefix("--"))
        };
        if let Some((k, v)) = kv.and_then(|kv| kv.split_once('=')) {
            out.push((k.replace('-', "_"), v.to_string()));
        }
    }
    out
}

/// The SQL that sets `name = value` for `role` instead of the URL, as a
/// string literal (any setting takes one).
pub fn alter_role_sql(role: &str, name: &str, value: &str) -> String {
    format!(
        "ALTER ROLE \"{}\" SET {name} = '{}'",
        role.replace('"', "\"\""),
        value.replace('\'', "''")
    )
}

/// What transaction pooling breaks for Prisma Migrate, and the fix.
pub const TRANSACTION_POOLING_BREAKS: &str = "transaction pooling gives the server connection to other clients between transactions: Prisma Migrate's session advisory lock (72707369) stays behind on the pooled connection and blocks the next run (P1002), its named prepared statements fail (`prepared statement \"s0\" does not exist`) and its `SET search_path` does not stick";

/// Where the direct URL goes, for the CLI only.
pub const DIRECT_URL_FIX: &str = "give Prisma's CLI a direct or session-mode URL: put it in DIRECT_URL (the database's own host and port; Supabase: db.<ref>.supabase.co:5432 or the session pooler on :5432; Neon: the host without -pooler; RDS: the instance endpoint, not the proxy) and set `datasource: { url: env(\"DIRECT_URL\") }` in prisma.config.ts; keep DATABASE_URL pooled for the app";

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> PgUrl {
        PgUrl::parse(s).unwrap()
    }

    #[test]
    fn names() {
        let k = |s: &str| named_by(&url(s)).map(|n| (n.kind, n.transaction));
        assert_eq!(
            k("postgresql://u:p@aws-0-eu-west-1.pooler.supabase.com:6543/postgres"),
            Some((Kind::Supavisor, Some(true)))
        );
        assert_eq!(
            k("postgresql://u:p@aws-0-eu-west-1.pooler.supabase.com:5432/postgres"),
            Some((Kind::Supavisor, Some(false)))
        );
        assert_eq!(
            k("postgresql://u:p@ep-x-123-pooler.us-east-2.aws.neon.tech/db"),
            Some((Kind::NeonPooler, Some(true)))
        );
        assert_eq!(
            k("postgresql://u:p@app.proxy-abc.us-east-1.rds.amazonaws.com/db"),
            Some((Kind::RdsProxy, Some(false)))
        );
        assert_eq!(
            k("postgresql://u:p@h:5432/db?pgbouncer=true"),
            Some((Kind::PgBouncer, Some(true)))
        );
        assert_eq!(
            k("postgresql://u:p@h:6432/db"),
            Some((Kind::PgBouncer, None))
        );
        assert_eq!(
            k("postgresql://u:p@db.x.us-east-1.rds.amazonaws.com/db"),
            None
        );
        assert_eq!(k("postgresql://u:p@db.abc.supabase.co:5432/postgres"), None);
    }

    /// The texts as causes.md quotes them from PgBouncer's and AWS's sources.
    #[test]
    fn refusals() {
        let r = |m: &str| refused_startup_param(m).map(|r| (r.by, r.param));
        assert_eq!(
            r("unsupported startup parameter: options"),
            Some((Kind::PgBouncer, "options".into()))
        );
        assert_eq!(
            r("unsupported startup parameter: extra_float_digits"),
            Some((Kind::PgBouncer, "extra_float_digits".into()))
        );
        assert_eq!(
            r("unsupported startup parameter in options: search_path"),
            Some((Kind::PgBouncer, "search_path".into()))
        );
        assert_eq!(
            r("unsupported options startup parameter: only '-c config=val' and '--config=val' are allowed"),
            Some((Kind::PgBouncer, "options".into()))
        );
        assert_eq!(
            r("Feature not supported: RDS Proxy currently doesn\u{2019}t support command-line options."),
            Some((Kind::RdsProxy, "options".into()))
        );
        assert_eq!(
            r("Feature not supported: RDS Proxy currently doesn't support the option search_path."),
            Some((Kind::RdsProxy, "search_path".into()))
        );
        assert_eq!(r("password authentication failed for user \"app\""), None);
    }

    #[test]
    fn pool_refusals() {
        let r = |m: &str| refused(m);
        assert_eq!(
            r("no more connections allowed (max_client_conn)"),
            Some((Kind::PgBouncer, Refused::ClientLimit))
        );
        assert_eq!(
            r("server login has been failing, try again later (server_login_retry)"),
            Some((Kind::PgBouncer, Refused::ServerSide))
        );
        assert_eq!(
            r("pgbouncer cannot connect to server"),
            Some((Kind::PgBouncer, Refused::ServerSide))
        );
        assert_eq!(
            r("query_wait_timeout"),
            Some((Kind::PgBouncer, Refused::PoolWait))
        );
        assert_eq!(
            r("This RDS Proxy requires TLS connections."),
            Some((Kind::RdsProxy, Refused::TlsRequired))
        );
        assert_eq!(
            r("Timed-out waiting to acquire database connection."),
            Some((Kind::RdsProxy, Refused::PoolWait))
        );
        assert_eq!(
            r("The maximum number of client connections to the proxy exceeded 100."),
            Some((Kind::RdsProxy, Refused::ClientLimit))
        );
        assert_eq!(r("This RDS proxy has no credentials for the role app. Check the credentials for this role and try again."), Some((Kind::RdsProxy, Refused::ServerSide)));
        assert_eq!(r("password authentication failed for user \"app\""), None);
    }

    #[test]
    fn options_and_sql() {
        assert_eq!(
            option_settings("-c statement_timeout=0 -clock_timeout=5s --search-path=app"),
            [
                ("statement_timeout".to_string(), "0".to_string()),
                ("lock_timeout".into(), "5s".into()),
                ("search_path".into(), "app".into())
            ]
        );
        assert_eq!(
            alter_role_sql("a\"b", "search_path", "o'x"),
            "ALTER ROLE \"a\"\"b\" SET search_path = 'o''x'"
        );
    }
}
