//! `cargo xtask migrate <name>`: runs Prisma Migrate with the right
//! environment after a preflight, retries what is transient (P1017, P1001,
//! P1002) and explains what is not. The URL reaches Prisma only through its
//! environment, never its argv (process listings would show it).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use xshell::Shell;

use crate::db_test::{self, Settings};
use crate::envload;
use crate::flags::{bad_input, Args, Usage};
use crate::output::{self, Json, Style};
use crate::pg;
use crate::pgurl::{PgUrl, Reader};
use crate::prisma::{self, Failure, PackageManager};
use crate::util::Ctx;

pub const HELP: &str = "\
cargo xtask migrate: run Prisma Migrate with a preflight, retries and a diagnosis

Usage: cargo xtask migrate <name> [options] [-- prisma options]
       cargo xtask migrate --deploy | --status [options]

Modes:
  <name>            prisma migrate dev --name <name> (create and apply a migration)
  <name> --create-only   create the migration without applying it
  --deploy          prisma migrate deploy (apply committed migrations; for CI and scripts)
  --status          prisma migrate status

The URL comes from the environment, .env.development.local, .env.local, .env.development
or .env (the first that defines DATABASE_URL). Prisma gets it, and SHADOW_DATABASE_URL
when defined, through its environment only, with sslmode, connect_timeout and
pool_timeout added as `env-fix` would (the file is not touched).

Options:
  --no-preflight      start Prisma without checking the connection first
  --no-tune           pass the URL exactly as written
  --retries N         retries for P1017, P1001 and P1002 (default 2)
  --retry-delay SECS  first wait between attempts, doubled each time (default 2)
  --env-file PATH     read these env files instead of the usual ones (repeatable)
  --json              print a summary object on stdout after Prisma's output
  --                  everything after it goes to Prisma unchanged

Exit codes: 0 success; Prisma's own status when it failed (1 if it gave none);
1 when the preflight failed; 2 bad usage or input; 130 interrupted (Ctrl-C).

Example:
  cargo xtask migrate add_saved_comparables
  cargo xtask migrate --deploy --json
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Dev,
    CreateOnly,
    Deploy,
    Status,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Dev => "dev",
            Mode::CreateOnly => "create-only",
            Mode::Deploy => "deploy",
            Mode::Status => "status",
        }
    }
}

/// Everything one migrate run needs.
pub struct Plan {
    pub mode: Mode,
    pub name: Option<String>,
    pub preflight: bool,
    pub tune: bool,
    pub retries: u32,
    pub retry_delay: Duration,
    pub env_files: Vec<std::path::PathBuf>,
    pub passthrough: Vec<String>,
    pub json: bool,
    /// Relay Prisma's stdout to stderr (onboard --json keeps stdout for JSON).
    pub prisma_stdout_to_stderr: bool,
}

/// One Prisma run.
struct Attempt {
    exit_code: Option<i32>,
    failure: Option<Failure>,
    ms: u64,
}

/// The outcome, for onboard and the summary.
pub struct Summary {
    pub ok: bool,
    pub exit: i32,
    pub mode: Mode,
    pub attempts: usize,
    pub applied: Vec<String>,
    pub diagnosis: Option<(String, String)>,
    pub elapsed: Duration,
}

