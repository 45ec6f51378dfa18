//! The env-fix, db-test and migrations steps: the commands' own cores, run
//! with onboarding's defaults and summed up in one line each (migrations
//! falls back to the WebAssembly engine when the native one cannot be
//! downloaded).

use std::time::Duration;

use super::{Notes, Opts, StepResult};
use crate::diagnose::{self, Layer, Settings, Shadow, Status};
use crate::envfile::{self, Write};
use crate::envload;
use crate::input::PasswordSource;
use crate::migrate::{self, Mode, Plan, Summary, Verdict};
use crate::output;
use crate::passwords;
use crate::pgurl::PgUrl;
use crate::prisma::codes::Failure;
use crate::prisma::config::CliUrl;
use crate::prisma::engine::{self, Wasm};
use crate::prisma::{Engine, Install};
use crate::rds::{self, AwsOptions};
use crate::repair;
use crate::util::Ctx;

pub(super) fn fix(ctx: &Ctx, o: &Opts, n: &mut Notes) -> StepResult {
    let files = envload::read_files(&ctx.project_dir, &[]).map_err(|e| {
        n.note(&e);
        (e.to_string(), "fix the env file at that line".into())
    })?;
    let Some(found) = envload::find("DATABASE_URL", &files) else {
        return Err((
            "DATABASE_URL is not set".into(),
            "set it in .env.local".into(),
        ));
    };
    if found.is_from_environment() {
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
    let mut opts = repair::Options::default();
    if let (Some(source), false) = (&o.password_from, n.password_written) {
        let url = PgUrl::parse(&found.value)
            .map_err(|e| (format!("DATABASE_URL: {e}"), format!("fix {name}")))?;
        let r = fetch(o, n, source, &url)?;
        opts.password = Some(r.password);
        opts.password_origin = Some(r.what);
    }
    let out = envfile::fix_file(ctx, &path, &opts, write).map_err(|e| {
        n.note(&e);
        (
            format!("{e:#}"),
            format!("fix {name} by hand, then run again"),
        )
    })?;
    if !out.changed {
        return Ok(format!("{name}: nothing to repair"));
    }
    let what: Vec<&str> = out.changes.iter().map(|c| c.kind.as_str()).collect();
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

/// `--password-from` for the URL: a failed fetch is the step's failure,
/// and bad input (a secret not found) makes onboard exit 2.
pub(super) fn fetch(
    o: &Opts,
    n: &mut Notes,
    source: &PasswordSource,
    url: &PgUrl,
) -> Result<passwords::Resolved, (String, String)> {
    passwords::resolve(source, url, o.aws_profile.as_deref()).map_err(|e| {
        if crate::exit::Exit::of_error(&e) == crate::exit::Exit::BadInput {
            n.bad_input = true;
        }
        (
            format!("{e:#}"),
            "fix --password-from (see `cargo xtask onboard --help`); nothing was written".into(),
        )
    })
}

pub(super) fn check_db(ctx: &Ctx, n: &mut Notes) -> StepResult {
    let files = envload::read_files(&ctx.project_dir, &[]).map_err(|e| {
        n.note(&e);
        (e.to_string(), "fix the env file".into())
    })?;
    // The URL Prisma's CLI migrates through (prisma.config.ts), which is
    // what the migrate step after this one needs.
    let (cli, _) = envload::cli_url(&ctx.project_dir, &files).map_err(|e| {
        n.note(&e);
        (e.to_string(), "fix prisma.config.ts".into())
    })?;
    let found = envload::find_cli(&cli, &files);
    let settings = Settings::for_migrate_url(
        ctx.project_dir.clone(),
        Shadow::for_dev(envload::find("SHADOW_DATABASE_URL", &files).is_some()),
    );
    let report = diagnose::diagnose(cli.name(), found.as_ref(), &settings, &|_| {});
    let warnings = report
        .checks
        .iter()
        .filter(|c| c.status == Status::Warn)
        .count();
    if report.ok() {
        let version = report
            .checks
            .iter()
            .find(|c| c.layer == Layer::Query)
            .map(|c| c.detail.split(" on ").next().unwrap_or("").to_string())
            .unwrap_or_default();
        Ok(format!(
            "{}all layers pass ({version}{})",
            which(&cli),
            if warnings > 0 {
                format!("; {warnings} warning(s): run `cargo xtask db-test`")
            } else {
                String::new()
            }
        ))
    } else {
        if report.bad_input() {
            n.bad_input = true;
        }
        let failed = report.checks.iter().find(|c| c.status == Status::Fail);
        Err((
            format!(
                "{}{} at layer {}: {}",
                which(&cli),
                report.diagnosis.code.as_str(),
                report.diagnosis.layer.map(Layer::as_str).unwrap_or("-"),
                failed.map(|c| c.detail.clone()).unwrap_or_default()
            ),
            report.diagnosis.hint.clone(),
        ))
    }
}

/// Which URL was checked, when it is not DATABASE_URL: the one Prisma's
/// CLI uses.
fn which(cli: &CliUrl) -> String {
    match cli.name() {
        "DATABASE_URL" => String::new(),
        other => format!("{other} (prisma.config.ts's datasource.url): "),
    }
}

/// `migrate --deploy`; without `--engine`, on the WebAssembly engine again
/// when Prisma could not download its native one.
pub(super) fn migrations(ctx: &Ctx, o: &Opts, n: &mut Notes) -> StepResult {
    let first = o.engine.unwrap_or(Engine::Native);
    let mut result = deploy(ctx, o, n, first)?;
    let download_failed = matches!(
        &result.diagnosis,
        Some((Verdict::Prisma(Failure::EngineDownload), _))
    );
    if download_failed && o.engine.is_none() {
        output::err("onboard: Prisma could not download its native schema engine; using the WebAssembly engine from node_modules/prisma instead");
        result = deploy(ctx, o, n, Engine::Wasm)?;
    }
    let via = match result.engine {
        Engine::Wasm => " (WebAssembly engine)",
        Engine::Native => "",
    };
    if result.ok {
        return Ok(match result.applied.len() {
            0 => format!("prisma migrate deploy{via}: nothing to apply"),
            n => format!("prisma migrate deploy{via}: {n} migration(s) applied"),
        });
    }
    let (verdict, hint) = result
        .diagnosis
        .unwrap_or((Verdict::Unknown, "see Prisma's output".into()));
    Err((
        format!("prisma migrate deploy{via} failed: {}", verdict.code()),
        hint,
    ))
}

/// One `migrate --deploy` on `engine`. The WebAssembly engine is checked
/// first, so a missing one is the step's own failure with its fix (exit 2
/// when `--engine wasm` asked for it).
fn deploy(ctx: &Ctx, o: &Opts, n: &mut Notes, engine: Engine) -> Result<Summary, (String, String)> {
    if engine == Engine::Wasm {
        let install = Install::find(&ctx.project_dir);
        if let Err(u) = Wasm::find(&install, &ctx.workspace_root) {
            if o.engine == Some(Engine::Wasm) {
                n.bad_input = true;
            }
            return Err((u.detail, u.fix));
        }
    }
    let plan = Plan {
        mode: Mode::Deploy,
        name: None,
        preflight: false,
        tune: true,
        retries: 2,
        retry_delay: Duration::from_secs(2),
        lock_wait: super::super::migrate::DEFAULT_LOCK_WAIT,
        env_files: Vec::new(),
        passthrough: Vec::new(),
        // stdout carries the step lines (or the JSON); Prisma's own output
        // goes to stderr with npm's.
        prisma_stdout_to_stderr: true,
        password: None,
        aws_profile: None,
        engine,
        // Without --engine, this step falls back by itself.
        wasm_rerun: (o.engine == Some(Engine::Native)).then(|| {
            engine::command_with(&std::env::args().skip(1).collect::<Vec<_>>(), Engine::Wasm)
        }),
    };
    n.engine_used = Some(engine);
    migrate::migrate(ctx, &plan).map_err(|e| {
        n.note(&e);
        (format!("{e:#}"), "see `cargo xtask migrate --help`".into())
    })
}

/// rds-check's AWS checks for DATABASE_URL's host, when it is RDS.
pub(super) fn rds_check(ctx: &Ctx, opts: &AwsOptions) -> StepResult {
    let files = envload::read_files(&ctx.project_dir, &[])
        .map_err(|e| (e.to_string(), "fix the env file".into()))?;
    let Some(found) = envload::find("DATABASE_URL", &files) else {
        return Err((
            "DATABASE_URL is not set".into(),
            "set it in .env.local".into(),
        ));
    };
    let url = PgUrl::parse(&found.value)
        .map_err(|e| (format!("DATABASE_URL: {e}"), "fix the URL".into()))?;
    if !rds::is_rds_host(&url.host()) {
        return Ok(format!(
            "{} is not an RDS endpoint: nothing to check in AWS",
            url.host()
        ));
    }
    let report = rds::run_checks(&url, opts);
    let d = &report.diagnosis;
    match d.check {
        Some(check) if !report.ok() => Err((
            format!("{} at check {check}", d.code.as_str()),
            d.hint.clone(),
        )),
        _ => Ok(format!("{} ({})", d.code.as_str(), d.hint)),
    }
}
