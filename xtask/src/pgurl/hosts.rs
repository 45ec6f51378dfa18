//! The host list of a URL (`h1:5432,[::1]:5433`) and where the userinfo
//! ends: a raw `@` in a password is accepted when a well-formed host list
//! follows the last candidate `@`.

use super::encode::decode;
use super::UrlError;

/// One `host[:port]` of the host list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// As written (IPv6 keeps its brackets, a socket path stays encoded).
    pub raw_host: String,
    pub port: Option<u16>,
    /// The whole entry as written (`host:` with an empty port included).
    pub(super) raw: String,
}

impl HostPort {
    /// A host name or IPv4 address with a port.
    pub fn new(host: &str, port: u16) -> HostPort {
        HostPort {
            raw_host: host.to_string(),
            port: Some(port),
            raw: format!("{host}:{port}"),
        }
    }

    /// The host name or address without brackets or escapes.
    pub fn host(&self) -> String {
        let h = self.raw_host.trim_start_matches('[').trim_end_matches(']');
        decode(h)
    }
}

/// Splits `user:password@hosts/...` at the `@` that ends the userinfo.
pub(super) fn split_userinfo(rest: &str) -> Result<(Option<&str>, &str), UrlError> {
    let ats: Vec<usize> = rest.match_indices('@').map(|(i, _)| i).collect();
    if ats.is_empty() {
        return Ok((None, rest));
    }
    for &at in &ats {
        let after = &rest[at + 1..];
        if looks_like_host_part(after) {
            return Ok((Some(&rest[..at]), after));
        }
    }
    Err(UrlError::Invalid(
        "cannot tell where the password ends and the host begins: percent-encode `@` in the \
         password as %40 (or run `cargo xtask env-fix --password-stdin`)"
            .into(),
    ))
}

/// True when `s` starts with a host list followed by `/`, `?` or the end,
/// and its path (the database name) has no `@`.
fn looks_like_host_part(s: &str) -> bool {
    let host_end = s.find(['/', '?']).unwrap_or(s.len());
    let hostlist = &s[..host_end];
    if hostlist.contains('@') {
        return false;
    }
    let path_end = s.find('?').unwrap_or(s.len());
    if s[host_end..path_end].contains('@') {
        return false;
    }
    hostlist.split(',').all(|entry| {
        let (host, port) = split_host_port(entry);
        host_is_valid(host)
            && port
                .map(|p| p.chars().all(|c| c.is_ascii_digit()))
                .unwrap_or(true)
    })
}

/// A host name, an IPv4 address, a bracketed IPv6 address, a percent-encoded
/// socket path, or nothing (libpq's default host).
fn host_is_valid(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[') {
        return inner.strip_suffix(']').is_some_and(|a| {
            !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        });
    }
    host.chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-%~".contains(c))
}

fn split_host_port(entry: &str) -> (&str, Option<&str>) {
    if entry.starts_with('[') {
        match entry.find(']') {
            Some(end) => {
                let rest = &entry[end + 1..];
                (&entry[..end + 1], rest.strip_prefix(':'))
            }
            None => (entry, None),
        }
    } else {
        match entry.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (entry, None),
        }
    }
}

pub(super) fn parse_hosts(list: &str) -> Result<Vec<HostPort>, UrlError> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(|entry| {
            let (host, port) = split_host_port(entry);
            let port = match port {
                None | Some("") => None,
                Some(p) => Some(p.parse::<u16>().map_err(|_| {
                    UrlError::Invalid(format!(
                        "port `{p}` of host `{host}` is not a number from 1 to 65535"
                    ))
                })?),
            };
            if port == Some(0) {
                return Err(UrlError::Invalid(format!(
                    "port 0 of host `{host}` is not valid"
                )));
            }
            if !host_is_valid(host) {
                return Err(UrlError::Invalid(format!(
                    "`{host}` is not a host name or address: use letters, digits, `.` and `-`, or [IPv6]"
                )));
            }
            Ok(HostPort {
                raw_host: host.to_string(),
                port,
                raw: entry.to_string(),
            })
        })
        .collect()
}
