//! Debian's real PgBouncer (1.18 on Debian 12) in front of a dev-db, for
//! the causes that poolers bring (`../shared/reference/causes.md` 1, 2, 6,
//! 27, 31). It listens on 127.0.0.1 only, runs as the user the dev-db's
//! PostgreSQL runs as (PgBouncer refuses root, like PostgreSQL), speaks TLS
//! to clients with the dev-db's own certificate and to the server, and
//! authenticates clients with SCRAM from a userlist holding the app's
//! password. It stops when dropped, and under `timeout` by itself after 15
//! minutes should the test process die first.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, DevDb, TempDir};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    Session,
    Transaction,
}

pub struct PgBouncer {
    pub port: u16,
    pub dir: TempDir,
    child: Child,
    password: String,
}

/// The PgBouncer binary, or None where it is not installed (CI installs
/// Debian's package; a test that needs it fails with this hint).
pub fn binary() -> PathBuf {
    for p in ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("pgbouncer is not installed: `apt-get install pgbouncer` (.ci/run does it)");
}

impl PgBouncer {
    /// PgBouncer in `mode` in front of `db`, with `extra` lines added to its
    /// `[pgbouncer]` section (e.g. `client_idle_timeout = 3`).
    pub fn start(db: &DevDb, mode: PoolMode, extra: &[&str]) -> PgBouncer {
        let dir = TempDir::new("pgbouncer");
        let port = free_port();
        let cluster = PathBuf::from(db.data_dir()).join("pgdata");
        let mode = match mode {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        };
        // A userlist entry is "name" "password", a quote doubled inside.
        let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let userlist = format!(
            "{} {}\n{} {}\n",
            quoted("app"),
            quoted(&db.password),
            quoted("postgres"),
            quoted(&db.password)
        );
        std::fs::write(dir.path().join("userlist.txt"), userlist).unwrap();
        let ini = format!(
            "[databases]\n\
             * = host=127.0.0.1 port={pg}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = scram-sha-256\n\
             auth_file = {dir}/userlist.txt\n\
             pool_mode = {mode}\n\
             default_pool_size = 4\n\
             max_client_conn = 50\n\
             server_tls_sslmode = require\n\
             client_tls_sslmode = allow\n\
             client_tls_cert_file = {cluster}/server.crt\n\
             client_tls_key_file = {cluster}/server.key\n\
             logfile = {dir}/pgbouncer.log\n\
             pidfile = {dir}/pgbouncer.pid\n\
             {extra}\n",
            pg = db.port,
            dir = dir.path().display(),
            cluster = cluster.display(),
            extra = extra.join("\n"),
        );
        let conf = dir.path().join("pgbouncer.ini");
        std::fs::write(&conf, ini).unwrap();
        let mut cmd = Command::new("timeout");
        cmd.args(["900", binary().to_str().unwrap(), conf.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        {
            // As root, run as the user that owns the cluster (its server.key
            // is readable by that user only).
            use std::os::unix::fs::MetadataExt;
            use std::os::unix::process::CommandExt;
            if unsafe { libc::geteuid() } == 0 {
                let meta = std::fs::metadata(&cluster).unwrap();
                let (uid, gid) = (meta.uid(), meta.gid());
                for f in ["", "userlist.txt", "pgbouncer.ini"] {
                    std::os::unix::fs::chown(dir.path().join(f), Some(uid), Some(gid)).unwrap();
                }
                cmd.uid(uid).gid(gid);
            }
        }
        let child = cmd.spawn().expect("start pgbouncer");
        let bouncer = PgBouncer {
            port,
            dir,
            child,
            password: db.password.clone(),
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "pgbouncer did not listen on {port}:\n{}",
                bouncer.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        bouncer
    }

    /// The app's URL through this PgBouncer (`params` after `?`).
    pub fn url(&self, db: &DevDb, params: &str) -> String {
        db.url_at(self.port, params)
    }

    /// PgBouncer's own log (what it refused, and why).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // SIGTERM to `timeout`, which passes it on to PgBouncer (a SIGKILL
        // would stop `timeout` alone and leave PgBouncer running).
        #[cfg(unix)]
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        #[cfg(not(unix))]
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
