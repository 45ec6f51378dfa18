//! The dev-db: a local PostgreSQL that behaves like RDS. TLS is required on
//! TCP (like `rds.force_ssl=1`), passwords are scram-sha-256, and the
//! generated password contains `@ # $ & / : %`, the characters that break
//! hand-written URLs. Options make it misbehave on purpose (connection
//! exhaustion, idle sessions closed by the server: the P1017 pattern).
//!
//! The cluster lives in one directory (default `target/dev-db`): `pgdata/`,
//! `state.env` (port, user, password; mode 0600), `ca.crt`, `server.log`.

mod bin;
mod init;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::dotenv::Document;
use crate::exit::{bad_input, Usage};
use crate::pgurl::PgUrl;
use crate::secret::Secret;
use crate::util;

use bin::exe;
pub use bin::find_bin_dir;
use init::{cluster_start, ensure_app_role, init_cluster, run_checked, write_config, Runner};

const APP_USER: &str = "app";

/// The settings a cluster was created or last started with.
#[derive(Debug, Clone)]
pub struct State {
    pub port: u16,
    pub user: String,
    pub password: Secret,
    pub database: String,
    pub tls: bool,
    pub max_connections: u32,
    pub idle_session_timeout: u64,
}

impl State {
    /// The URL an app uses: TLS required when the server requires it.
    pub fn url(&self) -> PgUrl {
        let mut u = PgUrl::build(
            &self.user,
            &self.password,
            "127.0.0.1",
            self.port,
            &self.database,
        );
        if self.tls {
            u.set_param("sslmode", "require");
        }
        u
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = format!(
            "# written by cargo xtask dev-db; the password is only for this local server\n\
             PORT={}\nUSER={}\nPASSWORD='{}'\nDATABASE={}\nTLS={}\nMAX_CONNECTIONS={}\nIDLE_SESSION_TIMEOUT={}\n",
            self.port,
            self.user,
            self.password.expose(),
            self.database,
            self.tls,
            self.max_connections,
            self.idle_session_timeout
        );
        fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }

    fn load(path: &Path) -> anyhow::Result<State> {
        let text =
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let doc =
            Document::parse(&text).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
        let get = |k: &str| -> anyhow::Result<String> {
            let idx = *doc
                .find(k)
                .first()
                .ok_or_else(|| bad_input(format!("{}: no {k}", path.display())))?;
            Ok(doc.literal(idx))
        };
        let state = State {
            port: get("PORT")?.parse()?,
            user: get("USER")?,
            password: Secret::new(get("PASSWORD")?),
            database: get("DATABASE")?,
            tls: get("TLS")? == "true",
            max_connections: get("MAX_CONNECTIONS")?.parse()?,
            idle_session_timeout: get("IDLE_SESSION_TIMEOUT")?.parse()?,
        };
        Ok(state)
    }
}

/// Paths of one cluster.
pub struct Cluster {
    pub dir: PathBuf,
    bin: Option<PathBuf>,
}

impl Cluster {
    pub fn new(dir: PathBuf) -> Cluster {
        Cluster { dir, bin: None }
    }
    pub fn pgdata(&self) -> PathBuf {
        self.dir.join("pgdata")
    }
    fn state_file(&self) -> PathBuf {
        self.dir.join("state.env")
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }
    pub fn state(&self) -> anyhow::Result<Option<State>> {
        if self.state_file().exists() {
            State::load(&self.state_file()).map(Some)
        } else {
            Ok(None)
        }
    }
    fn bin(&mut self) -> anyhow::Result<PathBuf> {
        if self.bin.is_none() {
            self.bin = Some(find_bin_dir()?);
        }
        Ok(self.bin.clone().unwrap_or_default())
    }

    /// The postmaster's pid when the server is running.
    pub fn running_pid(&self) -> Option<u32> {
        let text = fs::read_to_string(self.pgdata().join("postmaster.pid")).ok()?;
        let pid: u32 = text.lines().next()?.trim().parse().ok()?;
        if process_alive(pid) {
            Some(pid)
        } else {
            None
        }
    }
}

fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: kill with signal 0 only checks that the process exists.
        let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

#[derive(Default)]
pub struct UpOptions {
    pub port: Option<u16>,
    pub database: Option<String>,
    pub max_connections: Option<u32>,
    pub idle_session_timeout: Option<u64>,
    pub no_tls: bool,
    pub stop_after: Option<u64>,
}

