//! The one connection path, for the diagnosis, the migrate flow's own
//! queries and the dev-db's setup alike: the URL made into a `Target`
//! (`target`), then resolve → TCP → SSLRequest → TLS (`openssl` on Linux,
//! native-tls elsewhere) → startup and authentication → queries in one
//! round trip (`link`), each stage bounded in time.

mod backend_key;
mod link;
#[cfg(target_os = "linux")]
mod openssl;
mod resolve;
mod target;

pub use link::{
    connect, io_kind, ssl_request, Batch, BatchError, HandshakeError, Link, Rows, Session,
    SslAnswer, TlsFailure, TlsFailureKind,
};
pub use resolve::{resolve, Resolved};
pub use target::{describe, target, ConnectError, Target};