pub fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<i32> {
    let deploy = args.flag("--deploy");
    let status = args.flag("--status");
    let create_only = args.flag("--create-only");
    let plan_args = Plan {
        mode: Mode::Dev,
        name: None,
        preflight: !args.flag("--no-preflight"),
        tune: !args.flag("--no-tune"),
        retries: args.parsed("--retries", "a number")?.unwrap_or(2),
        retry_delay: Duration::from_secs_f64(
            args.parsed("--retry-delay", "seconds")?.unwrap_or(2.0),
        ),
        env_files: args
            .values("--env-file")?
            .into_iter()
            .map(Into::into)
            .collect(),
        passthrough: std::mem::take(&mut args.passthrough),
        json: args.flag("--json"),
        prisma_stdout_to_stderr: false,
    };
    let name = args.positional();
    args.finish()?;
    let mode = match (deploy, status, create_only) {
        (true, false, false) => Mode::Deploy,
        (false, true, false) => Mode::Status,
        (false, false, true) => Mode::CreateOnly,
        (false, false, false) => Mode::Dev,
        _ => return Err(Usage("choose one of --deploy, --status, --create-only\nhint: run `cargo xtask migrate --help`".into()).into()),
    };
    let name = match (mode, name) {
        (Mode::Dev | Mode::CreateOnly, Some(n)) => Some(prisma::validate_name(&n)?),
        (Mode::Dev | Mode::CreateOnly, None) => {
            return Err(Usage("migrate needs a migration name, e.g. `cargo xtask migrate add_saved_comparables` (or --deploy to apply committed migrations)\nhint: run `cargo xtask migrate --help`".into()).into())
        }
        (_, Some(n)) => return Err(Usage(format!("--{} takes no migration name (got `{n}`)\nhint: run `cargo xtask migrate --help`", mode.name())).into()),
        (_, None) => None,
    };
    let plan = Plan {
        mode,
        name,
        ..plan_args
    };
    let summary = migrate(ctx, &plan)?;
    Ok(summary.exit)
}

