//! The resolve stage: the addresses a host name stands for, bounded in
//! time. std has no DNS timeout, and a blocked resolver must not hang a
//! verdict or a command.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

/// What resolving gave.
#[derive(Debug)]
pub enum Resolved {
    Addrs(Vec<SocketAddr>),
    /// The name exists but has no address.
    Empty,
    /// The resolver's own error (no such name, no answer from the server).
    Failed(io::Error),
    /// No answer within the bound.
    TimedOut,
}

/// Resolves `host:port` on a thread and gives up after `bound` (the thread
/// is left to finish on its own: a resolver call cannot be cancelled).
pub fn resolve(host: &str, port: u16, bound: Duration) -> Resolved {
    let (tx, rx) = mpsc::channel();
    let h = host.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(
            (h.as_str(), port)
                .to_socket_addrs()
                .map(|a| a.collect::<Vec<_>>()),
        );
    });
    match rx.recv_timeout(bound) {
        Ok(Ok(addrs)) if addrs.is_empty() => Resolved::Empty,
        Ok(Ok(addrs)) => Resolved::Addrs(addrs),
        Ok(Err(e)) => Resolved::Failed(e),
        Err(_) => Resolved::TimedOut,
    }
}
