//! The four programs that read the same URL, which parameters each
//! understands, and which of them read a list of hosts.

use super::PgUrl;

/// The four programs that read the same URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// Prisma Migrate's schema engine (Rust, quaint).
    Prisma,
    /// node-postgres, used at runtime through `@prisma/adapter-pg`.
    NodePg,
    /// libpq: `psql`, `pg_isready`.
    Libpq,
    /// The Rust `postgres` crate, which `db-test` uses.
    RustPostgres,
}

impl Reader {
    pub const ALL: [Reader; 4] = [
        Reader::Prisma,
        Reader::NodePg,
        Reader::Libpq,
        Reader::RustPostgres,
    ];
}

/// Which readers understand a parameter: Prisma, node-postgres, libpq, Rust.
/// Source: ../shared/reference/facts.md section 1 (engine, pg-connection-string,
/// fe-connect.c and tokio-postgres sources).
const SUPPORT: &[(&str, [bool; 4])] = &[
    ("sslmode", [true, true, true, true]),
    ("sslrootcert", [false, true, true, false]),
    ("sslcert", [true, true, true, false]),
    ("sslkey", [false, true, true, false]),
    ("sslidentity", [true, false, false, false]),
    ("sslpassword", [true, false, true, false]),
    ("sslaccept", [true, false, false, false]),
    ("connect_timeout", [true, false, true, true]),
    ("pool_timeout", [true, false, false, false]),
    ("connection_limit", [true, false, false, false]),
    ("socket_timeout", [true, false, false, false]),
    ("schema", [true, false, false, false]),
    ("pgbouncer", [true, false, false, false]),
    ("statement_cache_size", [true, false, false, false]),
    ("max_connection_lifetime", [true, false, false, false]),
    ("max_idle_connection_lifetime", [true, false, false, false]),
    ("statement_timeout", [false, true, false, false]),
    ("options", [true, true, true, true]),
    ("application_name", [true, true, true, true]),
    ("channel_binding", [true, true, true, true]),
    ("sslnegotiation", [false, false, true, true]),
    ("keepalives", [false, false, true, true]),
    ("keepalives_idle", [false, false, true, true]),
    ("keepalives_interval", [false, false, true, true]),
    ("keepalives_count", [false, false, true, true]),
    ("tcp_user_timeout", [false, false, true, true]),
    ("target_session_attrs", [false, false, true, true]),
    ("uselibpqcompat", [false, true, false, false]),
    ("host", [true, true, true, true]),
    ("hostaddr", [false, false, true, true]),
    ("port", [false, true, true, true]),
    ("user", [false, true, true, true]),
    ("password", [false, true, true, true]),
    ("dbname", [false, false, true, true]),
];

/// Whether `reader` understands the parameter `key`.
pub fn understands(reader: Reader, key: &str) -> bool {
    let idx = Reader::ALL.iter().position(|r| *r == reader).unwrap_or(0);
    SUPPORT
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, s)| s[idx])
        .unwrap_or(false)
}

/// Whether any of the four readers knows the parameter.
pub fn known_to_any(key: &str) -> bool {
    SUPPORT.iter().any(|(k, _)| *k == key)
}

/// Which readers take a host list (`h1:5432,h2:5433`), for a URL with more
/// than one host. libpq and the `postgres` crate fail over between them;
/// Prisma's engine (the `url` crate) and node-postgres (WHATWG `URL`, in
/// pg-connection-string) refuse a list with ports as an invalid URL, and
/// read one without ports (`h1,h2:5433`) as a single host name that does
/// not resolve. (Checked in pg-connection-string 2.14 and Node 20's `URL`.)
pub fn host_list_note(url: &PgUrl) -> Option<String> {
    let endpoints = url.endpoints().ok()?;
    if endpoints.len() < 2 {
        return None;
    }
    let list: Vec<String> = endpoints
        .iter()
        .map(|e| format!("{}:{}", e.name(), e.port))
        .collect();
    Some(format!(
        "{} hosts ({}): libpq (psql) and the postgres crate (db-test) try them in turn, \
         but Prisma Migrate and node-postgres (the app through @prisma/adapter-pg) do not \
         support a host list and fail to connect; give Prisma and the app one host",
        endpoints.len(),
        list.join(", ")
    ))
}
