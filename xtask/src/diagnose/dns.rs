//! The dns layer: the addresses the host resolves to, bounded in time.

use std::net::SocketAddr;
use std::time::Duration;

use super::{fail, pass, Code, Outcome};
use crate::conn::{resolve, Resolved};

pub(super) fn check(host: &str, port: u16, t: Duration) -> (Outcome, Option<Vec<SocketAddr>>) {
    match resolve(host, port, t) {
        Resolved::Addrs(addrs) => {
            let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            (pass(shown.join(", ")), Some(addrs))
        }
        // The resolver's own words say which failure it was (no such
        // name, no answer from the DNS server, ...).
        Resolved::Empty => (
            fail(
                Code::DnsFailed,
                format!("{host} resolves to no address"),
                hint(host),
            ),
            None,
        ),
        Resolved::Failed(e) => (
            fail(
                Code::DnsFailed,
                format!("{host} does not resolve: {e}"),
                hint(host),
            ),
            None,
        ),
        Resolved::TimedOut => (
            fail(
                Code::DnsFailed,
                format!("resolving {host} took longer than {}s", t.as_secs()),
                "check your DNS or VPN connection",
            ),
            None,
        ),
    }
}

fn hint(host: &str) -> String {
    let mut h = "check the host name (the RDS console's \"Endpoint\"); a private endpoint resolves only inside its VPC or over the VPN".to_string();
    if crate::aws::is_rds_host(host) {
        h.push_str("; `cargo xtask rds-check` looks the instance up in your AWS account");
    }
    h
}