/// Runs the whole migrate flow; shared with `onboard`.
pub fn migrate(ctx: &Ctx, plan: &Plan) -> anyhow::Result<Summary> {
    let start = Instant::now();
    let style = Style::stderr();
    let files = envload::read_files(&ctx.project_dir, &plan.env_files)?;
    let Some(found) = envload::find("DATABASE_URL", &files) else {
        return Err(bad_input(format!(
            "DATABASE_URL is not set in {}: put it in .env.local, or run `cargo xtask dev-db up --write-env` for a local database",
            envload::looked_at(&files, &plan.env_files)
        )));
    };
    let shadow = envload::find("SHADOW_DATABASE_URL", &files);
    let mut url = PgUrl::parse(&found.value)
        .map_err(|e| bad_input(format!("DATABASE_URL ({}): {e}", found.source)))?;
    let child_url = if plan.tune {
        for c in crate::env_fix::tune("DATABASE_URL", &mut url) {
            output::err(format!("{} {}", style.dim("tune:"), c.detail));
        }
        url.render_for(Reader::Prisma)
    } else {
        found.value.clone()
    };
    // The shadow database's URL gets the same tuning, once for all attempts.
    let shadow_url = shadow.as_ref().map(|s| match PgUrl::parse(&s.value) {
        Ok(mut u) if plan.tune => {
            crate::env_fix::tune("SHADOW_DATABASE_URL", &mut u);
            u.render_for(Reader::Prisma)
        }
        _ => s.value.clone(),
    });
    output::err(format!(
        "{} DATABASE_URL from {}: {}",
        style.dim("migrate:"),
        found.source,
        url.masked()
    ));

    let pm = PackageManager::detect(&ctx.project_dir);
    let version = prisma::installed_version(&ctx.project_dir, pm)?;

    if plan.preflight {
        let settings = Settings {
            timeout: None,
            idle_probe: None,
            upto: if plan.mode == Mode::Dev {
                "migrations"
            } else {
                "query"
            },
            project_dir: ctx.project_dir.clone(),
            shadow_configured: shadow.is_some(),
        };
        let tuned = envload::Found {
            value: child_url.clone(),
            ..found.clone()
        };
        let report = db_test::diagnose("DATABASE_URL", Some(&tuned), &settings, &|_| {});
        if !report.ok() {
            output::err(format!(
                "{} preflight failed: Prisma was not started",
                style.red("migrate:")
            ));
            print_report_brief(&report, style);
            let summary = Summary {
                ok: false,
                exit: 1,
                mode: plan.mode,
                attempts: 0,
                applied: Vec::new(),
                diagnosis: Some((
                    report.diagnosis.code.to_string(),
                    report.diagnosis.hint.clone(),
                )),
                elapsed: start.elapsed(),
            };
            finish(plan, &summary, &[], style);
            return Ok(summary);
        }
        let warnings: Vec<String> = report
            .checks
            .iter()
            .filter(|c| c.status == db_test::Status::Warn)
            .filter_map(|c| c.hint.clone().map(|h| format!("{}: {h}", c.name)))
            .collect();
        let ms: u64 = report.checks.iter().map(|c| c.ms).sum();
        output::err(format!(
            "{} preflight ok ({} checks, {ms} ms)",
            style.dim("migrate:"),
            report
                .checks
                .iter()
                .filter(|c| c.status != db_test::Status::Skip)
                .count()
        ));
        for w in warnings {
            output::err(format!("  {} {w}", style.yellow("warning:")));
        }
    }

    let mut prisma_args: Vec<String> = vec!["migrate".into()];
    match plan.mode {
        Mode::Dev | Mode::CreateOnly => {
            prisma_args.push("dev".into());
            prisma_args.push("--name".into());
            prisma_args.push(plan.name.clone().unwrap_or_default());
            if plan.mode == Mode::CreateOnly {
                prisma_args.push("--create-only".into());
            }
        }
        Mode::Deploy => prisma_args.push("deploy".into()),
        Mode::Status => prisma_args.push("status".into()),
    }
    prisma_args.extend(plan.passthrough.iter().cloned());

    let sh = Shell::new().context("cannot set up the command runner")?;
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut applied = Vec::new();
    // At a terminal Prisma writes straight to it and we cannot read its
    // list; the database's own record says what was applied instead.
    let stdout_inherited =
        std::io::IsTerminal::is_terminal(&std::io::stdout()) && !plan.prisma_stdout_to_stderr;
    let recorded_before = if stdout_inherited {
        finished_migrations(&child_url, ctx)
    } else {
        None
    };
    install_interrupt_handler();
    loop {
        let n = attempts.len() + 1;
        output::err(format!(
            "{} running {} (prisma {version}, attempt {n} of {})",
            style.dim("migrate:"),
            prisma::display(pm, &prisma_args),
            plan.retries + 1
        ));
        let mut cmd = prisma::command(&sh, &ctx.project_dir, pm, &prisma_args)?;
        cmd.env("DATABASE_URL", &child_url);
        if let Some(url) = &shadow_url {
            cmd.env("SHADOW_DATABASE_URL", url);
        }
        let t0 = Instant::now();
        let (status, stdout, stderr) =
            run_child(cmd, plan.prisma_stdout_to_stderr).with_context(|| {
                format!(
                    "cannot start {}: is Node.js installed and on PATH?",
                    prisma::display(pm, &[])
                )
            })?;
        let ms = output::ms_since(t0);
        if INTERRUPTED.load(Ordering::SeqCst) {
            output::err(format!(
                "{} interrupted; Prisma was stopped",
                style.red("migrate:")
            ));
            let summary = Summary {
                ok: false,
                exit: 130,
                mode: plan.mode,
                attempts: n,
                applied,
                diagnosis: Some(("interrupted".into(), "stopped by Ctrl-C".into())),
                elapsed: start.elapsed(),
            };
            attempts.push(Attempt {
                exit_code: status,
                failure: None,
                ms,
            });
            finish(plan, &summary, &attempts, style);
            return Ok(summary);
        }
        if stdout_inherited {
            if let (Some(before), Some(after)) =
                (&recorded_before, finished_migrations(&child_url, ctx))
            {
                applied = after.into_iter().filter(|m| !before.contains(m)).collect();
            }
        } else {
            applied.extend(prisma::applied_migrations(&stdout));
        }
        let failure = if status == Some(0) {
            None
        } else {
            prisma::classify(&format!("{stdout}\n{stderr}"))
        };
        attempts.push(Attempt {
            exit_code: status,
            failure: failure.clone(),
            ms,
        });
        if status == Some(0) {
            let summary = Summary {
                ok: true,
                exit: 0,
                mode: plan.mode,
                attempts: n,
                applied,
                diagnosis: None,
                elapsed: start.elapsed(),
            };
            finish(plan, &summary, &attempts, style);
            return Ok(summary);
        }
        let transient = failure.as_ref().is_some_and(prisma::is_transient);
        if transient && (n as u32) <= plan.retries {
            let f = failure.clone().unwrap_or(Failure::Code("?".into()));
            let (what, _) = prisma::explain(&f, true);
            let wait = plan.retry_delay.mul_f64(2f64.powi(n as i32 - 1));
            output::err(format!(
                "{} {} ({what}); retrying in {:.1}s",
                style.yellow("migrate:"),
                f.code(),
                wait.as_secs_f64()
            ));
            if f == Failure::Code("P1002".into()) {
                show_lock_holder(&child_url, ctx, style);
            }
            std::thread::sleep(wait);
            continue;
        }
        // Not transient, or out of retries: explain.
        let exit = status.filter(|c| *c != 0).unwrap_or(1);
        let diagnosis = match &failure {
            Some(f) => {
                let (what, fix) =
                    prisma::explain(f, !std::io::IsTerminal::is_terminal(&std::io::stdin()));
                output::err(format!("{} {}: {what}", style.red("migrate:"), f.code()));
                output::err(format!("  fix: {fix}"));
                if matches!(f, Failure::Code(c) if c == "P1017" || c == "P1001") {
                    explain_with_db_test(&child_url, &found, ctx, shadow.is_some(), style);
                }
                Some((f.code(), fix))
            }
            None => {
                output::err(format!(
                    "{} Prisma exited with status {exit}; see its output above",
                    style.red("migrate:")
                ));
                Some(("unknown".into(), "see Prisma's output".into()))
            }
        };
        let summary = Summary {
            ok: false,
            exit,
            mode: plan.mode,
            attempts: n,
            applied,
            diagnosis,
            elapsed: start.elapsed(),
        };
        finish(plan, &summary, &attempts, style);
        return Ok(summary);
    }
}

