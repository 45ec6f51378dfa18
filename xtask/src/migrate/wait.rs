//! Stage 3, wait: where a run waits for Prisma's migration lock (advisory
//! lock 72707369) without holding a connection, before Prisma starts. Today
//! Prisma waits by itself (10 s, then P1002, which `run` retries); the
//! many-runners work puts our own wait here.

use super::resolve::Urls;

/// Returns when Prisma may start. Nothing to wait for yet: see the module
/// header.
pub(super) fn for_lock(_urls: &Urls) {}
