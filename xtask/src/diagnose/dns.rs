//! The dns layer: the addresses the host resolves to, bounded in time.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

use super::{fail, pass, Code, Outcome};

/// Runs `f` on a thread and gives up after `bound`: std has no DNS timeout,
/// and a blocked resolver must not hang the verdict.
fn bounded<T: Send + 'static>(
    bound: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(bound).ok()
}

pub(super) fn check(host: &str, port: u16, t: Duration) -> (Outcome, Option<Vec<SocketAddr>>) {
    let h = host.to_string();
    match bounded(t, move || {
        (h.as_str(), port)
            .to_socket_addrs()
            .map(|a| a.collect::<Vec<_>>())
    }) {
        Some(Ok(addrs)) if !addrs.is_empty() => {
            let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            (pass(shown.join(", ")), Some(addrs))
        }
        // The resolver's own words say which failure it was (no such
        // name, no answer from the DNS server, ...).
        Some(Ok(_)) => (
            fail(
                Code::DnsFailed,
                format!("{host} resolves to no address"),
                hint(host),
            ),
            None,
        ),
        Some(Err(e)) => (
            fail(
                Code::DnsFailed,
                format!("{host} does not resolve: {e}"),
                hint(host),
            ),
            None,
        ),
        None => (
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