/// Names of the migrations `_prisma_migrations` records as finished; None
/// when the database cannot be asked.
fn finished_migrations(url: &str, ctx: &Ctx) -> Option<Vec<String>> {
    let mut client = pg::connect_url(url, &ctx.project_dir, Duration::from_secs(5)).ok()?;
    let u = PgUrl::parse(url).ok()?;
    let schema = u.param("schema").unwrap_or("public");
    Some(
        db_test::prisma_migrations(&mut client, schema)
            .map(|m| m.applied)
            .unwrap_or_default(),
    )
}

/// After P1017/P1001: db-test's checks name the layer that breaks.
fn explain_with_db_test(url: &str, found: &envload::Found, ctx: &Ctx, shadow: bool, style: Style) {
    let settings = Settings {
        timeout: None,
        idle_probe: None,
        upto: "query",
        project_dir: ctx.project_dir.clone(),
        shadow_configured: shadow,
    };
    let f = envload::Found {
        value: url.to_string(),
        ..found.clone()
    };
    let report = db_test::diagnose("DATABASE_URL", Some(&f), &settings, &|_| {});
    if report.ok() {
        output::err("  db-test: the connection works now (checks 1-6 pass): the break was transient or happens only under Prisma's longer session (idle timeouts, a pooler): try `cargo xtask db-test --idle-probe 60`");
    } else {
        print_report_brief(&report, style);
    }
}

fn print_report_brief(report: &db_test::Report, style: Style) {
    if let Some(c) = report
        .checks
        .iter()
        .find(|c| c.status == db_test::Status::Fail)
    {
        output::err(format!(
            "  db-test: {} at layer {}: {}",
            style.red(report.diagnosis.code),
            c.name,
            c.detail
        ));
        output::err(format!("  fix: {}", report.diagnosis.hint));
    }
}

