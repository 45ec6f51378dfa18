//! `cargo xtask dev-db up|down|status|url`: flags and rendering for the
//! local RDS-like PostgreSQL in `devdb`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::devdb::{self, Cluster, State, UpOptions};
use crate::envfile;
use crate::exit::{bad_input, Exit, Usage};
use crate::flags::{Args, Flag, Help};
use crate::output::{self, Json};
use crate::util::Ctx;

pub const HELP: Help = Help {
    intro: "\
cargo xtask dev-db: a local PostgreSQL that behaves like AWS RDS

Usage: cargo xtask dev-db <up|down|status|url> [options]

  up       start the cluster (create it on first use); a running one is left as is
  status   running or not, version, port, TLS, and the URL with the password masked (exit 1 when not running)
  url      print the full URL, password included (for scripts: psql \"$(cargo xtask dev-db url)\")
  down     stop it; --purge also deletes its data

",
    flags: FLAGS,
    outro: "\
The server listens on 127.0.0.1 only. As root, PostgreSQL runs as the 'postgres'
user (or 'nobody'), which must be able to reach --data-dir.
Server binaries are found through PG_BIN, pg_config --bindir, or the usual install paths.

Example:
  cargo xtask dev-db up --write-env && psql \"$(cargo xtask dev-db url)\" -c 'select 1'
",
};

/// The options, as the parser accepts them and the help shows them.
#[rustfmt::skip]
const FLAGS: &[Flag] = &[
    Flag { name: "--after", value: Some("SECS"), help: "" },
    Flag { name: "--pid", value: Some("PID"), help: "" },
    Flag { name: "--data-dir", value: Some("DIR"), help: "where the cluster lives (default: target/dev-db)" },
    Flag { name: "--port", value: Some("N"), help: "port on 127.0.0.1 (default: the last one used, else 55432, else a free one; 0 = any free port)" },
    Flag { name: "--database", value: Some("NAME"), help: "database to create (default: summitly)" },
    Flag { name: "--max-connections", value: Some("N"), help: "server max_connections (default 50; at least 5), to provoke 'too many connections'" },
    Flag { name: "--idle-session-timeout", value: Some("SECS"), help: "server closes sessions idle this long (default 0 = never): the P1017 pattern" },
    Flag { name: "--no-tls", value: None, help: "plain TCP (TLS off) instead of TLS required" },
    Flag { name: "--write-env", value: None, help: "with up: put the URL into the project's .env.local as DATABASE_URL" },
    Flag { name: "--stop-after", value: Some("SECS"), help: "with up: the server stops by itself after SECS (tests, CI)" },
    Flag { name: "--purge", value: None, help: "with down: delete the cluster's data too" },
    Flag { name: "--json", value: None, help: "machine-readable output (up, status)" },
];

pub fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<Exit> {
    let sub = args.positional();
    let dir = args
        .value("--data-dir")?
        .map(PathBuf::from)
        .unwrap_or_else(|| ctx.target_dir().join("dev-db"));
    let mut cluster = Cluster::new(absolute(&dir));
    match sub.as_deref() {
        Some("up") => up(ctx, &mut cluster, args),
        Some("status") => status(&mut cluster, args),
        Some("url") => {
            args.finish()?;
            let Some(state) = cluster.state()? else {
                bail!(bad_input(format!("no dev-db at {}: run `cargo xtask dev-db up` first", cluster.dir.display())));
            };
            // The one deliberate exception to masking: scripts ask for the
            // password here, and the help says so.
            output::out_unmasked(state.url().render());
            Ok(Exit::Success)
        }
        Some("down") => down(&mut cluster, args),
        Some("__watchdog") => {
            let after: u64 = args.parsed("--after", "seconds")?.unwrap_or(600);
            let pid: u32 = args.parsed("--pid", "a pid")?.unwrap_or(0);
            args.finish()?;
            devdb::watchdog(&mut cluster, pid, Duration::from_secs(after));
            Ok(Exit::Success)
        }
        Some(other) => Err(Usage(format!(
            "unknown dev-db command `{other}`: use up, down, status or url\nhint: run `cargo xtask dev-db --help`"
        ))
        .into()),
        None => Err(Usage("dev-db needs a command: up, down, status or url\nhint: run `cargo xtask dev-db --help`".into()).into()),
    }
}

fn up(ctx: &Ctx, cluster: &mut Cluster, mut args: Args) -> anyhow::Result<Exit> {
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
    opts.validate()?;
    let (state, started) = devdb::up(cluster, &opts)?;
    let written = match write_env {
        true => Some(envfile::write_database_url(ctx, &state.url())?),
        false => None,
    };
    if let Some(how) = written
        .as_ref()
        .and_then(|w| w.file.as_ref())
        .and_then(|f| f.describe())
    {
        output::err(format!("dev-db: .env.local written {how}"));
    }
    if let Some((old, backup)) = written.as_ref().and_then(|w| w.replaced.as_ref()) {
        // On stderr: with --json, stdout carries one object.
        output::err(format!(
            "dev-db: .env.local's DATABASE_URL was {old}; the file as it was is kept in {}",
            backup.display()
        ));
    }
    if json {
        output::json(&status_json(cluster, &state, true));
        return Ok(Exit::Success);
    }
    output::out(format!(
        "dev-db {} on 127.0.0.1:{} (TLS {}): {}",
        if started {
            "started"
        } else {
            "already running"
        },
        state.port,
        if state.tls { "required" } else { "off" },
        state.url().masked()
    ));
    let options_given = opts.port.is_some()
        || opts.database.is_some()
        || opts.max_connections.is_some()
        || opts.idle_session_timeout.is_some()
        || opts.no_tls;
    if !started && options_given {
        output::out("  (options given now apply after `cargo xtask dev-db down` and `up` again)");
    }
    if write_env {
        output::out("  DATABASE_URL written to .env.local");
    } else {
        output::out(
            "  the full URL: cargo xtask dev-db url   (or --write-env to put it in .env.local)",
        );
    }
    Ok(Exit::Success)
}

fn status(cluster: &mut Cluster, mut args: Args) -> anyhow::Result<Exit> {
    let json = args.flag("--json");
    args.finish()?;
    let Some(state) = cluster.state()? else {
        if json {
            output::json(&Json::obj([
                ("running", Json::Bool(false)),
                ("exists", Json::Bool(false)),
            ]));
        } else {
            output::out(format!(
                "dev-db: none at {} (start one with `cargo xtask dev-db up`)",
                cluster.dir.display()
            ));
        }
        return Ok(Exit::Failed);
    };
    let running = cluster.running_pid().is_some();
    if json {
        output::json(&status_json(cluster, &state, running));
    } else {
        let version = devdb::server_version(cluster).unwrap_or_else(|| "unknown".into());
        let tls = if state.tls {
            "required (self-signed, CA at ca.crt)"
        } else {
            "off"
        };
        output::out(format!(
            "dev-db: {}",
            if running { "running" } else { "stopped" }
        ));
        output::out(format!("  version:   {version}"));
        output::out(format!("  port:      {}", state.port));
        output::out(format!("  TLS:       {tls}"));
        output::out(format!("  url:       {}", state.url().masked()));
        output::out(format!("  data dir:  {}", cluster.dir.display()));
    }
    Ok(Exit::ok_if(running))
}

fn down(cluster: &mut Cluster, mut args: Args) -> anyhow::Result<Exit> {
    let purge = args.flag("--purge");
    args.finish()?;
    let was_running = devdb::down(cluster)?;
    output::out(if was_running {
        "dev-db stopped"
    } else {
        "dev-db was not running"
    });
    if purge && cluster.dir.exists() {
        fs::remove_dir_all(&cluster.dir)
            .with_context(|| format!("cannot delete {}", cluster.dir.display()))?;
        output::out(format!("deleted {}", cluster.dir.display()));
    }
    Ok(Exit::Success)
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

fn status_json(cluster: &Cluster, s: &State, running: bool) -> Json {
    Json::obj([
        ("running", Json::Bool(running)),
        ("exists", Json::Bool(true)),
        ("port", Json::num(s.port)),
        ("tls", Json::Bool(s.tls)),
        ("database", Json::str(&s.database)),
        ("user", Json::str(&s.user)),
        ("url", Json::str(s.url().masked())),
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
