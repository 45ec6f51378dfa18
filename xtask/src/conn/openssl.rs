//! TLS through OpenSSL itself, where native-tls uses OpenSSL anyway
//! (Linux): the same settings native-tls would make, plus one it cannot:
//! the key-share group. PostgreSQL up to 17 accepts only P-256 for the key
//! exchange (`ssl_ecdh_curve = prime256v1`, RDS included) while OpenSSL
//! offers an X25519 key share first, so every handshake costs a
//! HelloRetryRequest: one more round trip. Offering P-256 first saves it;
//! X25519 stays on the list for servers that want it.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::ssl::{
    ErrorCode, Ssl, SslContext, SslMethod, SslMode, SslOptions, SslStream, SslVerifyMode,
};
use openssl::x509::verify::X509CheckFlags;
use openssl::x509::X509;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_postgres::tls::{ChannelBinding, TlsStream};

use super::link::{TlsFailure, TlsFailureKind};
use crate::pgurl::TlsMode;

/// Key shares in the order offered: PostgreSQL's default first.
const GROUPS: &str = "P-256:X25519:P-384:P-521";

/// An OpenSSL client context with libpq's meaning of `mode`.
pub struct Connector {
    inner: SslContext,
    mode: TlsMode,
}

/// Builds the context as native-tls would (`roots` are the only trust
/// anchors when given; `system` loads the system's), with P-256 offered
/// first. Built from a bare context rather than `SslConnector::builder`,
/// which parses the whole system CA bundle (about 30 ms for Debian's) even
/// when nothing will be verified: libpq loads no roots for `require`
/// either, and this way no process-wide variable has to be bent to skip it.
pub fn connector(
    mode: TlsMode,
    roots: &[Vec<u8>],
    system: bool,
    direct: bool,
) -> Result<Connector, String> {
    let e = |e: openssl::error::ErrorStack| format!("cannot set up TLS: {e}");
    let mut b = SslContext::builder(SslMethod::tls_client()).map_err(e)?;
    // What `SslConnector::builder` sets, but the default verify paths.
    b.set_options(SslOptions::ALL | SslOptions::NO_COMPRESSION);
    b.set_mode(
        SslMode::AUTO_RETRY | SslMode::ACCEPT_MOVING_WRITE_BUFFER | SslMode::ENABLE_PARTIAL_WRITE,
    );
    b.set_cipher_list("DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK")
        .map_err(e)?;
    if system {
        b.set_default_verify_paths().map_err(e)?;
    }
    for pem in roots {
        let cert = X509::from_pem(pem).map_err(e)?;
        b.cert_store_mut().add_cert(cert).map_err(e)?;
    }
    b.set_verify(if mode.verifies() {
        SslVerifyMode::PEER
    } else {
        SslVerifyMode::NONE
    });
    b.set_groups_list(GROUPS).map_err(e)?;
    if direct {
        b.set_alpn_protos(b"\x0apostgresql").map_err(e)?;
    }
    Ok(Connector {
        inner: b.build(),
        mode,
    })
}

/// A connected socket as OpenSSL's blocking-style I/O: "would block" makes
/// OpenSSL ask to be called again, once the socket is ready.
struct Io(TcpStream);

