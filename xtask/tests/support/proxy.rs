//! A fault-injecting TCP proxy between a client and the dev-db, controlled
//! by the test: pass-through, close at once, close after N bytes in either
//! direction, reset, stall, add latency, cut idle connections. Listens on
//! 127.0.0.1 only and stops when dropped.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Where to cut the schema engine's own connection (`CloseAfterClientBytes`)
/// in a real `migrate deploy` of the committed migrations onto a fresh
/// database, counted in client bytes, TLS included. Measured with Prisma
/// 7.10.1 and the engine host against the dev-db (PostgreSQL 15, TLS 1.3),
/// the same on every run: TLS and authentication end at byte 1107; the
/// engine's first statement (`SET search_path`) is bytes 1107-1161, then
/// come the version query, `pg_advisory_lock` and `CREATE TABLE
/// _prisma_migrations` (1826-2289); init is recorded, applied and marked
/// finished by byte 4470; add_saved_comparables' INSERT into
/// `_prisma_migrations` is bytes 4470-4822. The xtask's preflight sends
/// every check's statements in its one batch, about 2600 bytes (tests that
/// cut below that let its connection through: `start_after`); migrate's
/// diagnosis after a failure sends 1052 bytes in all; Prisma's connection
/// check sends `SELECT 1` as bytes 1107-1143, then its Terminate (to 1170).
///
/// This cut comes in the engine's first statement, after Prisma's check
/// had its answer.
pub const CUT_AT_FIRST_STATEMENT: usize = 1150;
/// This one comes after the engine took the lock, before it records
/// anything (in `CREATE TABLE _prisma_migrations`), on every attempt alike.
pub const CUT_AFTER_LOCK: usize = 2000;
/// This one comes after init is applied and recorded as finished, as the
/// engine starts recording add_saved_comparables.
pub const CUT_AFTER_INIT: usize = 4600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pass,
    /// Accept, then close at once (FIN).
    CloseOnAccept,
    /// Accept, then reset (RST) instead of closing.
    Reset,
    /// Accept and never forward anything.
    Stall,
    /// Forward N bytes from the server, then close both sides.
    CloseAfterServerBytes(usize),
    /// Forward N bytes from the client, then close both sides.
    CloseAfterClientBytes(usize),
    /// Delay every chunk in both directions by this much, as a link would:
    /// a delay line, so chunks in flight do not wait for each other.
    Latency(Duration),
    /// Close a connection on which nothing moved for this long (a NAT, VPN
    /// or firewall idle timeout).
    CloseIdle(Duration),
    /// Accept, then wait this long before connecting on: a server that is
    /// still waking up (Aurora Serverless, Neon), or a load balancer with
    /// no healthy target yet.
    DelayConnect(Duration),
    /// A managed proxy's startup filter (RDS Proxy, Supavisor), imitated
    /// at its boundary: TLS is declined ('N'), and a StartupMessage that
    /// carries the parameter (any, with None) gets this FATAL
    /// (SQLSTATE, message) and a close; one without it is forwarded.
    StartupFatal(Option<&'static str>, &'static str, &'static str),
}

struct State {
    /// The fault for the n-th connection accepted (from 0).
    fault_for: Box<dyn Fn(usize) -> Fault + Send>,
}

pub struct Proxy {
    pub port: u16,
    state: Arc<Mutex<State>>,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// A proxy to 127.0.0.1:`upstream` applying `fault` to every connection.
    pub fn start(upstream: u16, fault: Fault) -> Proxy {
        Self::start_for(upstream, fault, usize::MAX)
    }

    /// The same, for the first `n` connections only.
    pub fn start_for(upstream: u16, fault: Fault, n: usize) -> Proxy {
        Self::start_with(upstream, move |i| if i < n { fault } else { Fault::Pass })
    }

    /// The first `skip` connections pass through (the preflight's, whose
    /// one batch of every check is longer than the cuts measured below),
    /// every later one gets `fault`.
    pub fn start_after(upstream: u16, skip: usize, fault: Fault) -> Proxy {
        Self::start_with(
            upstream,
            move |i| if i < skip { Fault::Pass } else { fault },
        )
    }

    /// Connection `i` (in the order accepted, from 0) gets `plan[i]`; those
    /// after the plan pass through.
    pub fn start_plan(upstream: u16, plan: Vec<Fault>) -> Proxy {
        Self::start_with(upstream, move |i| {
            plan.get(i).copied().unwrap_or(Fault::Pass)
        })
    }

