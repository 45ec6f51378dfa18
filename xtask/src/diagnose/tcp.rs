//! The tcp layer: a connection to each address; refused, timed out and
//! reset are different findings.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::{closed_hint, fail, pass, Code, Outcome};

pub(super) fn check(host: &str, addrs: &[SocketAddr], t: Duration) -> (Outcome, Option<TcpStream>) {
    let mut refused = Vec::new();
    let mut timed_out = Vec::new();
    let mut reset = Vec::new();
    for a in addrs {
        match TcpStream::connect_timeout(a, t) {
            Ok(s) => {
                let mut detail = format!("connected to {a}");
                if !refused.is_empty() || !timed_out.is_empty() {
                    detail.push_str(&format!(
                        " (after {} failed address(es))",
                        refused.len() + timed_out.len()
                    ));
                }
                return (pass(detail), Some(s));
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused.push(a.to_string())
            }
            // Accepted and at once reset: something answers, then hangs up.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                ) =>
            {
                reset.push(a.to_string())
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => timed_out.push(a.to_string()),
            Err(e) => timed_out.push(format!("{a} ({e})")),
        }
    }
    let port = addrs.first().map(|a| a.port()).unwrap_or(5432);
    if !reset.is_empty() && timed_out.is_empty() {
        (
            fail(
                Code::ServerClosed,
                format!(
                    "{} accepted the connection and reset it at once",
                    reset.join(", ")
                ),
                closed_hint(),
            ),
            None,
        )
    } else if !timed_out.is_empty() {
        (
            fail(Code::TcpTimeout, format!("no answer from {} within {}s", timed_out.join(", "), t.as_secs()), format!("a firewall drops the packets: on RDS, add an inbound rule for your IP on port {port} to the instance's security group (and check it is publicly accessible, or that you are on the VPN); `cargo xtask rds-check` checks the security group, network ACLs and routes for you")),
            None,
        )
    } else {
        (
            fail(Code::TcpRefused, format!("{} refused the connection", refused.join(", ")), format!("nothing listens on {host}:{port}: check the instance is running (RDS console: Status, or `cargo xtask rds-check`) and the port in the URL")),
            None,
        )
    }
}
