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
}

struct State {
    fault: Fault,
    /// The fault applies to this many connections, then pass-through.
    faulty: usize,
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
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State { fault, faulty: n }));
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
                        let fault = {
                            let g = s.lock().unwrap();
                            if n < g.faulty {
                                g.fault
                            } else {
                                Fault::Pass
                            }
                        };
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
