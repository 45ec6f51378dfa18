//! The connection a verdict is drawn from, stage by stage: dns, tcp and
//! tls (`link`), then startup and authentication, against each host of a
//! host list in libpq's order; then the checks on the session.

use std::time::{Duration, Instant};

use super::{auth, dns, idle, skip, tcp, tls, Code, Layer, Runner, Settings, Status};
use crate::conn::{ConnectError, Link, Session, Target};
use crate::output;
use crate::pgurl::{Endpoint, PgUrl};

impl Runner<'_> {
    /// dns, tcp and tls as the stages of the one connection (so their
    /// failures are told apart), auth on it, then the checks that need a
    /// session; the session when they all passed. The hosts of a host list
    /// are tried in libpq's order (`connect_any`): `hostaddr` is where it
    /// connects, the host name what TLS checks.
    pub(super) fn network(
        &mut self,
        url: &PgUrl,
        target: &Target,
        s: &Settings,
    ) -> Option<Session> {
        let endpoints = url.endpoints().ok()?;
        let mut session = self.connect_any(&endpoints, url, target, s)?;
        if !self.session(&mut session, url, target, s) {
            return None;
        }
        match s.idle_probe {
            // As before: the idle probe follows a complete run only.
            Some(idle) if s.upto >= Layer::Migrations => {
                self.step::<()>(Layer::Idle, || {
                    (idle::check(session, idle, target), Some(()))
                });
                None
            }
            _ => Some(session),
        }
    }

    /// dns, tcp, tls and auth against each host of a host list in turn,
    /// as libpq tries them: the first that lets us in is the one checked
    /// further, and its dns line says which host of how many it was and
    /// which were tried before it; when none does, the last one's failure
    /// is the verdict.
    fn connect_any(
        &mut self,
        endpoints: &[Endpoint],
        url: &PgUrl,
        target: &Target,
        s: &Settings,
    ) -> Option<Session> {
        let n = endpoints.len();
        if n == 1 {
            return self.connect_one(&endpoints[0], url, target, s);
        }
        let mut failed: Vec<String> = Vec::new();
        for (i, ep) in endpoints.iter().enumerate() {
            let mut attempt = Runner {
                checks: Vec::new(),
                on_check: &|_| {},
            };
            let session = attempt.connect_one(ep, url, target, s);
            if session.is_none() && i + 1 < n {
                let why = attempt
                    .checks
                    .iter()
                    .find(|c| c.status == Status::Fail)
                    .map(|c| {
                        let code = c.code.map(Code::as_str).unwrap_or("failed");
                        format!("{code} at {}", c.layer.as_str())
                    })
                    .unwrap_or_default();
                failed.push(format!("{}:{} ({why})", ep.name(), ep.port));
                continue;
            }
            let tried = if failed.is_empty() {
                String::new()
            } else {
                format!("; tried before it: {}", failed.join(", "))
            };
            for mut c in attempt.checks {
                if c.layer == Layer::Dns {
                    c.detail = format!(
                        "host {} of {n}, {}:{}: {}{tried}",
                        i + 1,
                        ep.name(),
                        ep.port,
                        c.detail
                    );
                }
                self.push(c);
            }
            return session;
        }
        None
    }

    /// dns, tcp, tls and auth against one host.
    fn connect_one(
        &mut self,
        first: &Endpoint,
        url: &PgUrl,
        target: &Target,
        s: &Settings,
    ) -> Option<Session> {
        if s.progress {
            output::err_partial(format!(
                "  …     connecting to {}:{} (each step waits up to {} s)\r",
                first.name(),
                first.port,
                target.timeout.as_secs()
            ));
        }
        let (link, attempt) = if first.is_socket() {
            self.step::<()>(Layer::Dns, || (skip("a Unix socket: no DNS"), Some(())));
            self.step::<()>(Layer::Tcp, || (skip("a Unix socket: no TCP"), Some(())));
            self.step::<()>(Layer::Tls, || (skip("a Unix socket: no TLS"), Some(())));
            (unix_link(target), Instant::now())
        } else {
            let (link, attempt) = self.link(first, target)?;
            (Ok(link), attempt)
        };
        // Like libpq's (and Prisma's) connect_timeout, one bound covers the
        // whole attempt, authentication included: on a slow link the steps
        // may each fit while the whole does not, and Prisma then fails.
        let left = target
            .timeout
            .saturating_sub(attempt.elapsed())
            .max(Duration::from_millis(100));
        self.step(Layer::Auth, || auth::check(link, url, target, left))
    }

    /// The dns, tcp and tls stages: the connection, ready for startup,
    /// and when its attempt began.
    fn link(&mut self, first: &Endpoint, target: &Target) -> Option<(Link, Instant)> {
        let (address, name) = (first.address().to_string(), first.name().to_string());
        let t = target.timeout;
        let addrs = self.step(Layer::Dns, || dns::check(&address, first.port, t))?;
        // Like libpq's connect_timeout, one bound covers the TCP connect
        // and the TLS request of this attempt.
        let attempt = Instant::now();
        let stream = self.step(Layer::Tcp, || tcp::check(&address, &addrs, t))?;
        let left = t
            .saturating_sub(attempt.elapsed())
            .max(Duration::from_millis(100));
        self.step(Layer::Tls, || tls::check(&name, stream, target, left))
            .map(|link| (link, attempt))
    }
}

/// A Unix socket's connection: no dns, tcp or tls stage to attribute.
fn unix_link(target: &Target) -> Result<Link, ConnectError> {
    #[cfg(unix)]
    {
        Link::unix(&target.host, target.port, target.timeout)
    }
    #[cfg(not(unix))]
    {
        Err(ConnectError::Setup(format!(
            "{}: Unix sockets need a Unix system",
            target.host
        )))
    }
}