fn show_lock_holder(url: &str, ctx: &Ctx, style: Style) {
    match pg::connect_url(url, &ctx.project_dir, Duration::from_secs(5)) {
        Ok(mut client) => match db_test::advisory_lock_holder(&mut client) {
            Some((_, holder)) => output::err(format!("  {} Prisma's migration lock (advisory lock 72707369) is held by {holder}", style.yellow("lock:"))),
            None => output::err("  lock: nobody holds advisory lock 72707369 now (a pooler or RDS Proxy in the path can also cause P1002)"),
        },
        Err(_) => output::err("  lock: could not connect to see who holds advisory lock 72707369"),
    }
}

fn finish(plan: &Plan, s: &Summary, attempts: &[Attempt], style: Style) {
    let result = if s.ok {
        style.green("ok")
    } else {
        style.red("failed")
    };
    let applied = match s.applied.len() {
        0 => "no migrations applied".to_string(),
        1 => format!("1 migration applied ({})", s.applied[0]),
        n => format!("{n} migrations applied"),
    };
    output::err(format!(
        "migrate {}: {result}, {} attempt(s), {:.1}s, {applied}",
        s.mode.name(),
        s.attempts,
        s.elapsed.as_secs_f64()
    ));
    if plan.json {
        output::json(&Json::obj([
            ("ok", Json::Bool(s.ok)),
            ("mode", Json::Lit(s.mode.name())),
            (
                "attempts",
                Json::Arr(
                    attempts
                        .iter()
                        .map(|a| {
                            Json::obj([
                                (
                                    "exit_code",
                                    a.exit_code.map(Json::num).unwrap_or(Json::Null),
                                ),
                                (
                                    "error_code",
                                    a.failure
                                        .as_ref()
                                        .map(|f| Json::str(f.code()))
                                        .unwrap_or(Json::Null),
                                ),
                                ("ms", Json::num(a.ms as f64)),
                            ])
                        })
                        .collect(),
                ),
            ),
            (
                "applied",
                Json::Arr(s.applied.iter().map(Json::str).collect()),
            ),
            ("ms", Json::num(s.elapsed.as_millis() as f64)),
            (
                "diagnosis",
                match &s.diagnosis {
                    Some((code, hint)) => {
                        Json::obj([("code", Json::str(code)), ("hint", Json::str(hint))])
                    }
                    None => Json::Null,
                },
            ),
        ]));
    }
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Ctrl-C must reach Prisma, and the xtask must outlive it to clean up and
/// exit 130: record the signal instead of dying.
fn install_interrupt_handler() {
    #[cfg(unix)]
    {
        extern "C" fn on_sigint(_: libc::c_int) {
            INTERRUPTED.store(true, Ordering::SeqCst);
        }
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
            libc::signal(libc::SIGTERM, on_sigint as *const () as libc::sighandler_t);
        }
    }
}

/// Runs Prisma: stdin inherited (its prompts need the terminal), stdout
/// inherited at a terminal and otherwise relayed and kept, stderr relayed
/// live and kept for the diagnosis. Returns the exit status and the output.
fn run_child(
    mut cmd: std::process::Command,
    stdout_to_stderr: bool,
) -> anyhow::Result<(Option<i32>, String, String)> {
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
    let out_buf = Arc::new(Mutex::new(String::new()));
    let err_buf = Arc::new(Mutex::new(String::new()));
    let out_thread = child
        .stdout
        .take()
        .map(|s| relay(s, out_buf.clone(), stdout_to_stderr));
    let err_thread = child.stderr.take().map(|s| relay(s, err_buf.clone(), true));
    let status = wait(&mut child, !stdin_tty)?;
    if let Some(t) = out_thread {
        let _ = t.join();
    }
    if let Some(t) = err_thread {
        let _ = t.join();
    }
    let out = out_buf.lock().map(|s| s.clone()).unwrap_or_default();
    let err = err_buf.lock().map(|s| s.clone()).unwrap_or_default();
    Ok((status, out, err))
}

fn relay(
    stream: impl Read + Send + 'static,
    keep: Arc<Mutex<String>>,
    to_stderr: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while reader
            .read_until(b'\n', &mut line)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            let text = String::from_utf8_lossy(&line).into_owned();
            let masked = output::redact(&text);
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