impl UpOptions {
    /// Refuses options the server would refuse later, less clearly.
    pub fn validate(&self) -> anyhow::Result<()> {
        let o = self;
        if let Some(n) = o.max_connections {
            if n < 5 {
                bail!(Usage(
                    "--max-connections must be at least 5 (3 are reserved for superusers)".into()
                ));
            }
        }
        if let Some(db) = &o.database {
            if db.is_empty()
                || db.len() > 63
                || !db
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                bail!(Usage(format!(
                    "--database `{db}`: use letters, digits, `_` or `-`, at most 63"
                )));
            }
        }
        Ok(())
    }
}

/// Starts the cluster, creating it on first use. Returns its state and
/// whether it was started now (false: it was already running).
pub fn up(cluster: &mut Cluster, o: &UpOptions) -> anyhow::Result<(State, bool)> {
    if let (Some(state), Some(_)) = (cluster.state()?, cluster.running_pid()) {
        return Ok((state, false));
    }
    let bin = cluster.bin()?;
    let runner = Runner::new()?;
    fs::create_dir_all(&cluster.dir)
        .with_context(|| format!("cannot create {}", cluster.dir.display()))?;
    runner.check_reachable(&cluster.dir)?;
    let previous = cluster.state()?;
    let fresh = !cluster.pgdata().join("PG_VERSION").exists();
    let password = match &previous {
        Some(s) if !fresh => s.password.clone(),
        _ => Secret::new(generate_password()),
    };
    let port = match o.port {
        Some(0) => util::free_port()?,
        Some(p) => p,
        None => match &previous {
            Some(s) if util::port_is_free(s.port) => s.port,
            _ if util::port_is_free(55432) => 55432,
            _ => util::free_port()?,
        },
    };
    let state = State {
        port,
        user: APP_USER.into(),
        password: password.clone(),
        database: o
            .database
            .clone()
            .or(previous.as_ref().map(|s| s.database.clone()))
            .unwrap_or_else(|| "summitly".into()),
        tls: !o.no_tls,
        max_connections: o.max_connections.unwrap_or(50),
        idle_session_timeout: o.idle_session_timeout.unwrap_or(0),
    };
    if fresh {
        init_cluster(cluster, &bin, &runner, &password)?;
    }
    write_config(cluster, &state, &runner)?;
    cluster_start(cluster, &bin, &runner)?;
    let pid = cluster.running_pid().unwrap_or(0);
    if let Some(secs) = o.stop_after {
        spawn_watchdog(cluster, pid, secs)?;
    }
    state.save(&cluster.state_file())?;
    ensure_app_role(&state, cluster).context("cannot create the app user and database")?;
    Ok((state, true))
}

/// A password with the characters that hand-written URLs get wrong. A `%`
/// is never followed by hex digits, so the raw form is never mistaken for
/// an encoded one.
fn generate_password() -> String {
    let alnum = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let r = |n| util::random_string(alnum, n);
    format!("{}@{}#{}$&{}/:{}%!{}", r(5), r(4), r(4), r(4), r(4), r(4))
}

/// Stops the cluster; false when it was not running.
pub fn down(cluster: &mut Cluster) -> anyhow::Result<bool> {
    if cluster.running_pid().is_none() {
        return Ok(false);
    }
    let bin = cluster.bin()?;
    let runner = Runner::new()?;
    let mut cmd = runner.command(&bin.join(exe("pg_ctl")));
    cmd.arg("-D")
        .arg(cluster.pgdata())
        .args(["-m", "fast", "-w", "-t", "60", "stop"]);
    run_checked(cmd, "pg_ctl stop")?;
    Ok(true)
}

/// Runs detached; stops the server after `after` unless it was restarted
/// (another pid) or stopped meanwhile. Servers started for tests thereby
/// stop by themselves even when the test process is killed.
fn spawn_watchdog(cluster: &Cluster, pid: u32, secs: u64) -> anyhow::Result<()> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args([
        "dev-db",
        "__watchdog",
        "--after",
        &secs.to_string(),
        "--pid",
        &pid.to_string(),
        "--data-dir",
    ])
    .arg(&cluster.dir)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd.spawn().context("cannot start the dev-db watchdog")?;
    Ok(())
}

pub fn watchdog(cluster: &mut Cluster, pid: u32, after: Duration) {
    let deadline = Instant::now() + after;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        if cluster.running_pid() != Some(pid) {
            return;
        }
    }
    let _ = down(cluster);
}

pub fn server_version(cluster: &mut Cluster) -> Option<String> {
    let bin = cluster.bin().ok()?;
    let out = Command::new(bin.join(exe("postgres")))
        .arg("--version")
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
