//! The process id the other end announced at startup (BackendKeyData).
//! PostgreSQL announces its backend's own pid; a pooler that owns the
//! client's session (PgBouncer, RDS Proxy, Supavisor) announces a made-up
//! key of its own, because the client's cancel requests come to it, not
//! to one backend. So "announced pid ≠ pg_backend_pid()" is a pooler seen
//! by its behaviour, whatever its host name or port.
//!
//! tokio-postgres keeps the key private; its one public use is the cancel
//! request, which it writes to a stream we hand it. The stream here is
//! memory: the request is captured, never sent, and only its pid field is
//! read (the secret half of the key is dropped with the buffer).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};
use tokio_postgres::Client;

/// The pid in `client`'s BackendKeyData.
pub(super) fn announced_pid(rt: &tokio::runtime::Runtime, client: &Client) -> Option<i32> {
    let token = client.cancel_token();
    let mut written = Vec::new();
    rt.block_on(token.cancel_query_raw(Capture(&mut written), Passthrough))
        .ok()?;
    // CancelRequest: length 16, code 80877102, pid, secret key.
    let pid = written.get(8..12)?;
    Some(i32::from_be_bytes(pid.try_into().ok()?))
}

/// A stream that keeps what is written and reads as closed.
struct Capture<'a>(&'a mut Vec<u8>);

impl AsyncRead for Capture<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Capture<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().0.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl TlsStream for Capture<'_> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

/// A TLS session's token writes through "TLS" (direct negotiation, as our
/// sessions are opened): here that layer is the capture itself.
struct Passthrough;

impl<'a> TlsConnect<Capture<'a>> for Passthrough {
    type Stream = Capture<'a>;
    type Error = io::Error;
    type Future = std::future::Ready<Result<Capture<'a>, io::Error>>;

    fn connect(self, stream: Capture<'a>) -> Self::Future {
        std::future::ready(Ok(stream))
    }
}