impl Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Io {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A TLS session over a tokio socket.
pub struct Tls(SslStream<Io>);

/// The handshake, verifying what `connector`'s mode asks for.
pub async fn handshake(
    connector: &Connector,
    host: &str,
    tcp: TcpStream,
) -> Result<Tls, TlsFailure> {
    let e = |e: openssl::error::ErrorStack| TlsFailure {
        kind: TlsFailureKind::Other,
        message: e.to_string(),
    };
    let mut ssl = Ssl::new(&connector.inner).map_err(e)?;
    let ip = host.parse::<std::net::IpAddr>();
    // SNI takes a name, never an address (RFC 6066), as libpq does.
    if ip.is_err() {
        ssl.set_hostname(host).map_err(e)?;
    }
    if connector.mode == TlsMode::VerifyFull {
        let param = ssl.param_mut();
        param.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
        match ip {
            Ok(ip) => param.set_ip(ip).map_err(e)?,
            Err(_) => param.set_host(host).map_err(e)?,
        }
    }
    let mut s = SslStream::new(ssl, Io(tcp)).map_err(e)?;
    let failed = |e: io::Error| TlsFailure::from_io(Some(e.kind()), e.to_string());
    loop {
        match s.connect() {
            Ok(()) => return Ok(Tls(s)),
            Err(e) if e.code() == ErrorCode::WANT_READ => {
                s.get_ref().0.readable().await.map_err(failed)?
            }
            Err(e) if e.code() == ErrorCode::WANT_WRITE => {
                s.get_ref().0.writable().await.map_err(failed)?
            }
            Err(e) => return Err(judge(&s, e)),
        }
    }
}

/// What ended a handshake, from OpenSSL's own fields: the verify result,
/// then the socket's error, then a SYSCALL error with neither (the peer
/// closed: OpenSSL's "unexpected EOF").
fn judge(s: &SslStream<Io>, e: openssl::ssl::Error) -> TlsFailure {
    let verify = s.ssl().verify_result();
    if verify.as_raw() != 0 {
        return TlsFailure {
            kind: TlsFailureKind::Verify(verify.as_raw()),
            message: format!("{e} ({})", verify.error_string()),
        };
    }
    if e.code() == ErrorCode::SYSCALL && e.io_error().is_none() {
        return TlsFailure {
            kind: TlsFailureKind::Closed,
            message: "unexpected EOF".to_string(),
        };
    }
    let kind = e.io_error().map(io::Error::kind);
    TlsFailure::from_io(kind, e.to_string())
}

fn io_error(e: openssl::ssl::Error) -> io::Error {
    if e.code() == ErrorCode::SYSCALL && e.io_error().is_none() {
        return io::ErrorKind::UnexpectedEof.into();
    }
    e.into_io_error().unwrap_or_else(io::Error::other)
}

impl Tls {
    /// Retries after OpenSSL asked to: waits for the readiness it needs.
    fn wait(&self, code: ErrorCode, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if code == ErrorCode::WANT_READ {
            self.0.get_ref().0.poll_read_ready(cx)
        } else {
            self.0.get_ref().0.poll_write_ready(cx)
        }
    }
}

fn retry(e: &openssl::ssl::Error) -> bool {
    e.code() == ErrorCode::WANT_READ || e.code() == ErrorCode::WANT_WRITE
}

impl AsyncRead for Tls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this.0.ssl_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.code() == ErrorCode::ZERO_RETURN => return Poll::Ready(Ok(())),
                Err(e) if retry(&e) => ready!(this.wait(e.code(), cx))?,
                Err(e) => return Poll::Ready(Err(io_error(e))),
            }
        }
    }
}

impl AsyncWrite for Tls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match this.0.ssl_write(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if retry(&e) => ready!(this.wait(e.code(), cx))?,
                Err(e) => return Poll::Ready(Err(io_error(e))),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let _ = this.0.shutdown();
        Pin::new(&mut this.0.get_mut().0).poll_shutdown(cx)
    }
}

impl TlsStream for Tls {
    /// `tls-server-end-point`: the server certificate's hash, with its
    /// signature's digest (SHA-256 for MD5 and SHA-1), for SCRAM-SHA-256-PLUS.
    fn channel_binding(&self) -> ChannelBinding {
        let Some(cert) = self.0.ssl().peer_certificate() else {
            return ChannelBinding::none();
        };
        let digest = cert
            .signature_algorithm()
            .object()
            .nid()
            .signature_algorithms()
            .and_then(|a| match a.digest {
                Nid::MD5 | Nid::SHA1 => Some(MessageDigest::sha256()),
                nid => MessageDigest::from_nid(nid),
            });
        match digest.and_then(|d| cert.digest(d).ok()) {
            Some(hash) => ChannelBinding::tls_server_end_point(hash.to_vec()),
            None => ChannelBinding::none(),
        }
    }
}
