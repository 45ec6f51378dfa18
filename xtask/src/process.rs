//! Child processes that must behave at a terminal: stdin inherited for
//! prompts, output relayed live (masked) and kept for the diagnosis, Ctrl-C
//! passed on to the whole process tree (npx, node, engine) and nothing left
//! running. std's `Command` is used here rather than xshell's because stdio
//! must be inherited or piped per stream and the child may need its own
//! process group; the command itself is built with xshell (`prisma::command`).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The running child's process group (0: none), for a second signal.
static CHILD_GROUP: AtomicI32 = AtomicI32::new(0);

/// Ctrl-C must reach Prisma, and the xtask must outlive it to clean up
/// (cancel the migration on the server, report what it left) and exit 130:
/// the first signal is recorded instead of dying. A second one means "stop
/// now": the child's group is killed and we exit at once.
pub fn install_interrupt_handler() {
    #[cfg(unix)]
    {
        extern "C" fn on_sigint(_: libc::c_int) {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                let group = CHILD_GROUP.load(Ordering::SeqCst);
                // SAFETY: kill and _exit are async-signal-safe.
                unsafe {
                    if group > 0 {
                        libc::kill(-group, libc::SIGKILL);
                    }
                    libc::_exit(130);
                }
            }
        }
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
            libc::signal(libc::SIGTERM, on_sigint as *const () as libc::sighandler_t);
        }
    }
}

/// When the child last printed a line, shared with whoever watches it (a
/// quiet child is one worth looking at from the server's side).
#[derive(Clone)]
pub struct Activity {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    pub fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::SeqCst);
    }

    /// How long the child has printed nothing.
    pub fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::SeqCst));
        self.start.elapsed().saturating_sub(last)
    }
}

impl Default for Activity {
    fn default() -> Activity {
        Activity::new()
    }
}

/// Runs Prisma: stdin inherited (its prompts need the terminal), stdout
/// inherited at a terminal and otherwise relayed and kept, stderr relayed
/// live and kept for the diagnosis; each line relayed touches `activity`.
pub fn run_child(
    mut cmd: std::process::Command,
    stdout_to_stderr: bool,
    activity: &Activity,
) -> anyhow::Result<Output> {
    let stdout_tty = std::io::IsTerminal::is_terminal(&std::io::stdout()) && !stdout_to_stderr;
    let stdin_tty = std::io::IsTerminal::is_terminal(&std::io::stdin());
    cmd.stdin(Stdio::inherit());
    cmd.stdout(if stdout_tty {
        Stdio::inherit()
    } else {
        Stdio::piped()
    });
    cmd.stderr(Stdio::piped());
    // Without a terminal nobody else delivers Ctrl-C to Prisma: give it its
    // own process group so the whole tree (npx, node, engine) can be signalled.
    #[cfg(unix)]
    if !stdin_tty {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn()?;
    if !stdin_tty {
        CHILD_GROUP.store(child.id() as i32, Ordering::SeqCst);
    }
    activity.touch();
    let out_buf = Arc::new(Mutex::new(String::new()));
    let err_buf = Arc::new(Mutex::new(String::new()));
    let out_thread = child
        .stdout
        .take()
        .map(|s| relay(s, out_buf.clone(), stdout_to_stderr, activity.clone()));
    let err_thread = child
        .stderr
        .take()
        .map(|s| relay(s, err_buf.clone(), true, activity.clone()));
    let status = wait(&mut child, !stdin_tty);
    CHILD_GROUP.store(0, Ordering::SeqCst);
    let status = status?;
    if let Some(t) = out_thread {
        let _ = t.join();
    }
    if let Some(t) = err_thread {
        let _ = t.join();
    }
    let out = out_buf.lock().map(|s| s.clone()).unwrap_or_default();
    let err = err_buf.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(Output {
        status,
        stdout: out,
        stderr: err,
    })
}

fn relay(
    stream: impl Read + Send + 'static,
    keep: Arc<Mutex<String>>,
    to_stderr: bool,
    activity: Activity,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while reader
            .read_until(b'\n', &mut line)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            activity.touch();
            let text = String::from_utf8_lossy(&line).into_owned();
            let masked = crate::secret::redact(&text);
            if to_stderr {
                let _ = std::io::stderr().write_all(masked.as_bytes());
            } else {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(masked.as_bytes());
                let _ = out.flush();
            }
            if let Ok(mut k) = keep.lock() {
                k.push_str(&text);
            }
            line.clear();
        }
    })
}

/// Waits for the child; on Ctrl-C passes it on (when the child has its own
/// group) and, if it lingers, ends the whole group so nothing is left behind.
fn wait(child: &mut Child, own_group: bool) -> anyhow::Result<Option<i32>> {
    let mut signalled_at: Option<Instant> = None;
    loop {
        if let Some(status) = child.try_wait()? {
            if INTERRUPTED.load(Ordering::SeqCst) {
                kill_group(child.id(), own_group, true);
            }
            return Ok(status.code());
        }
        if INTERRUPTED.load(Ordering::SeqCst) {
            match signalled_at {
                None => {
                    kill_group(child.id(), own_group, false);
                    signalled_at = Some(Instant::now());
                }
                Some(at) if at.elapsed() > Duration::from_secs(5) => {
                    kill_group(child.id(), own_group, true);
                    let _ = child.kill();
                }
                _ => {}
            }
        }
        // Short, so waiting adds nothing measurable to Prisma's own time.
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(unix)]
fn kill_group(pid: u32, own_group: bool, hard: bool) {
    let sig = if hard { libc::SIGKILL } else { libc::SIGINT };
    // SAFETY: sending a signal to our own child's process group.
    unsafe {
        if own_group {
            libc::kill(-(pid as libc::pid_t), sig);
        } else if hard {
            libc::kill(pid as libc::pid_t, sig);
        }
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: u32, _own_group: bool, _hard: bool) {}

/// Whether Ctrl-C (or SIGTERM) arrived since `install_interrupt_handler`.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// What a finished child left: its exit status and everything it printed.
pub struct Output {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// It exited 0.
    pub fn succeeded(&self) -> bool {
        self.status == Some(0)
    }
}
