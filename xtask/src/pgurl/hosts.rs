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
    // A host list that is wrong by itself deserves its own message, not a
    // guess about the password.
    let last = &rest[ats[ats.len() - 1] + 1..];
    let hostlist = &last[..last.find(['/', '?']).unwrap_or(last.len())];
    if let Some(why) = hostlist.split(',').find_map(entry_problem) {
        return Err(UrlError::Invalid(why));
    }
    Err(UrlError::Invalid(
        "cannot tell where the password ends and the host begins: percent-encode `@` in the \
         password as %40 (or run `cargo xtask env-fix --password-stdin`)"
            .into(),
    ))
}

/// What is wrong with one `host:port` entry that has more than one `:`
/// outside brackets: a port given twice, or an IPv6 address without its
/// brackets. None when it is neither.
fn entry_problem(entry: &str) -> Option<String> {
    if entry.starts_with('[') || entry.matches(':').count() < 2 {
        return None;
    }
    let (first, ports) = entry.split_once(':')?;
    let digits = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
    if host_is_valid(first) && !first.is_empty() && ports.split(':').all(digits) {
        return Some(format!(
            "`{entry}` gives the port more than once: write {first}:PORT with one port \
             (several hosts are separated by commas: h1:5432,h2:5432)"
        ));
    }
    if entry
        .chars()
        .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    {
        let example = match entry.rsplit_once(':') {
            Some((addr, port)) if digits(port) && addr.contains("::") => format!("[{addr}]:{port}"),
            _ => format!("[{entry}]"),
        };
        return Some(format!(
            "`{entry}` looks like an IPv6 address: write it in brackets, as in {example} \
             (the port goes after the `]`)"
        ));
    }
    None
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
        // An IPv6 zone is written `%25` and a name: `[fe80::1%25eth0]`.
        return inner.strip_suffix(']').is_some_and(|a| {
            let (addr, zone) = match a.split_once("%25") {
                Some((addr, zone)) => (addr, Some(zone)),
                None => (a, None),
            };
            !addr.is_empty()
                && addr
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
                && zone.is_none_or(|z| {
                    !z.is_empty()
                        && z.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "._~-%".contains(c))
                })
        });
    }
    host.chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-%~".contains(c))
}

fn split_host_port(entry: &str) -> (&str, Option<&str>) {
    if entry.starts_with('[') {
        match entry.find(']') {
            // Only `:PORT` may follow the `]` (libpq refuses `[::1]z`).
            Some(end) if entry[end + 1..].is_empty() || entry[end + 1..].starts_with(':') => {
                let rest = &entry[end + 1..];
                (&entry[..end + 1], rest.strip_prefix(':'))
            }
            Some(_) => (entry, None),
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
            if let Some(why) = entry_problem(entry) {
                return Err(UrlError::Invalid(why));
            }
            let (host, port) = split_host_port(entry);
            let port = match port {
                None | Some("") => None,
                // Text that is no number is not repeated: it may be a
                // password whose `@` is missing.
                Some(p) if !p.chars().all(|c| c.is_ascii_digit()) => {
                    return Err(UrlError::Invalid(format!(
                        "the port of host `{host}` is not a number from 1 to 65535"
                    )))
                }
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
