//! One PostgreSQL connection opened stage by stage (TCP, the TLS request,
//! the handshake, startup and authentication), so a caller can time and
//! judge each stage, and then used for queries: the connection a diagnosis
//! attributes its layers from is the one its checks query. tokio-postgres
//! takes over the established stream (`Config::connect_raw`); a
//! current-thread runtime drives it. Every stage is bounded in time.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_postgres::config::{SslMode, SslNegotiation};
use tokio_postgres::tls::{NoTls, TlsConnect, TlsStream};
use tokio_postgres::{Client, SimpleQueryMessage};

use super::target::{ConnectError, Target};
use crate::pgurl::TlsMode;

/// The TLS session: OpenSSL's own on Linux (it can offer P-256 first, see
/// `openssl`), native-tls's elsewhere.
#[cfg(target_os = "linux")]
type TlsSession = super::openssl::Tls;
#[cfg(not(target_os = "linux"))]
type TlsSession = postgres_native_tls::TlsStream<TcpStream>;

enum Stream {
    Tcp(TcpStream),
    Tls(TlsSession),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

/// A connection on its way to a session.
pub struct Link {
    rt: Runtime,
    stream: Stream,
}

/// Why the TLS handshake did not complete.
pub enum HandshakeError {
    /// The TLS settings could not be made (an unreadable sslrootcert).
    Setup(String),
    TimedOut,
    Failed(TlsFailure),
}

/// A failed handshake, judged from the library's typed errors (the socket's
/// `io::ErrorKind`, the X.509 verify result), never from its wording, which
/// differs between OpenSSL versions and the macOS and Windows stacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFailureKind {
    /// The peer closed or reset the connection mid-handshake.
    Closed,
    /// The socket timed out.
    TimedOut,
    /// The certificate did not verify: OpenSSL's X509_V_ERR code.
    Verify(i32),
    /// Anything else (a protocol or cipher mismatch, an alert).
    Other,
}

#[derive(Debug, Clone)]
pub struct TlsFailure {
    pub kind: TlsFailureKind,
    /// The library's own words, for people (masked by the caller).
    pub message: String,
}

impl TlsFailure {
    /// Judged from an I/O error found in an error's source chain.
    pub fn from_io(kind: Option<io::ErrorKind>, message: String) -> TlsFailure {
        use io::ErrorKind as K;
        let kind = match kind {
            Some(K::UnexpectedEof | K::ConnectionReset | K::BrokenPipe | K::ConnectionAborted) => {
                TlsFailureKind::Closed
            }
            Some(K::TimedOut | K::WouldBlock) => TlsFailureKind::TimedOut,
            _ => TlsFailureKind::Other,
        };
        TlsFailure { kind, message }
    }
}

/// The first `io::Error` in an error's source chain, by its kind.
pub fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<io::ErrorKind> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        cur = err.source();
    }
    None
}

fn runtime() -> io::Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

impl Link {
    /// Takes over a connected TCP socket (after any SSLRequest on it).
    pub fn tcp(s: std::net::TcpStream) -> io::Result<Link> {
        let rt = runtime()?;
        s.set_nonblocking(true)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(None)?;
        s.set_write_timeout(None)?;
        let stream = {
            let _in_runtime = rt.enter();
            TcpStream::from_std(s)?
        };
        Ok(Link {
            rt,
            stream: Stream::Tcp(stream),
        })
    }

    /// Connects to a Unix-domain socket, as libpq does for a host that is a
    /// directory: `DIR/.s.PGSQL.PORT`.
    #[cfg(unix)]
    pub fn unix(dir: &str, port: u16, bound: Duration) -> Result<Link, ConnectError> {
        let rt = runtime().map_err(|e| ConnectError::Setup(e.to_string()))?;
        let path = std::path::Path::new(dir).join(format!(".s.PGSQL.{port}"));
        let connect = tokio::net::UnixStream::connect(&path);
        let stream = match rt.block_on(async { tokio::time::timeout(bound, connect).await }) {
            Err(_) => return Err(ConnectError::TimedOut(bound)),
            Ok(Err(e)) => {
                return Err(ConnectError::Unreachable(format!(
                    "{}: {e}",
                    path.display()
                )))
            }
            Ok(Ok(s)) => s,
        };
        Ok(Link {
            rt,
            stream: Stream::Unix(stream),
        })
    }

    /// The TLS handshake, after the server agreed to TLS (or at once, for
    /// `sslnegotiation=direct`).
    pub fn handshake(
        self,
        target: &Target,
        host: &str,
        bound: Duration,
    ) -> Result<Link, HandshakeError> {
        let Link { rt, stream } = self;
        let Stream::Tcp(tcp) = stream else {
            return Err(HandshakeError::Failed(TlsFailure {
                kind: TlsFailureKind::Other,
                message: "TLS needs a TCP connection".into(),
            }));
        };
        #[cfg(target_os = "linux")]
        let tls = {
            let c = target.openssl_connector().map_err(HandshakeError::Setup)?;
            super::openssl::handshake(c, host, tcp)
        };
        #[cfg(not(target_os = "linux"))]
        let tls = {
            let c = target.tls_connector().map_err(HandshakeError::Setup)?;
            let tls = postgres_native_tls::TlsConnector::new(c, host);
            async move {
                tls.connect(tcp)
                    .await
                    .map_err(|e| TlsFailure::from_io(io_kind(&e), e.to_string()))
            }
        };
        match rt.block_on(async { tokio::time::timeout(bound, tls).await }) {
            Err(_) => Err(HandshakeError::TimedOut),
            Ok(Err(e)) => Err(HandshakeError::Failed(e)),
            Ok(Ok(s)) => Ok(Link {
                rt,
                stream: Stream::Tls(s),
            }),
        }
    }

