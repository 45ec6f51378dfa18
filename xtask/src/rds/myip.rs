//! The user's public IP for the security-group check: given (`--my-ip`), or
//! asked, only on request (`--lookup-my-ip`), of a plain-HTTP
//! what-is-my-IP service. Plain HTTP over a socket: no HTTP crate to build.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// AWS's own service; any URL answering with the address as text works.
pub const DEFAULT_URL: &str = "http://checkip.amazonaws.com/";

/// An address and where it came from, for the detail line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyIp {
    pub ip: IpAddr,
    pub source: String,
}

/// GETs `url` (http only) and reads the first IP address in the body.
pub fn lookup(url: &str) -> Result<MyIp, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let t = Duration::from_secs(5);
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, t).map_err(|e| format!("{url}: {e}"))?;
    s.set_read_timeout(Some(t)).ok();
    s.set_write_timeout(Some(t)).ok();
    let host = authority;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: cargo-xtask-rds-check\r\nAccept: text/plain\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("{url}: {e}"))?;
    let mut buf = Vec::new();
    s.take(64 * 1024)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{url}: {e}"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // The HTTP status line: `HTTP/1.1 200 OK`.
    if head.split_whitespace().nth(1) != Some("200") {
        let status = head.lines().next().unwrap_or("no answer");
        return Err(format!("{url} answered `{status}`"));
    }
    body.split_whitespace()
        .find_map(|w| w.parse::<IpAddr>().ok())
        .map(|ip| MyIp {
            ip,
            source: format!("looked up at {url}"),
        })
        .ok_or_else(|| format!("{url} answered without an IP address"))
}
