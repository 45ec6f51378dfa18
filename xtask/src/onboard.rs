//! `cargo xtask onboard`: from a fresh clone to a migrated database in one
//! command: tools, environment, env-fix, db-test, migrations. It is the
//! "Quick Fix Steps" of the troubleshooting page, safe to run again, and
//! never prompts when it has no terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::db_test::{self, Settings};
use crate::dev_db;
use crate::env_fix::{self, Write};
use crate::envload;
use crate::flags::Args;
use crate::migrate::{self, Mode, Plan};
use crate::output::{self, Json, Style};
use crate::prisma::{self, PackageManager};
use crate::util::{self, Ctx};

pub const HELP: &str = "\
cargo xtask onboard: take a new teammate (or an onboarding script) from clone to migrated database

Usage: cargo xtask onboard [options]

Steps, each reported on one line with its time:
  tools        Node >= 20.19, the package manager the lockfile names, the pinned Prisma CLI
               (runs the clean install when node_modules is missing or stale)
  environment  find DATABASE_URL; if there is none: create .env.local from .env.example
               (asking for the password), or with --local (or no .env.example) start the
               local dev-db and write its URL. An existing .env.local is never replaced.
  env-fix      repair the URL (encoding, sslmode, timeouts)
  db-test      the full connection check; stops here with the diagnosis on failure
  migrations   prisma migrate deploy through `cargo xtask migrate --deploy`

Options:
  --local            use the local dev-db (started if needed) for DATABASE_URL
  --data-dir DIR     the dev-db's directory (default: target/dev-db)
  --password-stdin   the database password for .env.example's URL, from standard input
  --yes              never prompt (also when stdin is not a terminal, or CI=true)
  --check            report env-fix repairs without writing; fail if any are needed
  --no-migrate       stop after db-test
  --json             {\"ok\", \"steps\": [{\"name\", \"status\", \"ms\", \"detail\", \"hint\"}]}

Exit codes: 0 ready; 1 a step failed (its hint says what to do); 2 bad usage or input.

Example:
  cargo xtask onboard --local
  printf '%s' \"$DB_PASSWORD\" | cargo xtask onboard --password-stdin --yes --json
";

struct Step {
    name: &'static str,
    status: &'static str,
    ms: u64,
    detail: String,
    hint: Option<String>,
}

struct Opts {
    local: bool,
    data_dir: Option<PathBuf>,
    password_stdin: bool,
    interactive: bool,
    check: bool,
    migrate: bool,
    json: bool,
}

/// The result of one step: ok with a detail, or failed with a hint.
type StepResult = Result<String, (String, String)>;

pub fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<i32> {
    let yes = args.flag("--yes");
    let o = Opts {
        local: args.flag("--local"),
        data_dir: args.value("--data-dir")?.map(PathBuf::from),
        password_stdin: args.flag("--password-stdin"),
        check: args.flag("--check"),
        migrate: !args.flag("--no-migrate"),
        json: args.flag("--json"),
        interactive: false,
    };
    args.finish()?;
    let ci = std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false);
    let o = Opts {
        interactive: !yes && !ci && std::io::stdin().is_terminal(),
        ..o
    };

    let style = Style::stderr();
    let mut steps: Vec<Step> = Vec::new();
    let pm = PackageManager::detect(&ctx.project_dir);
    let plan: [(&'static str, &dyn Fn() -> StepResult); 5] = [
        ("tools", &|| tools(ctx, pm, &o)),
        ("environment", &|| environment(ctx, &o)),
        ("env-fix", &|| fix(ctx, &o)),
        ("db-test", &|| check_db(ctx)),
        ("migrations", &|| migrations(ctx, &o)),
    ];
    let mut failed = false;
    for (name, step) in plan {
        if failed || (name == "migrations" && !o.migrate) {
            let why = if failed {
                "an earlier step failed"
            } else {
                "--no-migrate"
            };
            steps.push(Step {
                name,
                status: "skip",
                ms: 0,
                detail: why.into(),
                hint: None,
            });
            report(steps.last(), &o, style);
            continue;
        }
        if !o.json && std::io::stderr().is_terminal() {
            output::err_partial(format!("  …    {name:<12}\r"));
        }
        let t = Instant::now();
        let result = step();
        let ms = output::ms_since(t);
        steps.push(match result {
            Ok(detail) => Step {
                name,
                status: "ok",
                ms,
                detail,
                hint: None,
            },
            Err((detail, hint)) => {
                failed = true;
                Step {
                    name,
                    status: "fail",
                    ms,
                    detail,
                    hint: Some(hint),
                }
            }
        });
        report(steps.last(), &o, style);
    }
    let ok = !failed;
    if o.json {
        output::json(&Json::obj([
            ("ok", Json::Bool(ok)),
            (
                "steps",
                Json::Arr(
                    steps
                        .iter()
                        .map(|s| {
                            Json::obj([
                                ("name", Json::Lit(s.name)),
                                ("status", Json::Lit(s.status)),
                                ("ms", Json::num(s.ms as f64)),
                                ("detail", Json::str(&s.detail)),
                                ("hint", Json::opt_str(s.hint.clone())),
                            ])
                        })
                        .collect(),
                ),
            ),
        ]));
    } else if ok {
        output::out(format!(
            "\n{} Next: `cargo xtask migrate <name>` after you change prisma/schema.prisma; `cargo xtask db-test` when a connection fails.",
            style.green("Ready.")
        ));
    } else if let Some(s) = steps.iter().find(|s| s.status == "fail") {
        output::out(format!(
            "\n{} at step {}: {}",
            style.red("Not ready"),
            s.name,
            s.hint.clone().unwrap_or_default()
        ));
    }
    Ok(if ok { 0 } else { 1 })
}

fn report(step: Option<&Step>, o: &Opts, style: Style) {
    let Some(s) = step else { return };
    if o.json {
        return;
    }
    let status = match s.status {
        "ok" => style.green("ok  "),
        "fail" => style.red("FAIL"),
        _ => style.dim("skip"),
    };
    output::out(format!(
        "  {status} {:<12} {:>6} ms  {}",
        s.name, s.ms, s.detail
    ));
    if let Some(h) = &s.hint {
        output::out(format!("       {:<12}            hint: {h}", ""));
    }
}

/// Node's version as (major, minor), from `node --version`.
fn node_version() -> Option<(u32, u32, String)> {
    let out = Command::new(if cfg!(windows) { "node.exe" } else { "node" })
        .arg("--version")
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut parts = v.trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor, v))
}