    /// Startup and authentication on the stream as it is (TLS already
    /// done, or declined), within `bound`.
    pub fn startup(
        self,
        config: &tokio_postgres::Config,
        bound: Duration,
    ) -> Result<Session, ConnectError> {
        let Link { rt, stream } = self;
        let mut config = config.clone();
        config.connect_timeout(bound);
        let client = match stream {
            Stream::Tls(s) => {
                // The handshake is done: "direct" makes the crate skip its
                // own SSLRequest and take the stream from `Established`.
                config
                    .ssl_mode(SslMode::Require)
                    .ssl_negotiation(SslNegotiation::Direct);
                open(&rt, &config, s, Established, bound)?
            }
            Stream::Tcp(s) => open(&rt, config.ssl_mode(SslMode::Disable), s, NoTls, bound)?,
            #[cfg(unix)]
            Stream::Unix(s) => open(&rt, config.ssl_mode(SslMode::Disable), s, NoTls, bound)?,
        };
        Ok(Session { rt, client })
    }
}

fn open<S, T>(
    rt: &Runtime,
    config: &tokio_postgres::Config,
    stream: S,
    tls: T,
    bound: Duration,
) -> Result<Client, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: TlsConnect<S>,
    T::Stream: Send + 'static,
{
    let started =
        rt.block_on(async { tokio::time::timeout(bound, config.connect_raw(stream, tls)).await });
    match started {
        Err(_) => Err(ConnectError::TimedOut(bound)),
        Ok(Err(e)) => Err(ConnectError::Pg(e)),
        Ok(Ok((client, connection))) => {
            rt.spawn(async move {
                let _ = connection.await;
            });
            Ok(client)
        }
    }
}

/// A "TLS connector" that hands back the stream it is given: the handshake
/// was done, and judged, before the crate took the connection over. The
/// stream keeps its channel binding, so SCRAM-SHA-256-PLUS still works.
struct Established;

impl<S: TlsStream + Unpin> TlsConnect<S> for Established {
    type Stream = S;
    type Error = io::Error;
    type Future = std::future::Ready<Result<S, io::Error>>;

    fn connect(self, stream: S) -> Self::Future {
        std::future::ready(Ok(stream))
    }
}

/// Each statement's rows, every value as text (NULL as None).
pub type Rows = Vec<Vec<Option<String>>>;

/// What a batch of statements sent in one round trip returned.
pub struct Batch {
    /// One entry per statement that completed, in order.
    pub results: Vec<Rows>,
    /// Why the statement after the last result failed (masked), if one did.
    pub error: Option<BatchError>,
}

pub enum BatchError {
    /// The server reported an error: its SQLSTATE and the message.
    Db(String, String),
    /// The connection broke or no answer came in time.
    Broken(String),
}

/// An authenticated session.
pub struct Session {
    rt: Runtime,
    client: Client,
}

impl Session {
    /// The pid announced at startup (BackendKeyData): the backend's own
    /// from PostgreSQL, a made-up one from a pooler (`backend_key`).
    pub fn announced_pid(&self) -> Option<i32> {
        super::backend_key::announced_pid(&self.rt, &self.client)
    }

