//! Where libpq connects, the reference for what a URL means: the URL's host
//! list, replaced by a `host=` parameter when there is one (libpq's and
//! Prisma's socket form `?host=/var/run/postgresql`), with ports from the
//! URL or `port=`, and `hostaddr=` addresses paired entry by entry, as
//! libpq's fe-connect.c pairs them. libpq fails over from one entry to the
//! next, so a decision about TLS must hold for every entry.

use std::net::IpAddr;

use super::{PgUrl, UrlError};

/// One place libpq tries, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host name, IP address or socket directory, decoded; empty when
    /// the URL names none (libpq's default).
    pub host: String,
    /// libpq's `hostaddr`: the address connected to; `host` then serves
    /// only TLS verification and the password file.
    pub hostaddr: Option<String>,
    pub port: u16,
}

impl Endpoint {
    /// A Unix-socket directory (a `hostaddr` wins over it, as in libpq).
    pub fn is_socket(&self) -> bool {
        self.hostaddr.is_none() && self.host.starts_with('/')
    }

    /// What is resolved and connected to.
    pub fn address(&self) -> &str {
        match (&self.hostaddr, self.host.as_str()) {
            (Some(a), _) => a,
            (None, "") => "localhost",
            (None, h) => h,
        }
    }

    /// The name shown, and checked against the server's certificate.
    pub fn name(&self) -> &str {
        match (self.host.as_str(), &self.hostaddr) {
            ("", Some(a)) => a,
            ("", None) => "localhost",
            (h, _) => h,
        }
    }

    /// Loopback or a socket. With `hostaddr`, both it and the host name
    /// must be local: a tunnel to a named remote server needs TLS too.
    pub fn is_local(&self) -> bool {
        is_local_name(&self.host) && self.hostaddr.as_deref().is_none_or(is_local_name)
    }
}

fn is_local_name(h: &str) -> bool {
    // An IPv6 zone (`fe80::1%eth0`) does not change what the address is.
    let addr = h.split('%').next().unwrap_or(h);
    h.is_empty()
        || h.eq_ignore_ascii_case("localhost")
        || h.starts_with('/')
        || addr.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn split(list: Option<String>) -> Option<Vec<String>> {
    list.map(|s| s.split(',').map(str::to_string).collect())
}

impl PgUrl {
    /// libpq's `host` option, as `PQconninfoParse` reports it: the last
    /// `host=` parameter, else the URL's hosts joined by commas.
    pub fn libpq_host(&self) -> Option<String> {
        if let Some(h) = self.param("host") {
            return Some(h.to_string());
        }
        let joined: Vec<String> = self.hosts.iter().map(|h| h.host()).collect();
        Some(joined.join(",")).filter(|s| !s.is_empty())
    }

    /// libpq's `port` option: the last `port=`, else the URL's ports joined
    /// by commas (an entry without a port is empty).
    pub fn libpq_port(&self) -> Option<String> {
        if let Some(p) = self.param("port") {
            return Some(p.to_string());
        }
        let joined: Vec<String> = self
            .hosts
            .iter()
            .map(|h| h.port.map(|p| p.to_string()).unwrap_or_default())
            .collect();
        Some(joined.join(",")).filter(|s| !s.is_empty())
    }

    /// What `PQconninfoParse` reports for a keyword of this URL: the
    /// oracle tests compare this with the local libpq.
    #[cfg(test)]
    pub fn libpq_option(&self, key: &str) -> Option<String> {
        match key {
            "host" => self.libpq_host(),
            "port" => self.libpq_port(),
            "user" => self.user().map(str::to_string),
            "dbname" => self.database().map(str::to_string),
            _ => self.param(key).map(str::to_string),
        }
    }

    /// Every place libpq would try, in order. Errors where libpq's connect
    /// would fail: counts that do not pair up, a port or hostaddr that is
    /// not one.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>, UrlError> {
        let hosts = split(self.libpq_host());
        let addrs = split(self.param("hostaddr").map(str::to_string));
        let ports = split(self.libpq_port()).unwrap_or_else(|| vec![String::new()]);
        let n = match (&hosts, &addrs) {
            (Some(h), Some(a)) if h.len() != a.len() => {
                return Err(UrlError::Invalid(format!(
                    "{} host(s) but {} hostaddr value(s): libpq pairs them one to one",
                    h.len(),
                    a.len()
                )))
            }
            (Some(h), _) => h.len(),
            (None, Some(a)) => a.len(),
            (None, None) => 1,
        };
        if ports.len() != 1 && ports.len() != n {
            return Err(UrlError::Invalid(format!(
                "{} port(s) for {n} host(s): give one port for all hosts or one per host",
                ports.len()
            )));
        }
        (0..n)
            .map(|i| {
                let host = hosts.as_ref().map(|h| h[i].clone()).unwrap_or_default();
                let hostaddr = addrs.as_ref().map(|a| a[i].clone());
                let hostaddr = hostaddr.filter(|a| !a.is_empty());
                if let Some(a) = &hostaddr {
                    if a.parse::<IpAddr>().is_err() {
                        return Err(UrlError::Invalid(format!(
                            "hostaddr `{a}` is not an IP address (a host name belongs in host=)"
                        )));
                    }
                }
                let port = parse_port(&ports[if ports.len() == 1 { 0 } else { i }], &host)?;
                Ok(Endpoint {
                    host,
                    hostaddr,
                    port,
                })
            })
            .collect()
    }

    /// The first host libpq tries (`localhost` when the URL names none).
    pub fn host(&self) -> String {
        self.endpoints()
            .ok()
            .and_then(|e| e.first().map(|e| e.name().to_string()))
            .unwrap_or_else(|| "localhost".to_string())
    }

    /// The port of the first host libpq tries (5432 when none is given).
    pub fn port(&self) -> u16 {
        self.endpoints()
            .ok()
            .and_then(|e| e.first().map(|e| e.port))
            .unwrap_or(5432)
    }

    /// True when no host libpq may try needs TLS: every one is loopback or
    /// a socket (libpq fails over to the next host, encrypted or not).
    pub fn is_local(&self) -> bool {
        self.endpoints()
            .is_ok_and(|e| e.iter().all(Endpoint::is_local))
    }
}

fn parse_port(p: &str, host: &str) -> Result<u16, UrlError> {
    if p.is_empty() {
        return Ok(5432);
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(UrlError::Invalid(format!(
            "port `{p}` of host `{host}` is not a number from 1 to 65535"
        ))),
        Ok(port) => Ok(port),
    }
}
