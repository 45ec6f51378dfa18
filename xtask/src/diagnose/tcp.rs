//! The tcp layer: a connection to each address; refused, timed out and
//! reset are different findings.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::{closed_hint, fail, pass, Code, Outcome};

pub(super) fn check(host: &str, addrs: &[SocketAddr], t: Duration) -> (Outcome, Option<TcpStream>) {
    let mut refused = Vec::new();
    let mut timed_out = Vec::new();
    let mut reset = Vec::new();
    let mut unreachable: Vec<SocketAddr> = Vec::new();
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
            // No route: said at once by this machine, not by a firewall.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NetworkUnreachable | std::io::ErrorKind::HostUnreachable
                ) =>
            {
                unreachable.push(*a)
            }
            Err(e) => timed_out.push(format!("{a} ({e})")),
        }
    }
    let port = addrs.first().map(|a| a.port()).unwrap_or(5432);
    if !unreachable.is_empty() && refused.is_empty() && timed_out.is_empty() && reset.is_empty() {
        return (unreachable_finding(host, &unreachable, addrs), None);
    }
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

/// Every address had no route from here. When the host has only IPv6
/// addresses, that is an IPv4-only network meeting an IPv6-only host
/// (Supabase's direct host, causes.md entry 8).
fn unreachable_finding(host: &str, unreachable: &[SocketAddr], all: &[SocketAddr]) -> Outcome {
    let list: Vec<String> = unreachable.iter().map(|a| a.to_string()).collect();
    let detail = format!(
        "no route from this machine to {} (network unreachable)",
        list.join(", ")
    );
    if all.iter().all(SocketAddr::is_ipv6) {
        fail(
            Code::TcpUnreachable,
            format!("{detail}: {host} has only IPv6 addresses"),
            "this machine (or CI runner, or VPN) has no IPv6 route, and the host has no IPv4 address: use an IPv4 path to the database (Supabase: the session pooler aws-0-<region>.pooler.supabase.com:5432 with user postgres.<project-ref>, or its IPv4 add-on), or give this network IPv6",
        )
    } else {
        fail(
            Code::TcpUnreachable,
            detail,
            format!("this machine has no route to {host}: a VPN that is not connected, or a private address (an RDS instance without public access) reached from outside its network: connect the VPN, or run from inside the VPC"),
        )
    }
}
