//! The env-fix, db-test and migrations steps: the commands' own cores, run
//! with onboarding's defaults and summed up in one line each.

use std::time::Duration;

use super::{Opts, StepResult};
use crate::aws::{self, password, AwsOptions};
use crate::diagnose::{self, Layer, Settings, Status};
use crate::envfile::{self, Write};
use crate::envload;
use crate::input::PasswordSource;
use crate::pgurl::PgUrl;
use crate::prisma::migrate::{self, Mode, Plan, Verdict};
use crate::repair;
use crate::util::Ctx;

pub(super) fn fix(ctx: &Ctx, o: &Opts) -> StepResult {
    let files = envload::read_files(&ctx.project_dir, &[]).map_err(|e| {
        o.note(&e);
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
    if let (Some(source), false) = (&o.password_from, o.password_written.get()) {
        let url = PgUrl::parse(&found.value)
            .map_err(|e| (format!("DATABASE_URL: {e}"), format!("fix {name}")))?;
        let r = fetch(o, source, &url)?;
        opts.password = Some(r.password);
        opts.password_origin = Some(r.what);
    }
    let out = envfile::fix_file(ctx, &path, &opts, write).map_err(|e| {
        o.note(&e);
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
    source: &PasswordSource,
    url: &PgUrl,
) -> Result<password::Resolved, (String, String)> {
    password::resolve(source, url, o.aws_profile.as_deref()).map_err(|e| {
        if crate::flags::Exit::of_error(&e) == crate::flags::Exit::BadInput {
            o.bad_input.set(true);
        }
        (
            format!("{e:#}"),
            "fix --password-from (see `cargo xtask onboard --help`); nothing was written".into(),
        )
    })
}

pub(super) fn check_db(ctx: &Ctx, o: &Opts) -> StepResult {
    let files = envload::read_files(&ctx.project_dir, &[]).map_err(|e| {
        o.note(&e);
        (e.to_string(), "fix the env file".into())
    })?;
    let found = envload::find("DATABASE_URL", &files);
    let settings = Settings {
        timeout: None,
        idle_probe: None,
        upto: Layer::Migrations,
        project_dir: ctx.project_dir.clone(),
        shadow_configured: envload::find("SHADOW_DATABASE_URL", &files).is_some(),
        progress: false,
    };
    let report = diagnose::diagnose("DATABASE_URL", found.as_ref(), &settings, &|_| {});
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
            "all layers pass ({version}{})",
            if warnings > 0 {
                format!("; {warnings} warning(s): run `cargo xtask db-test`")
            } else {
                String::new()
            }
        ))
    } else {
        if report.bad_input() {
            o.bad_input.set(true);
        }
        let failed = report.checks.iter().find(|c| c.status == Status::Fail);
        Err((
            format!(
                "{} at layer {}: {}",
                report.diagnosis.code.as_str(),
                report.diagnosis.layer.map(Layer::as_str).unwrap_or("-"),
                failed.map(|c| c.detail.clone()).unwrap_or_default()
            ),
            report.diagnosis.hint.clone(),
        ))
    }
}

pub(super) fn migrations(ctx: &Ctx, o: &Opts) -> StepResult {
    let plan = Plan {
        mode: Mode::Deploy,
        name: None,
        preflight: false,
        tune: true,
        retries: 2,
        retry_delay: Duration::from_secs(2),
        env_files: Vec::new(),
        passthrough: Vec::new(),
        prisma_stdout_to_stderr: o.json,
        password: None,
        aws_profile: None,
    };
    match migrate::migrate(ctx, &plan) {
        Ok(s) if s.ok => Ok(match s.applied.len() {
            0 => "prisma migrate deploy: nothing to apply".to_string(),
            n => format!("prisma migrate deploy: {n} migration(s) applied"),
        }),
        Ok(s) => {
            let (verdict, hint) = s
                .diagnosis
                .unwrap_or((Verdict::Unknown, "see Prisma's output".into()));
            Err((
                format!("prisma migrate deploy failed: {}", verdict.code()),
                hint,
            ))
        }
        Err(e) => Err((format!("{e:#}"), "see `cargo xtask migrate --help`".into())),
    }
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
    if !aws::is_rds_host(&url.host()) {
        return Ok(format!(
            "{} is not an RDS endpoint: nothing to check in AWS",
            url.host()
        ));
    }
    let report = aws::run_checks(&url, opts);
    let d = &report.diagnosis;
    match d.check {
        Some(check) if !report.ok() => Err((
            format!("{} at check {check}", d.code.as_str()),
            d.hint.clone(),
        )),
        _ => Ok(format!("{} ({})", d.code.as_str(), d.hint)),
    }
}
