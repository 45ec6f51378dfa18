//! Creating and starting a cluster: initdb, a CA and server certificate,
//! the RDS-like configuration, pg_ctl, and the app role. As root the server
//! programs run as an unprivileged user, since PostgreSQL refuses root.
//! They are started with std's `Command`, not xshell's: only it can set
//! another user and group for the child (`CommandExt::uid`/`gid`).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use super::bin::exe;
use super::{Cluster, State};
use crate::exit::bad_input;
use crate::secret::Secret;
use crate::util;

/// Runs server programs as an unprivileged user when we are root.
pub(super) struct Runner {
    #[cfg(unix)]
    ids: Option<(u32, u32, String)>,
}

impl Runner {
    pub(super) fn new() -> anyhow::Result<Runner> {
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

    pub(super) fn command(&self, program: &Path) -> Command {
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
    pub(super) fn own(&self, path: &Path) -> anyhow::Result<()> {
        #[cfg(unix)]
        if let Some((uid, gid, _)) = &self.ids {
            chown_tree(path, *uid, *gid)?;
        }
        let _ = path;
        Ok(())
    }

    /// As root, the server user must be able to reach the data directory.
    pub(super) fn check_reachable(&self, dir: &Path) -> anyhow::Result<()> {
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

pub(super) fn run_checked(mut cmd: Command, what: &str) -> anyhow::Result<String> {
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
            crate::secret::redact(text.trim())
        );
    }
    Ok(text)
}

pub(super) fn init_cluster(
    cluster: &Cluster,
    bin: &Path,
    runner: &Runner,
    password: &Secret,
) -> anyhow::Result<()> {
    let pgdata = cluster.pgdata();
    if pgdata.exists() {
        fs::remove_dir_all(&pgdata)?;
    }
    fs::create_dir_all(&pgdata)?;
    let pwfile = cluster.dir.join("initdb.pw");
    fs::write(&pwfile, format!("{}\n", password.expose()))?;
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

pub(super) fn write_config(cluster: &Cluster, s: &State, runner: &Runner) -> anyhow::Result<()> {
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

pub(super) fn cluster_start(cluster: &Cluster, bin: &Path, runner: &Runner) -> anyhow::Result<()> {
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
            crate::secret::redact(&tail)
        );
    }
    Ok(())
}

/// Creates the app role and database on first start, over the same TLS a
/// client would use (which also proves the server is reachable).
pub(super) fn ensure_app_role(s: &State, cluster: &Cluster) -> anyhow::Result<()> {
    let admin = State {
        user: "postgres".into(),
        database: "postgres".into(),
        ..s.clone()
    };
    let url = admin.url();
    let target = crate::conn::target(&url, &cluster.dir, Duration::from_secs(10), None)
        .map_err(|e| anyhow::anyhow!("the new server: {e}"))?;
    let mut session =
        crate::conn::connect(&target).map_err(|e| anyhow::anyhow!("the new server: {e}"))?;
    let mut run = |sql: &str| -> anyhow::Result<Vec<Vec<Option<String>>>> {
        let mut b = session.batch(sql, Duration::from_secs(10));
        match b.error {
            Some(e) => bail!("the new server: {}", e.text()),
            None => Ok(b.results.pop().unwrap_or_default()),
        }
    };
    // Literals, not parameters: the simple protocol takes none. Doubling
    // quotes is enough under standard_conforming_strings (on since 9.1).
    let lit = |v: &str| format!("'{}'", v.replace('\'', "''"));
    let ident = |v: &str| format!("\"{}\"", v.replace('"', "\"\""));
    let role = run(&format!(
        "SELECT 1 FROM pg_roles WHERE rolname = {}",
        lit(&s.user)
    ))?;
    if role.is_empty() {
        run(&format!(
            "CREATE ROLE {} LOGIN CREATEDB PASSWORD {}",
            ident(&s.user),
            lit(s.password.expose())
        ))?;
    }
    let db = run(&format!(
        "SELECT 1 FROM pg_database WHERE datname = {}",
        lit(&s.database)
    ))?;
    if db.is_empty() {
        run(&format!(
            "CREATE DATABASE {} OWNER {}",
            ident(&s.database),
            ident(&s.user)
        ))?;
    }
    Ok(())
}
