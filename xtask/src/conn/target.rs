//! What it takes to connect, the way libpq would: the URL model is turned
//! into a tokio-postgres `Config` (never a URL string, so no library error
//! can echo it), and `sslmode`/`sslrootcert`/`sslnegotiation` become TLS
//! settings with libpq's meaning (OpenSSL on Linux, native-tls elsewhere).
//! `link` opens every connection from a `Target`, bounded in time.

use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(not(target_os = "linux"))]
use native_tls::{Certificate, TlsConnector};
use tokio_postgres::config::{SslMode, SslNegotiation};

use crate::pgurl::{PgUrl, TlsMode};

/// What it takes to connect, derived from a `PgUrl`.
pub struct Target {
    pub config: tokio_postgres::Config,
    /// The first host (a directory for a Unix socket) and its port.
    pub host: String,
    /// The name TLS checks (the host name even when `hostaddr` is where we
    /// connect, as libpq does).
    pub tls_name: String,
    pub port: u16,
    pub tls: TlsMode,
    /// `sslnegotiation=direct`: TLS at once, no SSLRequest (PostgreSQL 17+).
    pub direct: bool,
    pub rootcert: Option<PathBuf>,
    /// The bound for one whole connection attempt (TCP, TLS, startup, auth).
    pub timeout: Duration,
    /// Built once per target.
    #[cfg(not(target_os = "linux"))]
    connector: std::cell::OnceCell<Result<TlsConnector, String>>,
    #[cfg(target_os = "linux")]
    openssl: std::cell::OnceCell<Result<super::openssl::Connector, String>>,
}

impl Target {
    /// The TLS connector for this target's sslmode and sslrootcert.
    #[cfg(not(target_os = "linux"))]
    pub fn tls_connector(&self) -> Result<TlsConnector, String> {
        self.connector
            .get_or_init(|| tls_connector(self.tls, self.rootcert.as_deref(), self.direct))
            .clone()
    }