    /// Sends `sql` (one or more statements) as one simple-protocol query:
    /// one round trip. Results of the statements before a failing one are
    /// kept.
    pub fn batch(&mut self, sql: &str, bound: Duration) -> Batch {
        let client = &self.client;
        self.rt.block_on(async {
            let mut out = Batch {
                results: Vec::new(),
                error: None,
            };
            let run = async {
                let stream = client.simple_query_raw(sql).await?;
                let mut stream = std::pin::pin!(stream);
                let mut rows = Rows::new();
                while let Some(m) = stream.next().await {
                    match m? {
                        SimpleQueryMessage::Row(r) => {
                            rows.push((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                        }
                        SimpleQueryMessage::CommandComplete(_) => {
                            out.results.push(std::mem::take(&mut rows))
                        }
                        _ => {}
                    }
                }
                Ok::<(), tokio_postgres::Error>(())
            };
            match tokio::time::timeout(bound, run).await {
                Err(_) => {
                    out.error = Some(BatchError::Broken(format!(
                        "no answer within {}s",
                        bound.as_secs()
                    )))
                }
                Ok(Err(e)) => out.error = Some(batch_error(&e)),
                Ok(Ok(())) => {}
            }
            out
        })
    }
}

fn batch_error(e: &tokio_postgres::Error) -> BatchError {
    match e.as_db_error() {
        Some(db) => BatchError::Db(
            db.code().code().to_string(),
            crate::secret::redact(db.message()),
        ),
        None => BatchError::Broken(super::target::describe(e)),
    }
}

impl BatchError {
    pub fn text(&self) -> String {
        match self {
            BatchError::Db(code, msg) => format!("{msg} ({code})"),
            BatchError::Broken(msg) => msg.clone(),
        }
    }
}

/// How an SSLRequest went, typed so callers judge it without reading
/// messages.
#[derive(Debug)]
pub enum SslAnswer {
    /// The request could not be sent: the server had already closed.
    NotSent(io::Error),
    /// No answer within the bound.
    Silent,
    /// The server closed the connection instead of answering.
    Closed,
    /// The connection broke while waiting (reset, say).
    Broken(io::Error),
    /// `S` (TLS follows), `N` (no TLS), or another byte (not PostgreSQL).
    Byte(u8),
}

/// Sends PostgreSQL's SSLRequest on a connected socket and reads the
/// one-byte answer within `t`.
pub fn ssl_request(stream: &mut std::net::TcpStream, t: Duration) -> SslAnswer {
    let _ = stream.set_write_timeout(Some(t));
    // Length 8, then the SSLRequest code 80877103.
    if let Err(e) = stream.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]) {
        return SslAnswer::NotSent(e);
    }
    let mut answer = [0u8; 1];
    match wait_readable(stream, t).and_then(|_| stream.read(&mut answer)) {
        Ok(0) => SslAnswer::Closed,
        Ok(_) => SslAnswer::Byte(answer[0]),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            SslAnswer::Silent
        }
        Err(e) => SslAnswer::Broken(e),
    }
}

/// Waits until the socket has data or `t` passes. A socket read timeout
/// would do, but Linux's timer wheel lets a 3 s SO_RCVTIMEO run ~60-150 ms
/// late; poll() is precise, which is what puts our verdict level with psql's.
pub fn wait_readable(stream: &std::net::TcpStream, t: Duration) -> io::Result<()> {
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
                return Err(io::ErrorKind::TimedOut.into());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = stream.set_read_timeout(Some(t));
        Ok(())
    }
}

/// A session for the xtask's own queries (not a diagnosis), the same way:
/// the first address that accepts, the TLS the target's sslmode asks for,
/// startup. Any failure is one masked sentence.
pub fn connect(target: &Target) -> Result<Session, String> {
    let t = target.timeout;
    let deadline = Instant::now() + t;
    let left = || deadline.saturating_duration_since(Instant::now());
    #[cfg(unix)]
    if target.host.starts_with('/') {
        let link = Link::unix(&target.host, target.port, t).map_err(|e| e.sentence())?;
        return link.startup(&target.config, t).map_err(|e| e.sentence());
    }
    let addrs: Vec<SocketAddr> = match super::resolve(&target.host, target.port, left()) {
        super::Resolved::Addrs(a) => a,
        super::Resolved::TimedOut => {
            return Err(format!(
                "resolving {} took longer than {}s",
                target.host,
                t.as_secs()
            ))
        }
        super::Resolved::Empty | super::Resolved::Failed(_) => {
            return Err(format!("{} does not resolve", target.host))
        }
    };
    // One bound for the whole attempt, as the diagnosis prints it.
    let mut tcp = addrs
        .iter()
        .find_map(|a| {
            std::net::TcpStream::connect_timeout(a, left().max(Duration::from_millis(1))).ok()
        })
        .ok_or_else(|| format!("cannot connect to {}:{}", target.host, target.port))?;
    let _ = tcp.set_nodelay(true);
    let mut tls = target.tls != TlsMode::Disable;
    if tls && !target.direct {
        match ssl_request(&mut tcp, left()) {
            SslAnswer::Byte(b'S') => {}
            SslAnswer::Byte(b'N') if target.tls == TlsMode::Prefer => tls = false,
            SslAnswer::Byte(b'N') => return Err("the server does not offer TLS".into()),
            SslAnswer::Byte(_) | SslAnswer::Closed => {
                return Err("the server closed the connection at the TLS request".into())
            }
            SslAnswer::Silent => return Err("no answer to the TLS request".into()),
            SslAnswer::NotSent(e) | SslAnswer::Broken(e) => {
                return Err(format!("the TLS request failed: {e}"))
            }
        }
    }
    let mut link = Link::tcp(tcp).map_err(|e| e.to_string())?;
    if tls {
        link = match link.handshake(target, &target.tls_name, left()) {
            Ok(l) => l,
            Err(HandshakeError::Setup(e)) => return Err(e),
            Err(HandshakeError::TimedOut) => return Err("the TLS handshake timed out".into()),
            Err(HandshakeError::Failed(e)) => return Err(crate::secret::redact(&e.message)),
        };
    }
    link.startup(&target.config, left().max(Duration::from_millis(100)))
        .map_err(|e| e.sentence())
}