/// Whether every package pinned in the lockfile is installed at its version.
fn node_modules_fresh(dir: &Path) -> bool {
    let Ok(lock) = std::fs::read_to_string(dir.join("package-lock.json")) else {
        return dir.join("node_modules").join("prisma").exists();
    };
    let Ok(manifest) = std::fs::read_to_string(dir.join("package.json")) else {
        return false;
    };
    // Top-level packages named in package.json, with the versions the lockfile pins.
    let dep = regex::Regex::new(r#""(@?[a-z0-9][a-z0-9._/-]*)"\s*:\s*"[~^]?\d[^"]*""#)
        .expect("dep pattern");
    let names: Vec<String> = dep
        .captures_iter(&manifest)
        .map(|c| c[1].to_string())
        .filter(|n| n != "node")
        .collect();
    names.iter().all(|name| {
        let pinned = regex::Regex::new(&format!(
            r#""node_modules/{}"\s*:\s*\{{\s*"version"\s*:\s*"([^"]+)""#,
            regex::escape(name)
        ))
        .ok()
        .and_then(|re| re.captures(&lock).map(|c| c[1].to_string()));
        let installed = prisma::installed_package_version(dir, name);
        matches!((pinned, installed), (Some(p), Some(i)) if p == i)
    })
}

fn tools(ctx: &Ctx, pm: PackageManager, o: &Opts) -> StepResult {
    let Some((major, minor, v)) = node_version() else {
        return Err((
            "Node.js is not installed (or not on PATH)".into(),
            "install Node.js 20.19 or newer (https://nodejs.org, or `nvm install 22`)".into(),
        ));
    };
    if (major, minor) < (20, 19) {
        return Err((
            format!("Node {v} is too old for Prisma 7.10.1"),
            "install Node.js 20.19 or newer (`nvm install 22`)".into(),
        ));
    }
    let mut installed = String::new();
    if !node_modules_fresh(&ctx.project_dir) {
        if o.check {
            return Err((
                "node_modules is missing or does not match the lockfile".into(),
                format!("run `{}`", pm.install_command()),
            ));
        }
        if !o.json {
            output::err(format!(
                "  running {} (this takes a minute the first time)…",
                pm.install_command()
            ));
        }
        let mut parts = pm.install_command().split_whitespace();
        let program = parts.next().unwrap_or("npm");
        let program = if cfg!(windows) {
            format!("{program}.cmd")
        } else {
            program.to_string()
        };
        let mut cmd = Command::new(program);
        cmd.args(parts).current_dir(&ctx.project_dir);
        // Progress goes to stderr so --json stays clean on stdout.
        cmd.stdout(std::process::Stdio::from(std::io::stderr()));
        match cmd.status() {
            Ok(s) if s.success() => installed = format!(", ran {}", pm.install_command()),
            Ok(s) => return Err((format!("{} failed ({s})", pm.install_command()), "read the package manager's output above; a network or registry problem is the usual cause".into())),
            Err(e) => return Err((format!("cannot run {}: {e}", pm.name()), format!("install {} or use the lockfile's package manager", pm.name()))),
        }
    }
    let version = prisma::installed_version(&ctx.project_dir, pm)
        .map_err(|e| (e.to_string(), format!("run `{}`", pm.install_command())))?;
    Ok(format!(
        "node {v}, {}, prisma {version}{installed}",
        pm.name()
    ))
}

fn environment(ctx: &Ctx, o: &Opts) -> StepResult {
    let files = envload::read_files(&ctx.project_dir, &[])
        .map_err(|e| (e.to_string(), "fix the env file at that line".into()))?;
    let found = envload::find("DATABASE_URL", &files);
    let env_local = ctx.project_dir.join(".env.local");
    if o.local {
        let (state, started) = start_dev_db(ctx, o)?;
        if found
            .as_ref()
            .is_some_and(|f| same_database(&f.value, &state.url()))
        {
            return Ok(format!(
                "local dev-db {}; DATABASE_URL in .env.local points at it",
                if started { "started" } else { "running" }
            ));
        }
        if found.as_ref().is_some_and(|f| f.source == "environment") {
            return Err((
                "DATABASE_URL is set in your shell and would override .env.local".into(),
                "`unset DATABASE_URL` (PowerShell: `Remove-Item Env:DATABASE_URL`), then run again"
                    .into(),
            ));
        }
        dev_db::write_env_url(ctx, &state)
            .map_err(|e| (e.to_string(), "fix .env.local, then run again".into()))?;
        return Ok(format!(
            "local dev-db {} on port {}; DATABASE_URL written to .env.local",
            if started { "started" } else { "running" },
            state.port
        ));
    }
    if let Some(f) = found {
        return Ok(format!("DATABASE_URL from {}", f.source));
    }
    let example = ctx.project_dir.join(".env.example");
    if !example.exists() {
        let (state, started) = start_dev_db(ctx, o)?;
        dev_db::write_env_url(ctx, &state)
            .map_err(|e| (e.to_string(), "fix .env.local, then run again".into()))?;
        return Ok(format!("no DATABASE_URL and no .env.example: local dev-db {} on port {}, URL written to .env.local", if started { "started" } else { "running" }, state.port));
    }
    if env_local.exists() {
        // Never replace an existing file wholesale: add the one line.
        return Err((".env.local exists but defines no DATABASE_URL".into(), "add DATABASE_URL to .env.local (see .env.example), or run with --local for the local dev-db".into()));
    }
    let password = if o.password_stdin {
        env_fix::read_password_stdin().map_err(|e| {
            (
                e.to_string(),
                "pipe the password in: printf '%s' \"$PW\" | cargo xtask onboard --password-stdin"
                    .into(),
            )
        })?
    } else if o.interactive {
        util::prompt_password("Database password (from your team's vault): ")
            .map_err(|e| (e.to_string(), "use --password-stdin".into()))?
    } else {
        return Err((
            ".env.example needs a password and there is no terminal to ask for it".into(),
            "pass it with --password-stdin, or use --local for the local dev-db".into(),
        ));
    };
    std::fs::copy(&example, &env_local).map_err(|e| {
        (
            format!("cannot create .env.local: {e}"),
            "check the directory's permissions".into(),
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&env_local, std::fs::Permissions::from_mode(0o600));
    }
    let opts = env_fix::Options {
        password: Some(password),
        ..env_fix::Options::default()
    };
    match env_fix::fix_file(ctx, &env_local, &opts, Write::NoBackup) {
        Ok(_) => Ok(".env.local created from .env.example with your password".into()),
        Err(e) => {
            let _ = std::fs::remove_file(&env_local);
            Err((e.to_string(), "fix .env.example's DATABASE_URL".into()))
        }
    }
}

/// Whether two URLs reach the same database as the same user with the same
/// password (parameters aside): then nothing needs writing.
fn same_database(a: &str, b: &str) -> bool {
    match (crate::pgurl::PgUrl::parse(a), crate::pgurl::PgUrl::parse(b)) {
        (Ok(a), Ok(b)) => {
            (a.user(), a.password(), a.host(), a.port(), a.database())
                == (b.user(), b.password(), b.host(), b.port(), b.database())
        }
        _ => false,
    }
}

fn start_dev_db(ctx: &Ctx, o: &Opts) -> Result<(dev_db::State, bool), (String, String)> {
    let dir = o
        .data_dir
        .clone()
        .unwrap_or_else(|| ctx.target_dir().join("dev-db"));
    let mut cluster = dev_db::Cluster::new(dir);
    dev_db::up(&mut cluster, &dev_db::UpOptions::default()).map_err(|e| {
        (
            format!("cannot start the local dev-db: {e:#}"),
            "see `cargo xtask dev-db --help` (PostgreSQL server binaries are needed)".into(),
        )
    })
}

fn fix(ctx: &Ctx, o: &Opts) -> StepResult {
    let files = envload::read_files(&ctx.project_dir, &[])
        .map_err(|e| (e.to_string(), "fix the env file at that line".into()))?;
    let Some(found) = envload::find("DATABASE_URL", &files) else {
        return Err((
            "DATABASE_URL is not set".into(),
            "set it in .env.local".into(),
        ));
    };
    if found.source == "environment" {
        return Ok("DATABASE_URL comes from the shell environment; no file to repair (run `cargo xtask db-test` to check it)".into());
    }
    let name = found
        .source
        .rsplit_once(':')
        .map(|(f, _)| f.to_string())
        .unwrap_or(found.source.clone());
    let path = ctx.project_dir.join(&name);
    let write = if o.check {
        Write::No
    } else {
        Write::WithBackup
    };
    let out = env_fix::fix_file(ctx, &path, &env_fix::Options::default(), write).map_err(|e| {
        (
            format!("{e:#}"),
            format!("fix {name} by hand, then run again"),
        )
    })?;
    if !out.changed {
        return Ok(format!("{name}: nothing to repair"));
    }
    let what: Vec<&str> = out.changes.iter().map(|c| c.kind).collect();
    if o.check {
        return Err((
            format!("{name} needs repairs: {}", what.join(", ")),
            "run `cargo xtask env-fix` (or onboard without --check)".into(),
        ));
    }
    Ok(format!(
        "{name}: repaired {} (backup kept)",
        what.join(", ")
    ))
}

fn check_db(ctx: &Ctx) -> StepResult {
    let files = envload::read_files(&ctx.project_dir, &[])
        .map_err(|e| (e.to_string(), "fix the env file".into()))?;
    let found = envload::find("DATABASE_URL", &files);
    let settings = Settings {
        timeout: None,
        idle_probe: None,
        upto: "migrations",
        project_dir: ctx.project_dir.clone(),
        shadow_configured: envload::find("SHADOW_DATABASE_URL", &files).is_some(),
    };
    let report = db_test::diagnose("DATABASE_URL", found.as_ref(), &settings, &|_| {});
    let warnings = report
        .checks
        .iter()
        .filter(|c| c.status == db_test::Status::Warn)
        .count();
    if report.ok() {
        let version = report
            .checks
            .iter()
            .find(|c| c.name == "query")
            .map(|c| c.detail.split(" on ").next().unwrap_or("").to_string())
            .unwrap_or_default();
        Ok(format!(
            "all layers pass ({version}{})",
            if warnings > 0 {
                format!("; {warnings} warning(s): run `cargo xtask db-test`")
            } else {
                String::new()
            }
        ))
    } else {
        let failed = report
            .checks
            .iter()
            .find(|c| c.status == db_test::Status::Fail);
        Err((
            format!(
                "{} at layer {}: {}",
                report.diagnosis.code,
                report.diagnosis.layer,
                failed.map(|c| c.detail.clone()).unwrap_or_default()
            ),
            report.diagnosis.hint.clone(),
        ))
    }
}

fn migrations(ctx: &Ctx, o: &Opts) -> StepResult {
    let plan = Plan {
        mode: Mode::Deploy,
        name: None,
        preflight: false,
        tune: true,
        retries: 2,
        retry_delay: Duration::from_secs(2),
        env_files: Vec::new(),
        passthrough: Vec::new(),
        json: false,
        prisma_stdout_to_stderr: o.json,
    };
    match migrate::migrate(ctx, &plan) {
        Ok(s) if s.ok => Ok(match s.applied.len() {
            0 => "prisma migrate deploy: nothing to apply".to_string(),
            n => format!("prisma migrate deploy: {n} migration(s) applied"),
        }),
        Ok(s) => {
            let (code, hint) = s
                .diagnosis
                .unwrap_or(("unknown".into(), "see Prisma's output".into()));
            Err((format!("prisma migrate deploy failed: {code}"), hint))
        }
        Err(e) => Err((format!("{e:#}"), "see `cargo xtask migrate --help`".into())),
    }
}
