//! The tls layer: PostgreSQL's SSLRequest on the raw socket, then the
//! handshake and the certificate checks the URL's sslmode asks for. The
//! connection goes on to authentication: nothing here is a separate probe.

use std::net::TcpStream;
use std::time::Duration;

use super::{closed_hint, fail, pass, skip, warn, Code, Outcome};
use crate::conn::Target;
use crate::conn::{ssl_request, HandshakeError, Link, SslAnswer, TlsFailure, TlsFailureKind};
use crate::pgurl::TlsMode;

/// Sends PostgreSQL's SSLRequest on the raw socket and performs the
/// handshake, so "no TLS", "silent server" and "bad certificate" are told
/// apart before authentication muddles them.
pub(super) fn check(
    host: &str,
    mut stream: TcpStream,
    target: &Target,
    t: Duration,
) -> (Outcome, Option<Link>) {
    if target.tls == TlsMode::Disable {
        return take_over(stream, skip("sslmode=disable: TLS not requested"));
    }
    if target.direct {
        return handshake(host, stream, target, t);
    }
    let _ = stream.set_read_timeout(Some(t));
    let answer = match ssl_request(&mut stream, t) {
        SslAnswer::Byte(b) => b,
        SslAnswer::NotSent(_) => {
            return (
                fail(
                    Code::ServerClosed,
                    "the server closed the connection before the TLS request",
                    closed_hint(),
                ),
                None,
            )
        }
        SslAnswer::Closed => return (fail(Code::ServerClosed, "the server closed the connection at the TLS request", closed_hint()), None),
        SslAnswer::Silent => {
            return (fail(Code::StartupTimeout, format!("the server accepted the connection but said nothing for {}s", target.timeout.as_secs()), "a server still waking up (Aurora Serverless, Neon) or a slow link (a VPN, another region) answers given more time: raise connect_timeout (`cargo xtask env-fix` sets 30; Prisma's default is 5s); if it never answers, something accepts TCP but does not speak PostgreSQL (a stuck proxy, a wrong port): check the port and any proxy or tunnel"), None)
        }
        SslAnswer::Broken(e) => return (fail(Code::ServerClosed, format!("the connection broke at the TLS request: {e}"), closed_hint()), None),
    };
    match (answer, target.tls) {
        (b'N', TlsMode::Prefer) => {
            return take_over(
                stream,
                warn(
                    "the server offers no TLS; continuing unencrypted (sslmode=prefer)",
                    "hosted databases should use TLS: enable it on the server",
                ),
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
    handshake(host, stream, target, t)
}

/// Hands the socket on, unencrypted, to authentication.
fn take_over(stream: TcpStream, o: Outcome) -> (Outcome, Option<Link>) {
    match Link::tcp(stream) {
        Ok(link) => (o, Some(link)),
        Err(e) => (
            fail(
                Code::ServerClosed,
                format!("the connection broke: {e}"),
                closed_hint(),
            ),
            None,
        ),
    }
}

/// The TLS handshake on a socket whose server agreed to TLS (or at once,
/// with sslnegotiation=direct), within `t`.
fn handshake(
    host: &str,
    stream: TcpStream,
    target: &Target,
    t: Duration,
) -> (Outcome, Option<Link>) {
    let link = match Link::tcp(stream) {
        Ok(l) => l,
        Err(e) => {
            return (
                fail(
                    Code::ServerClosed,
                    format!("the connection broke at the TLS handshake: {e}"),
                    closed_hint(),
                ),
                None,
            )
        }
    };
    match link.handshake(target, host, t) {
        Ok(link) => {
            let verified = if target.tls.verifies() {
                "certificate verified"
            } else {
                "certificate not verified (libpq's meaning of this sslmode)"
            };
            let how = if target.direct {
                " (sslnegotiation=direct)"
            } else {
                ""
            };
            (
                pass(format!("TLS handshake done{how}; {verified}")),
                Some(link),
            )
        }
        Err(HandshakeError::Setup(e)) => (fail(Code::TlsFailed, e, "check sslrootcert: it must name a PEM file with the CA certificate (RDS: global-bundle.pem)"), None),
        Err(HandshakeError::TimedOut) => {
            let f = TlsFailure {
                kind: TlsFailureKind::TimedOut,
                message: "timed out".into(),
            };
            (handshake_failed(&f, target), None)
        }
        Err(HandshakeError::Failed(f)) => (handshake_failed(&f, target), None),
    }
}

/// Tells a closed connection, a silent peer and a certificate problem
/// apart, by the failure's kind.
fn handshake_failed(f: &TlsFailure, target: &Target) -> Outcome {
    let msg = crate::secret::redact(&f.message);
    let closed = f.kind == TlsFailureKind::Closed;
    let timed_out = f.kind == TlsFailureKind::TimedOut;
    if closed && target.direct {
        fail(
            Code::ServerClosed,
            format!("the connection ended during the TLS handshake (sslnegotiation=direct): {msg}"),
            "sslnegotiation=direct needs PostgreSQL 17 or later and nothing in between that expects PostgreSQL's SSLRequest: remove it from the URL for older servers",
        )
    } else if closed {
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
    } else if matches!(f.kind, TlsFailureKind::Verify(_)) || target.tls.verifies() {
        fail(Code::TlsFailed, format!("certificate check failed: {msg}"), "sslrootcert must name the CA that signed the server's certificate (RDS: global-bundle.pem); verify-full also needs the host name in the URL to match the certificate")
    } else {
        fail(
            Code::TlsFailed,
            format!("TLS handshake failed: {msg}"),
            "the server's TLS settings do not match the client's (old protocol versions?)",
        )
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
