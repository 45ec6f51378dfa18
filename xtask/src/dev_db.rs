//! `cargo xtask dev-db`: a local PostgreSQL that behaves like RDS. TLS is
//! required on TCP (like `rds.force_ssl=1`), passwords are scram-sha-256, and
//! the generated password contains `@ # $ & / : %`, the characters that break
//! hand-written URLs. Options make it misbehave on purpose (connection
//! exhaustion, idle sessions closed by the server: the P1017 pattern).
//!
//! The cluster lives in one directory (default `target/dev-db`): `pgdata/`,
//! `state.env` (port, user, password; mode 0600), `ca.crt`, `server.log`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::dotenv::Document;
use crate::flags::{bad_input, Args};
use crate::output::{self, Json};
use crate::pgurl::{encode_component, PgUrl, USERINFO};
use crate::util::{self, Ctx};

pub const HELP: &str = "\
cargo xtask dev-db: a local PostgreSQL that behaves like AWS RDS

Usage: cargo xtask dev-db <up|down|status|url> [options]

  up       start the cluster (create it on first use); a running one is left as is
  status   running or not, version, port, TLS, and the URL with the password masked (exit 1 when not running)
  url      print the full URL, password included (for scripts: psql \"$(cargo xtask dev-db url)\")
  down     stop it; --purge also deletes its data

Options:
  --data-dir DIR              where the cluster lives (default: target/dev-db)
  --port N                    port on 127.0.0.1 (default: the last one used, else 55432, else a free one; 0 = any free port)
  --database NAME             database to create (default: summitly)
  --max-connections N         server max_connections (default 50; at least 5), to provoke 'too many connections'
  --idle-session-timeout SECS server closes sessions idle this long (default 0 = never): the P1017 pattern
  --no-tls                    plain TCP (TLS off) instead of TLS required
  --write-env                 with up: put the URL into the project's .env.local as DATABASE_URL
  --stop-after SECS           with up: the server stops by itself after SECS (tests, CI)
  --purge                     with down: delete the cluster's data too
  --json                      machine-readable output (up, status)

The server listens on 127.0.0.1 only. As root, PostgreSQL runs as the 'postgres'
user (or 'nobody'), which must be able to reach --data-dir.
Server binaries are found through PG_BIN, pg_config --bindir, or the usual install paths.

Example:
  cargo xtask dev-db up --write-env && psql \"$(cargo xtask dev-db url)\" -c 'select 1'
";

const APP_USER: &str = "app";

/// The settings a cluster was created or last started with.
#[derive(Debug, Clone)]
pub struct State {
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
    pub tls: bool,
    pub max_connections: u32,
    pub idle_session_timeout: u64,
}

impl State {
    /// The URL an app uses: TLS required when the server requires it.
    pub fn url(&self) -> String {
        let mut u = format!(
            "postgresql://{}:{}@127.0.0.1:{}/{}",
            self.user,
            encode_component(&self.password, USERINFO),
            self.port,
            encode_component(&self.database, crate::pgurl::QUERY_VALUE)
        );
        if self.tls {
            u.push_str("?sslmode=require");
        }
        u
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = format!(
            "# written by cargo xtask dev-db; the password is only for this local server\n\
             PORT={}\nUSER={}\nPASSWORD='{}'\nDATABASE={}\nTLS={}\nMAX_CONNECTIONS={}\nIDLE_SESSION_TIMEOUT={}\n",
            self.port,
            self.user,
            self.password,
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
            password: get("PASSWORD")?,
            database: get("DATABASE")?,
            tls: get("TLS")? == "true",
            max_connections: get("MAX_CONNECTIONS")?.parse()?,
            idle_session_timeout: get("IDLE_SESSION_TIMEOUT")?.parse()?,
        };
        output::register_secret(&state.password);
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

pub fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<i32> {
    let sub = args.positional();
    let dir = args
        .value("--data-dir")?
        .map(PathBuf::from)
        .unwrap_or_else(|| ctx.target_dir().join("dev-db"));
    let dir = absolute(&dir);
    let mut cluster = Cluster::new(dir);
    match sub.as_deref() {
        Some("up") => {
            let opts = UpOptions {
                port: args.parsed("--port", "a port number")?,
                database: args.value("--database")?,
                max_connections: args.parsed("--max-connections", "a number")?,
                idle_session_timeout: args.parsed("--idle-session-timeout", "seconds")?,
                no_tls: args.flag("--no-tls"),
                stop_after: args.parsed("--stop-after", "seconds")?,
            };
            let write_env = args.flag("--write-env");
            let json = args.flag("--json");
            args.finish()?;
            args_ok(&opts)?;
            let (state, started) = up(&mut cluster, &opts)?;
            if write_env {
                write_env_url(ctx, &state)?;
            }
            if json {
                output::json(&status_json(&cluster, &state, true));
            } else {
                output::out(format!(
                    "dev-db {} on 127.0.0.1:{} (TLS {}): {}",
                    if started { "started" } else { "already running" },
                    state.port,
                    if state.tls { "required" } else { "off" },
                    PgUrl::parse(&state.url()).map(|u| u.masked()).unwrap_or_default()
                ));
                let options_given = opts.port.is_some() || opts.database.is_some() || opts.max_connections.is_some() || opts.idle_session_timeout.is_some() || opts.no_tls;
                if !started && options_given {
                    output::out("  (options given now apply after `cargo xtask dev-db down` and `up` again)");
                }
                if write_env {
                    output::out("  DATABASE_URL written to .env.local");
                } else {
                    output::out("  the full URL: cargo xtask dev-db url   (or --write-env to put it in .env.local)");
                }
            }
            Ok(0)
        }
        Some("status") => {
            let json = args.flag("--json");
            args.finish()?;
            let Some(state) = cluster.state()? else {
                if json {
                    output::json(&Json::obj([("running", Json::Bool(false)), ("exists", Json::Bool(false))]));
                } else {
                    output::out(format!("dev-db: none at {} (start one with `cargo xtask dev-db up`)", cluster.dir.display()));
                }
                return Ok(1);
            };
            let running = cluster.running_pid().is_some();
            if json {
                output::json(&status_json(&cluster, &state, running));
            } else {
                output::out(format!("dev-db: {}", if running { "running" } else { "stopped" }));
                output::out(format!("  version:   {}", server_version(&mut cluster).unwrap_or_else(|| "unknown".into())));
                output::out(format!("  port:      {}", state.port));
                output::out(format!("  TLS:       {}", if state.tls { "required (self-signed, CA at ca.crt)" } else { "off" }));
                output::out(format!("  url:       {}", PgUrl::parse(&state.url()).map(|u| u.masked()).unwrap_or_default()));
                output::out(format!("  data dir:  {}", cluster.dir.display()));
            }
            Ok(if running { 0 } else { 1 })
        }
        Some("url") => {
            args.finish()?;
            let Some(state) = cluster.state()? else {
                bail!(bad_input(format!("no dev-db at {}: run `cargo xtask dev-db up` first", cluster.dir.display())));
            };
            // The one deliberate exception to masking: scripts ask for the
            // password here, and the help says so.
            println!("{}", state.url());
            Ok(0)
        }
        Some("down") => {
            let purge = args.flag("--purge");
            args.finish()?;
            let was_running = down(&mut cluster)?;
            output::out(if was_running { "dev-db stopped" } else { "dev-db was not running" });
            if purge && cluster.dir.exists() {
                fs::remove_dir_all(&cluster.dir).with_context(|| format!("cannot delete {}", cluster.dir.display()))?;
                output::out(format!("deleted {}", cluster.dir.display()));
            }
            Ok(0)
        }
        Some("__watchdog") => {
            let after: u64 = args.parsed("--after", "seconds")?.unwrap_or(600);
            let pid: u32 = args.parsed("--pid", "a pid")?.unwrap_or(0);
            args.finish()?;
            watchdog(&mut cluster, pid, Duration::from_secs(after));
            Ok(0)
        }
        Some(other) => Err(crate::flags::Usage(format!(
            "unknown dev-db command `{other}`: use up, down, status or url\nhint: run `cargo xtask dev-db --help`"
        ))
        .into()),
        None => Err(crate::flags::Usage("dev-db needs a command: up, down, status or url\nhint: run `cargo xtask dev-db --help`".into()).into()),
    }
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
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

fn args_ok(o: &UpOptions) -> anyhow::Result<()> {
    if let Some(n) = o.max_connections {
        if n < 5 {
            bail!(crate::flags::Usage(
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
            bail!(crate::flags::Usage(format!(
                "--database `{db}`: use letters, digits, `_` or `-`, at most 63"
            )));
        }
    }
    Ok(())
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
        _ => generate_password(),
    };
    output::register_secret(&password);
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

/// Runs server programs as an unprivileged user when we are root.
struct Runner {
    #[cfg(unix)]
    ids: Option<(u32, u32, String)>,
}

impl Runner {
    fn new() -> anyhow::Result<Runner> {
        #[cfg(unix)]
        {
            let ids = if util::is_root() {
                let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
                let find = |name: &str| {
                    passwd.lines().find_map(|l| {
                        let f: Vec<&str> = l.split(':').collect();
                        (f.len() > 3 && f[0] == name)
                            .then(|| (f[2].parse().ok(), f[3].parse().ok()))
                    })
                };
                let (name, ids) = ["postgres", "nobody"]
                    .iter()
                    .find_map(|n| match find(n) {
                        Some((Some(u), Some(g))) => Some((n.to_string(), (u, g))),
                        _ => None,
                    })
                    .ok_or_else(|| anyhow::anyhow!("running as root, and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as: create one (useradd --system postgres) or run as a normal user"))?;
                Some((ids.0, ids.1, name))
            } else {
                None
            };
            Ok(Runner { ids })
        }
        #[cfg(not(unix))]
        Ok(Runner {})
    }

    fn command(&self, program: &Path) -> Command {
        #[allow(unused_mut)]
        let mut c = Command::new(program);
        #[cfg(unix)]
        if let Some((uid, gid, _)) = &self.ids {
            use std::os::unix::process::CommandExt;
            c.uid(*uid).gid(*gid);
        }
        c.env("LC_ALL", "C").env_remove("PGDATA");
        c
    }

    /// Gives the server user a path (recursively).
    fn own(&self, path: &Path) -> anyhow::Result<()> {
        #[cfg(unix)]
        if let Some((uid, gid, _)) = &self.ids {
            chown_tree(path, *uid, *gid)?;
        }
        let _ = path;
        Ok(())
    }

    /// As root, the server user must be able to reach the data directory.
    fn check_reachable(&self, dir: &Path) -> anyhow::Result<()> {
        #[cfg(unix)]
        if let Some((_, _, name)) = &self.ids {
            use std::os::unix::fs::PermissionsExt;
            for a in dir.ancestors().skip(1) {
                if let Ok(m) = fs::metadata(a) {
                    if m.permissions().mode() & 0o001 == 0 {
                        bail!(bad_input(format!(
                            "PostgreSQL runs as the '{name}' user here (we are root), and it cannot enter {}: \
                             use a --data-dir outside it, or `chmod o+x {}`",
                            a.display(),
                            a.display()
                        )));
                    }
                }
            }
        }
        let _ = dir;
        Ok(())
    }
}

#[cfg(unix)]
fn chown_tree(path: &Path, uid: u32, gid: u32) -> anyhow::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .with_context(|| format!("cannot chown {}", path.display()))?;
    if path.is_dir() {
        for e in fs::read_dir(path)? {
            chown_tree(&e?.path(), uid, gid)?;
        }
    }
    Ok(())
}

fn run_checked(mut cmd: Command, what: &str) -> anyhow::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}",
            out.status,
            output::redact(text.trim())
        );
    }
    Ok(text)
}

fn init_cluster(
    cluster: &Cluster,
    bin: &Path,
    runner: &Runner,
    password: &str,
) -> anyhow::Result<()> {
    let pgdata = cluster.pgdata();
    if pgdata.exists() {
        fs::remove_dir_all(&pgdata)?;
    }
    fs::create_dir_all(&pgdata)?;
    let pwfile = cluster.dir.join("initdb.pw");
    fs::write(&pwfile, format!("{password}\n"))?;
    runner.own(&pwfile)?;
    runner.own(&pgdata)?;
    let mut cmd = runner.command(&bin.join(exe("initdb")));
    cmd.arg("-D")
        .arg(&pgdata)
        .args([
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            "--no-locale",
            "-E",
            "UTF8",
            "--no-sync",
        ])
        .arg(format!("--pwfile={}", pwfile.display()));
    let result = run_checked(cmd, "initdb");
    let _ = fs::remove_file(&pwfile);
    result?;
    make_certificates(cluster, runner)?;
    let conf = pgdata.join("postgresql.conf");
    let mut text = fs::read_to_string(&conf)?;
    text.push_str("\n# settings of cargo xtask dev-db, rewritten on each `up`\ninclude_if_exists = 'xtask.conf'\n");
    fs::write(&conf, text)?;
    Ok(())
}

/// A CA and a server certificate for 127.0.0.1/localhost signed by it, so
/// `verify-full` can be tested with the CA as `sslrootcert`. Uses the
/// `openssl` command line: no crate to compile, present wherever Git or
/// OpenSSL is installed.
fn make_certificates(cluster: &Cluster, runner: &Runner) -> anyhow::Result<()> {
    let d = &cluster.dir;
    let pgdata = cluster.pgdata();
    let openssl = util::which("openssl").ok_or_else(|| {
        anyhow::anyhow!("the `openssl` command is needed to make the dev-db's TLS certificate: install it (apt-get install openssl, brew install openssl, or Git for Windows), or use --no-tls")
    })?;
    let ext = d.join("server.ext");
    fs::write(&ext, "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = Command::new(&openssl);
    ca.args([
        "req",
        "-x509",
        "-days",
        "3650",
        "-subj",
        "/CN=xtask dev-db CA",
    ])
    .args(ec)
    .arg("-keyout")
    .arg(d.join("ca.key"))
    .arg("-out")
    .arg(cluster.ca_cert());
    run_checked(ca, "openssl (CA)")?;
    let mut csr = Command::new(&openssl);
    csr.args(["req", "-subj", "/CN=localhost"])
        .args(ec)
        .arg("-keyout")
        .arg(pgdata.join("server.key"))
        .arg("-out")
        .arg(d.join("server.csr"));
    run_checked(csr, "openssl (server key)")?;
    let mut sign = Command::new(&openssl);
    sign.args(["x509", "-req", "-days", "3650", "-set_serial", "1"])
        .arg("-in")
        .arg(d.join("server.csr"))
        .arg("-CA")
        .arg(cluster.ca_cert())
        .arg("-CAkey")
        .arg(d.join("ca.key"))
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(pgdata.join("server.crt"));
    run_checked(sign, "openssl (sign)")?;
    let _ = fs::remove_file(d.join("server.csr"));
    let _ = fs::remove_file(&ext);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(pgdata.join("server.key"), fs::Permissions::from_mode(0o600))?;
        fs::set_permissions(d.join("ca.key"), fs::Permissions::from_mode(0o600))?;
    }
    runner.own(&pgdata.join("server.key"))?;
    runner.own(&pgdata.join("server.crt"))?;
    Ok(())
}

fn write_config(cluster: &Cluster, s: &State, runner: &Runner) -> anyhow::Result<()> {
    let pgdata = cluster.pgdata();
    let conf = format!(
        "listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         unix_socket_directories = ''\n\
         max_connections = {maxc}\n\
         superuser_reserved_connections = 3\n\
         idle_session_timeout = '{idle}s'\n\
         ssl = {ssl}\n\
         ssl_cert_file = 'server.crt'\n\
         ssl_key_file = 'server.key'\n\
         password_encryption = 'scram-sha-256'\n\
         shared_buffers = '16MB'\n\
         # throwaway data: durability traded for speed\n\
         fsync = off\n\
         synchronous_commit = off\n\
         full_page_writes = off\n",
        port = s.port,
        maxc = s.max_connections,
        idle = s.idle_session_timeout,
        ssl = if s.tls { "on" } else { "off" },
    );
    fs::write(pgdata.join("xtask.conf"), conf)?;
    // No `host` lines when TLS is on: a plain connection then meets
    // "no pg_hba.conf entry ... no encryption", exactly as on RDS.
    let kind = if s.tls { "hostssl" } else { "host" };
    let hba = format!(
        "# written by cargo xtask dev-db\n{kind} all all 127.0.0.1/32 scram-sha-256\n{kind} all all ::1/128 scram-sha-256\n"
    );
    fs::write(pgdata.join("pg_hba.conf"), hba)?;
    runner.own(&pgdata.join("xtask.conf"))?;
    runner.own(&pgdata.join("pg_hba.conf"))?;
    Ok(())
}

fn cluster_start(cluster: &Cluster, bin: &Path, runner: &Runner) -> anyhow::Result<()> {
    let log = cluster.log_file();
    fs::write(&log, "")?;
    runner.own(&log)?;
    let mut cmd = runner.command(&bin.join(exe("pg_ctl")));
    cmd.arg("-D")
        .arg(cluster.pgdata())
        .arg("-l")
        .arg(&log)
        .args(["-w", "-t", "60", "start"]);
    // pg_ctl's own output says little; the server log says why.
    if let Err(e) = run_checked(cmd, "pg_ctl start") {
        let tail: String = fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        bail!(
            "{e}\nserver log ({}):\n{}",
            log.display(),
            output::redact(&tail)
        );
    }
    Ok(())
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

/// Creates the app role and database on first start, over the same TLS a
/// client would use (which also proves the server is reachable).
fn ensure_app_role(s: &State, cluster: &Cluster) -> anyhow::Result<()> {
    let admin = State {
        user: "postgres".into(),
        database: "postgres".into(),
        ..s.clone()
    };
    let mut client = crate::pg::connect_url(&admin.url(), &cluster.dir, Duration::from_secs(10))
        .map_err(|e| anyhow::anyhow!("the new server: {e}"))?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&s.user])?
        .is_some();
    let quoted_pw = s.password.replace('\'', "''");
    if !exists {
        client.batch_execute(&format!(
            "CREATE ROLE \"{}\" LOGIN CREATEDB PASSWORD '{quoted_pw}'",
            s.user
        ))?;
    }
    let db_exists = client
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[&s.database],
        )?
        .is_some();
    if !db_exists {
        client.batch_execute(&format!(
            "CREATE DATABASE \"{}\" OWNER \"{}\"",
            s.database, s.user
        ))?;
    }
    Ok(())
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