    /// The same settings for OpenSSL itself, which every handshake uses on
    /// Linux (see `openssl`).
    #[cfg(target_os = "linux")]
    pub fn openssl_connector(&self) -> Result<&super::openssl::Connector, String> {
        self.openssl
            .get_or_init(|| {
                let system = self.tls.verifies() && self.rootcert.is_none();
                let roots = match &self.rootcert {
                    Some(path) => root_pems(path)?,
                    None => Vec::new(),
                };
                super::openssl::connector(self.tls, &roots, system, self.direct)
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Builds the target. `default_timeout` applies when the URL has no
/// `connect_timeout`; `override_timeout` wins over both.
pub fn target(
    url: &PgUrl,
    base_dir: &Path,
    default_timeout: Duration,
    override_timeout: Option<Duration>,
) -> Result<Target, String> {
    let mut c = tokio_postgres::Config::new();
    let tls = url.tls_mode()?;
    let direct = match url.param("sslnegotiation").unwrap_or("postgres") {
        "postgres" => false,
        "direct" if tls == TlsMode::Prefer => {
            return Err("sslnegotiation=direct needs sslmode=require or stronger (libpq refuses it with prefer)".into())
        }
        "direct" => true,
        other => return Err(format!("sslnegotiation `{other}` is not one of postgres, direct")),
    };
    connect_to(url, &mut c)?;
    // The first host libpq tries: where our own connections go.
    let first = url
        .endpoints()
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or("the URL names no host")?;
    // libpq: a `user=`/`dbname=`/`password=` parameter overrides the URL's
    // part (`PgUrl::user` and `database` read them so).
    let user = url
        .user()
        .map(str::to_string)
        .ok_or("the URL names no user: write postgresql://USER:PASSWORD@HOST/DB")?;
    c.user(&user);
    if let Some(p) = url.param("password") {
        c.password(p);
    } else if let Some(p) = url.password() {
        c.password(p.expose());
    }
    c.dbname(url.database().unwrap_or(&user));
    let url_timeout = url
        .param("connect_timeout")
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs);
    let timeout = override_timeout.or(url_timeout).unwrap_or(default_timeout);
    c.connect_timeout(timeout);
    pass_parameters(url, &mut c);
    c.ssl_mode(match tls {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        _ => SslMode::Require,
    });
    if direct && tls != TlsMode::Disable {
        c.ssl_negotiation(SslNegotiation::Direct);
    }
    let rootcert = url
        .param("sslrootcert")
        .filter(|p| *p != "system")
        .map(|p| base_dir.join(p));
    Ok(Target {
        config: c,
        host: first.address().to_string(),
        tls_name: first.name().to_string(),
        port: first.port,
        tls,
        direct,
        rootcert,
        timeout,
        #[cfg(not(target_os = "linux"))]
        connector: std::cell::OnceCell::new(),
        #[cfg(target_os = "linux")]
        openssl: std::cell::OnceCell::new(),
    })
}

/// The hosts libpq would try, in its order, with the `host=`, `port=` and
/// `hostaddr=` parameters applied as libpq applies them (`PgUrl::endpoints`),
/// so db-test connects where it reports.
fn connect_to(url: &PgUrl, c: &mut tokio_postgres::Config) -> Result<(), String> {
    let endpoints = url.endpoints().map_err(|e| e.to_string())?;
    let with_addr = endpoints.iter().filter(|e| e.hostaddr.is_some()).count();
    if with_addr != 0 && with_addr != endpoints.len() {
        return Err("hostaddr= gives an address for some hosts only; db-test needs one for every host or none".into());
    }
    for ep in &endpoints {
        #[cfg(unix)]
        if ep.is_socket() {
            c.host_path(&ep.host);
            c.port(ep.port);
            continue;
        }
        c.host(ep.name());
        if let Some(a) = &ep.hostaddr {
            c.hostaddr(
                a.parse()
                    .map_err(|_| format!("hostaddr `{a}` is not an IP address"))?,
            );
        }
        c.port(ep.port);
    }
    Ok(())
}

/// Only parameters the crate understands are passed on (it rejects
/// Prisma-only and node-only ones with "unknown option"); the rest of the
/// URL's parameters are set aside here.
fn pass_parameters(url: &PgUrl, c: &mut tokio_postgres::Config) {
    for p in url.params() {
        match p.key.as_str() {
            "application_name" => {
                c.application_name(&p.value);
            }
            "options" => {
                c.options(&p.value);
            }
            "keepalives" => {
                c.keepalives(p.value != "0");
            }
            "keepalives_idle" => {
                if let Ok(s) = p.value.parse() {
                    c.keepalives_idle(Duration::from_secs(s));
                }
            }
            _ => {}
        }
    }
}

#[cfg(not(target_os = "linux"))]
/// A native-tls connector with libpq's verification for `mode`. Like libpq,
/// a given `sslrootcert` is the only trust anchor; the system's roots are
/// loaded only for verify-* without one (and never when nothing is
/// verified, which also saves loading the system store).
fn tls_connector(
    mode: TlsMode,
    rootcert: Option<&Path>,
    direct: bool,
) -> Result<TlsConnector, String> {
    let system_roots = mode.verifies() && rootcert.is_none();
    let mut b = TlsConnector::builder();
    if direct {
        // A server taking TLS without an SSLRequest insists on this ALPN.
        postgres_native_tls::set_postgresql_alpn(&mut b);
    }
    b.disable_built_in_roots(!system_roots);
    match mode {
        TlsMode::Disable | TlsMode::Prefer | TlsMode::Require => {
            b.danger_accept_invalid_certs(true);
            b.danger_accept_invalid_hostnames(true);
        }
        TlsMode::VerifyCa => {
            b.danger_accept_invalid_hostnames(true);
        }
        TlsMode::VerifyFull => {}
    }
    if let Some(path) = rootcert {
        for cert in root_pems(path)? {
            let c = Certificate::from_pem(&cert)
                .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            b.add_root_certificate(c);
        }
    }
    b.build().map_err(|e| format!("cannot set up TLS: {e}"))
}

/// The certificates in an `sslrootcert` file, each as PEM.
fn root_pems(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
    let certs = split_pem(&pem);
    if certs.is_empty() {
        return Err(format!(
            "sslrootcert {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// A bundle such as RDS's `global-bundle.pem` holds many certificates.
fn split_pem(pem: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let Some(end) = rest[start..].find("-----END CERTIFICATE-----") else {
            break;
        };
        let end = start + end + "-----END CERTIFICATE-----".len();
        out.push(rest.as_bytes()[start..end].to_vec());
        rest = &rest[end..];
    }
    out
}

/// Why a bounded connection attempt gave up.
pub enum ConnectError {
    /// No verdict within the bound: the server accepted and said nothing.
    TimedOut(Duration),
    Setup(String),
    /// The socket could not be reached (a Unix socket's file, say).
    Unreachable(String),
    Pg(tokio_postgres::Error),
}

impl ConnectError {
    /// The failure as one masked sentence.
    pub fn sentence(&self) -> String {
        match self {
            ConnectError::Pg(e) => describe(e),
            ConnectError::Setup(e) | ConnectError::Unreachable(e) => e.clone(),
            ConnectError::TimedOut(d) => format!("no answer within {}s", d.as_secs()),
        }
    }
}

/// The chain of messages in an error, masked: library errors can carry
/// parts of what they were given.
pub fn describe(e: &tokio_postgres::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    crate::secret::redact(&parts.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_postgres::config::Host;

    fn config(url: &str) -> tokio_postgres::Config {
        let url = PgUrl::parse(url).unwrap();
        target(&url, Path::new("."), Duration::from_secs(1), None)
            .unwrap()
            .config
    }

    /// db-test connects where libpq would, and where it reports.
    #[test]
    fn target_connects_where_libpq_would() {
        let c = config("postgresql://u@localhost:5432/db?host=db.example.com&port=6543");
        assert_eq!(c.get_hosts(), [Host::Tcp("db.example.com".into())]);
        assert_eq!(c.get_ports(), [6543]);
        #[cfg(unix)]
        {
            let c = config("postgres://u@localhost/db?host=/tmp&port=5433");
            assert_eq!(c.get_hosts(), [Host::Unix("/tmp".into())]);
            assert_eq!(c.get_ports(), [5433]);
        }
        let c = config("postgresql://u@h1,h2:5433/db?hostaddr=10.0.0.1,10.0.0.2");
        assert_eq!(c.get_ports(), [5432, 5433]);
        let addrs: Vec<String> = c.get_hostaddrs().iter().map(|a| a.to_string()).collect();
        assert_eq!(addrs, ["10.0.0.1", "10.0.0.2"]);
        // Our own connections go to the address; TLS checks the name.
        let url = PgUrl::parse("postgresql://u@db.example.com:6543/db?hostaddr=127.0.0.1").unwrap();
        let t = target(&url, Path::new("."), Duration::from_secs(1), None).unwrap();
        assert_eq!(
            (t.host.as_str(), t.tls_name.as_str(), t.port),
            ("127.0.0.1", "db.example.com", 6543)
        );
        let c = config("postgresql://u@h/db?dbname=other&user=v");
        assert_eq!((c.get_dbname(), c.get_user()), (Some("other"), Some("v")));
    }
}