    fn start_with(upstream: u16, fault_for: impl Fn(usize) -> Fault + Send + 'static) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            fault_for: Box::new(fault_for),
        }));
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, a, st) = (state.clone(), accepted.clone(), stop.clone());
        thread::spawn(move || {
            let mut held = Vec::new();
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let n = a.fetch_add(1, Ordering::SeqCst);
                        let fault = (s.lock().unwrap().fault_for)(n);
                        handle(client, upstream, fault, st.clone(), &mut held);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => break,
                }
            }
        });
        Proxy {
            port,
            state,
            accepted,
            stop,
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn handle(
    client: TcpStream,
    upstream: u16,
    fault: Fault,
    stop: Arc<AtomicBool>,
    held: &mut Vec<TcpStream>,
) {
    match fault {
        Fault::CloseOnAccept => drop(client),
        Fault::Reset => {
            set_linger_zero(&client);
            drop(client);
        }
        Fault::Stall => held.push(client),
        Fault::DelayConnect(d) => {
            let stop = stop.clone();
            thread::spawn(move || {
                thread::sleep(d);
                let mut none = Vec::new();
                handle(client, upstream, Fault::Pass, stop, &mut none);
            });
        }
        Fault::StartupFatal(param, code, message) => {
            thread::spawn(move || startup_filter(client, upstream, param, code, message));
        }
        _ => {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                return;
            };
            let last = Arc::new(Mutex::new(Instant::now()));
            let (limit_c2s, limit_s2c) = match fault {
                Fault::CloseAfterClientBytes(n) => (Some(n), None),
                Fault::CloseAfterServerBytes(n) => (None, Some(n)),
                _ => (None, None),
            };
            let delay = match fault {
                Fault::Latency(d) => Some(d),
                _ => None,
            };
            let idle = match fault {
                Fault::CloseIdle(d) => Some(d),
                _ => None,
            };
            for (from, to, limit) in [
                (
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    limit_c2s,
                ),
                (
                    server.try_clone().unwrap(),
                    client.try_clone().unwrap(),
                    limit_s2c,
                ),
            ] {
                let (stop, last) = (stop.clone(), last.clone());
                match delay {
                    Some(d) => {
                        thread::spawn(move || delay_line(from, to, d, stop));
                    }
                    None => {
                        thread::spawn(move || pump(from, to, limit, idle, stop, last));
                    }
                }
            }
        }
    }
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    limit: Option<usize>,
    idle: Option<Duration>,
    stop: Arc<AtomicBool>,
    last: Arc<Mutex<Instant>>,
) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut sent = 0usize;
    let mut buf = [0u8; 16 * 1024];
    let close = |a: &TcpStream, b: &TcpStream| {
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
    };
    loop {
        if stop.load(Ordering::SeqCst) {
            return close(&from, &to);
        }
        if let Some(d) = idle {
            if last.lock().unwrap().elapsed() > d {
                return close(&from, &to);
            }
        }
        match from.read(&mut buf) {
            Ok(0) => return close(&from, &to),
            Ok(n) => {
                *last.lock().unwrap() = Instant::now();
                let allowed = match limit {
                    Some(l) => n.min(l.saturating_sub(sent)),
                    None => n,
                };
                if to.write_all(&buf[..allowed]).is_err() {
                    return close(&from, &to);
                }
                sent += allowed;
                if limit.is_some_and(|l| sent >= l) {
                    return close(&from, &to);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return close(&from, &to),
        }
    }
}

/// Forwards each chunk `d` after it was read; a second thread writes, so
/// a chunk read meanwhile is not held up by the one before it.
fn delay_line(mut from: TcpStream, to: TcpStream, d: Duration, stop: Arc<AtomicBool>) {
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, Option<Vec<u8>>)>();
    let writer = thread::spawn(move || {
        let mut to = to;
        for (due, chunk) in rx {
            thread::sleep(due.saturating_duration_since(Instant::now()));
            match chunk {
                Some(c) if to.write_all(&c).is_ok() => {}
                _ => break,
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16 * 1024];
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if tx
                    .send((Instant::now() + d, Some(buf[..n].to_vec())))
                    .is_err()
                {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = tx.send((Instant::now() + d, None));
    let _ = writer.join();
    let _ = from.shutdown(Shutdown::Both);
}

#[cfg(unix)]
fn set_linger_zero(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a linger struct of the size passed.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &l as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

#[cfg(not(unix))]
fn set_linger_zero(_s: &TcpStream) {}

/// Reads one length-prefixed message (the startup phase has no type byte).
fn read_startup(c: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    c.read_exact(&mut len).ok()?;
    let n = u32::from_be_bytes(len) as usize;
    let mut body = vec![0u8; n.checked_sub(4)?];
    c.read_exact(&mut body).ok()?;
    let mut all = len.to_vec();
    all.extend(body);
    Some(all)
}

fn startup_filter(
    mut client: TcpStream,
    upstream: u16,
    param: Option<&'static str>,
    code: &str,
    message: &str,
) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(mut first) = read_startup(&mut client) else {
        return;
    };
    // SSLRequest (or GSSENCRequest): decline, then read the real startup.
    if first.len() == 8 {
        if client.write_all(b"N").is_err() {
            return;
        }
        let Some(next) = read_startup(&mut client) else {
            return;
        };
        first = next;
    }
    // Protocol version, then name\0value\0 pairs.
    let fields: Vec<&[u8]> = first[8..].split(|b| *b == 0).collect();
    let has = |p: &str| fields.iter().step_by(2).any(|k| *k == p.as_bytes());
    if param.is_none_or(has) {
        let mut body = Vec::new();
        for (t, v) in [
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', code),
            (b'M', message),
        ] {
            body.push(t);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut msg = vec![b'E'];
        msg.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        msg.extend(body);
        let _ = client.write_all(&msg);
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    if server.write_all(&first).is_err() {
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let last = Arc::new(Mutex::new(Instant::now()));
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (st, la) = (stop.clone(), last.clone());
    thread::spawn(move || pump(c2, s2, None, None, st, la));
    pump(server, client, None, None, stop, last);
}