fn watchdog(cluster: &mut Cluster, pid: u32, after: Duration) {
    let deadline = Instant::now() + after;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        if cluster.running_pid() != Some(pid) {
            return;
        }
    }
    let _ = down(cluster);
}

fn status_json(cluster: &Cluster, s: &State, running: bool) -> Json {
    Json::obj([
        ("running", Json::Bool(running)),
        ("exists", Json::Bool(true)),
        ("port", Json::num(s.port)),
        ("tls", Json::Bool(s.tls)),
        ("database", Json::str(&s.database)),
        ("user", Json::str(&s.user)),
        (
            "url",
            Json::str(
                PgUrl::parse(&s.url())
                    .map(|u| u.masked())
                    .unwrap_or_default(),
            ),
        ),
        (
            "ca_cert",
            Json::str(cluster.ca_cert().display().to_string()),
        ),
        ("data_dir", Json::str(cluster.dir.display().to_string())),
        ("max_connections", Json::num(s.max_connections)),
        (
            "idle_session_timeout",
            Json::num(s.idle_session_timeout as f64),
        ),
    ])
}

fn server_version(cluster: &mut Cluster) -> Option<String> {
    let bin = cluster.bin().ok()?;
    let out = Command::new(bin.join(exe("postgres")))
        .arg("--version")
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Puts the dev-db URL into `.env.local` as `DATABASE_URL`, touching no other line.
pub fn write_env_url(ctx: &Ctx, s: &State) -> anyhow::Result<()> {
    let path = ctx.project_dir.join(".env.local");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut doc = Document::parse(&text)
        .map_err(|e| bad_input(format!("{}: {e}; nothing was written", path.display())))?;
    // The file is read by Prisma: write the URL as env-fix would leave it.
    let mut url = PgUrl::parse(&s.url())?;
    crate::env_fix::tune("DATABASE_URL", &mut url);
    let url = url.render_for(crate::pgurl::Reader::Prisma);
    let found = doc
        .find_one("DATABASE_URL")
        .map_err(|e| bad_input(format!("{}: {e}, then run again", path.display())))?;
    match found {
        None => doc.append("DATABASE_URL", &url),
        Some(one) if doc.literal(one) == url => return Ok(()),
        Some(one) => doc.set_value(one, &url),
    }
    util::atomic_write(&path, doc.render().as_bytes())?;
    Ok(())
}

fn exe(name: &str) -> String {
    if cfg!(windows) {
        format!("{name}.exe")
    } else {
        name.to_string()
    }
}

/// Finds the PostgreSQL server binaries: PG_BIN, `pg_config --bindir`, then
/// the usual install locations, newest version first.
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let has = |d: &Path| d.join(exe("initdb")).is_file() && d.join(exe("pg_ctl")).is_file();
    if let Some(dir) = std::env::var_os("PG_BIN").map(PathBuf::from) {
        if has(&dir) {
            return Ok(dir);
        }
        bail!(bad_input(format!(
            "PG_BIN={} has no initdb and pg_ctl",
            dir.display()
        )));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has(&dir) {
            return Ok(dir);
        }
    }
    let mut candidates: Vec<(u32, PathBuf)> = Vec::new();
    let globs: &[(&str, &str, &str)] = &[
        ("/usr/lib/postgresql", "", "bin"),
        ("/usr", "pgsql-", "bin"),
        ("/opt/homebrew/opt", "postgresql@", "bin"),
        ("/usr/local/opt", "postgresql@", "bin"),
        ("/Applications/Postgres.app/Contents/Versions", "", "bin"),
        ("C:\\Program Files\\PostgreSQL", "", "bin"),
    ];
    for (parent, prefix, sub) in globs {
        let Ok(rd) = fs::read_dir(parent) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(v) = name.strip_prefix(prefix) {
                let major = v
                    .split('.')
                    .next()
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(0);
                let dir = e.path().join(sub);
                if has(&dir) {
                    candidates.push((major, dir));
                }
            }
        }
    }
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    if let Some((_, dir)) = candidates.into_iter().next() {
        return Ok(dir);
    }
    if let Some(initdb) = util::which("initdb") {
        if let Some(dir) = initdb.parent() {
            if has(dir) {
                return Ok(dir.to_path_buf());
            }
        }
    }
    bail!(bad_input(
        "no PostgreSQL server binaries (initdb, pg_ctl) found. Install them, or point PG_BIN at their folder:\n  \
         Debian/Ubuntu: sudo apt-get install postgresql\n  \
         macOS:         brew install postgresql@16\n  \
         Windows:       winget install PostgreSQL.PostgreSQL.16"
    ))
}
