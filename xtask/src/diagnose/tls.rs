//! The tls layer: PostgreSQL's SSLRequest on the raw socket, then the
//! handshake and the certificate checks the URL's sslmode asks for.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{closed_hint, fail, pass, skip, warn, Code, Outcome};
use crate::pg::{Target, TlsMode};

/// Sends PostgreSQL's SSLRequest on the raw socket and performs the
/// handshake, so "no TLS", "silent server" and "bad certificate" are told
/// apart before authentication muddles them.
pub(super) fn check(
    host: &str,
    mut stream: TcpStream,
    target: &Target,
    t: Duration,
) -> (Outcome, Option<()>) {
    if target.tls == TlsMode::Disable {
        return (skip("sslmode=disable: TLS not requested"), Some(()));
    }
    let _ = stream.set_read_timeout(Some(t));
    let _ = stream.set_write_timeout(Some(t));
    // Length 8, then the SSLRequest code 80877103.
    let request = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    if stream.write_all(&request).is_err() {
        return (
            fail(
                Code::ServerClosed,
                "the server closed the connection before the TLS request",
                closed_hint(),
            ),
            None,
        );
    }
    let mut answer = [0u8; 1];
    let ready = wait_readable(&stream, t);
    match ready.and_then(|_| stream.read(&mut answer)) {
        Ok(0) => return (fail(Code::ServerClosed, "the server closed the connection at the TLS request", closed_hint()), None),
        Ok(_) => {}
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            return (fail(Code::StartupTimeout, format!("the server accepted the connection but said nothing for {}s", target.timeout.as_secs()), "something accepts TCP but does not speak PostgreSQL (a stuck proxy, a wrong port, an overloaded server): check the port and any proxy or tunnel"), None)
        }
        Err(e) => return (fail(Code::ServerClosed, format!("the connection broke at the TLS request: {e}"), closed_hint()), None),
    }
    match (answer[0], target.tls) {
        (b'N', TlsMode::Prefer) => {
            return (
                warn(
                    "the server offers no TLS; continuing unencrypted (sslmode=prefer)",
                    "hosted databases should use TLS: enable it on the server",
                ),
                Some(()),
            )
        }
        (b'N', _) => return (unavailable(target.tls), None),
        (b'S', _) => {}
        (other, _) => {
            return (
                fail(
                    Code::ServerClosed,
                    format!(
                        "unexpected answer {:?} to the TLS request: not a PostgreSQL server?",
                        other as char
                    ),
                    "check the host and port",
                ),
                None,
            )
        }
    }
    handshake(host, stream, target)
}

/// The TLS handshake on a socket whose server agreed to TLS.
fn handshake(host: &str, stream: TcpStream, target: &Target) -> (Outcome, Option<()>) {
    let connector = match target.tls_connector() {
        Ok(c) => c,
        Err(e) => return (fail(Code::TlsFailed, e, "check sslrootcert: it must name a PEM file with the CA certificate (RDS: global-bundle.pem)"), None),
    };
    match connector.connect(host, stream) {
        Ok(s) => {
            let verified = if target.tls.verifies() {
                "certificate verified"
            } else {
                "certificate not verified (libpq's meaning of this sslmode)"
            };
            drop(s);
            (pass(format!("TLS handshake done; {verified}")), Some(()))
        }
        Err(e) => (handshake_failed(&e.to_string(), target), None),
    }
}

/// Tells a closed connection, a silent peer and a certificate problem apart.
fn handshake_failed(error: &str, target: &Target) -> Outcome {
    let msg = crate::secret::redact(error);
    let timed_out =
        msg.contains("timed out") || msg.contains("WouldBlock") || msg.contains("would block");
    let lower = msg.to_ascii_lowercase();
    let closed = [
        "unexpected eof",
        "connection reset",
        "broken pipe",
        "connection aborted",
    ]
    .iter()
    .any(|w| lower.contains(w));
    if closed {
        fail(
            Code::ServerClosed,
            format!("the connection ended during the TLS handshake: {msg}"),
            closed_hint(),
        )
    } else if timed_out {
        fail(
            Code::StartupTimeout,
            format!(
                "the TLS handshake got no answer within {}s",
                target.timeout.as_secs()
            ),
            "something between you and the server holds the connection (proxy, VPN): check it",
        )
    } else if target.tls.verifies() {
        fail(Code::TlsFailed, format!("certificate check failed: {msg}"), "sslrootcert must name the CA that signed the server's certificate (RDS: global-bundle.pem); verify-full also needs the host name in the URL to match the certificate")
    } else {
        fail(
            Code::TlsFailed,
            format!("TLS handshake failed: {msg}"),
            "the server's TLS settings do not match the client's (old protocol versions?)",
        )
    }
}

/// Waits until the socket has data or `t` passes. A socket read timeout
/// would do, but Linux's timer wheel lets a 3 s SO_RCVTIMEO run ~60-150 ms
/// late; poll() is precise, which is what puts our verdict level with psql's.
fn wait_readable(stream: &TcpStream, t: Duration) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let mut fds = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let deadline = Instant::now() + t;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // SAFETY: one valid pollfd for a socket we own, for the call's duration.
            let n =
                unsafe { libc::poll(&mut fds, 1, left.as_millis().min(i32::MAX as u128) as i32) };
            if n > 0 {
                return Ok(());
            }
            if n == 0 {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (stream, t);
        Ok(())
    }
}

/// The client demands TLS and the server has none.
pub(super) fn unavailable(mode: TlsMode) -> Outcome {
    fail(
        Code::TlsUnavailable,
        format!("sslmode={} but the server does not offer TLS", mode.name()),
        "enable ssl on the server, or (local servers only) use sslmode=disable",
    )
}
