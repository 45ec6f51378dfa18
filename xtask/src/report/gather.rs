//! What the report holds, gathered by reading only: versions, where the
//! URLs come from, and the full db-test verdict.

use std::path::Path;
use std::process::Command;

use super::{Report, Section};
use crate::diagnose::{self, Layer, Settings, Shadow, Status};
use crate::envload::{self, EnvFile};
use crate::pgurl::PgUrl;
use crate::prisma::config::CliUrl;
use crate::prisma::engine::Native;
use crate::prisma::Install;
use crate::util::Ctx;

pub fn gather(ctx: &Ctx) -> Report {
    let mut unknown = Vec::new();
    let versions = versions(ctx, &mut unknown);
    let files = match envload::read_files(&ctx.project_dir, &[]) {
        Ok(f) => f,
        Err(e) => {
            unknown.push(format!("the env files: {e}"));
            Vec::new()
        }
    };
    let cli = match envload::cli_url(&ctx.project_dir, &files) {
        Ok((cli, _)) => cli,
        Err(e) => {
            unknown.push(format!(
                "the URL prisma.config.ts gives Prisma's CLI: {e}; DATABASE_URL is assumed"
            ));
            CliUrl::Var("DATABASE_URL".into())
        }
    };
    let urls = urls(&files, &cli);
    let (verdict, url) = verdict(ctx, &files, &cli);
    let rds = rds(url.as_ref(), &mut unknown);
    let last_run = last_run(ctx, &mut unknown);
    // Every host any URL names, for --redact-hosts.
    let mut hosts: Vec<String> = [
        "DATABASE_URL",
        "DIRECT_URL",
        "SHADOW_DATABASE_URL",
        cli.name(),
    ]
    .iter()
    .filter_map(|v| envload::find(v, &files))
    .filter_map(|f| PgUrl::parse(&f.value).ok())
    .flat_map(|u| u.endpoints().unwrap_or_default())
    .map(|e| e.name().to_string())
    .filter(|h| !h.starts_with('/'))
    .collect();
    if let CliUrl::Literal(_, url) = &cli {
        if let Ok(u) = PgUrl::parse(url) {
            hosts.extend(
                u.endpoints()
                    .unwrap_or_default()
                    .iter()
                    .map(|e| e.name().to_string()),
            );
        }
    }
    hosts.sort();
    hosts.dedup();
    Report {
        hosts,
        redacted: false,
        sections: vec![
            Section {
                title: "Versions",
                lines: versions,
            },
            Section {
                title: "Where the URLs come from",
                lines: urls,
            },
            Section {
                title: "db-test",
                lines: verdict,
            },
            Section {
                title: "rds-check",
                lines: rds,
            },
            Section {
                title: "The last migrate run",
                lines: last_run,
            },
        ],
        unknown,
    }
}

/// The summary `migrate` kept of its last run for this project, with its
/// time as a date; a line in `unknown` when there is none.
fn last_run(ctx: &Ctx, unknown: &mut Vec<String>) -> Vec<String> {
    let path = crate::migrate::last_run_path(ctx);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut lines = text.lines();
    let project = format!("project: {}", crate::migrate::project_key(ctx).display());
    if lines.next() != Some(project.as_str()) {
        unknown.push(format!(
            "the last migrate run: none kept for this project in {} (`cargo xtask migrate` keeps one)",
            path.display()
        ));
        return vec!["none kept for this project (see the last section)".into()];
    }
    lines
        .map(
            |l| match l.strip_prefix("finished: ").and_then(|t| t.parse().ok()) {
                Some(secs) => format!("finished {}", super::write::utc(secs)),
                None => crate::secret::redact(l),
            },
        )
        .collect()
}

/// A program's `--version`, first line.
fn version_of(program: &str, dir: &Path) -> Option<String> {
    let out = Command::new(program)
        .arg("--version")
        .current_dir(dir)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status
        .success()
        .then(|| text.lines().next().unwrap_or("").trim().to_string())
}

fn versions(ctx: &Ctx, unknown: &mut Vec<String>) -> Vec<String> {
    let mut lines = vec![format!("cargo xtask {}", env!("CARGO_PKG_VERSION"))];
    match Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(&ctx.workspace_root)
        .output()
    {
        Ok(o) if o.status.success() => lines.push(format!(
            "xtask commit {}",
            String::from_utf8_lossy(&o.stdout).trim()
        )),
        _ => unknown.push(
            "the xtask's git commit: its workspace is not a git checkout, or git is missing".into(),
        ),
    }
    lines.push(format!(
        "{} on {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    ));
    for program in ["node", "npm"] {
        match version_of(program, &ctx.project_dir) {
            Some(v) => lines.push(format!("{program} {v}")),
            None => unknown.push(format!(
                "{program}'s version: `{program} --version` did not run"
            )),
        }
    }
    let install = Install::find(&ctx.project_dir);
    match install.package_version("prisma") {
        Some(v) => lines.push(format!("Prisma CLI {v} (the project's pinned package)")),
        None => {
            unknown.push("the Prisma CLI's version: no node_modules/prisma (run `npm ci`)".into())
        }
    }
    if let Some(v) = install.package_version("@prisma/engines-version") {
        lines.push(format!("Prisma engines {v}"));
    }
    lines.push(format!(
        "schema engine: {}",
        Native::find(&install).describe(&install)
    ));
    lines.push(format!(
        "PostgreSQL client: tokio-postgres (Rust), TLS {}",
        tls_library()
    ));
    lines
}

#[cfg(target_os = "linux")]
fn tls_library() -> String {
    openssl::version::version().to_string()
}

#[cfg(not(target_os = "linux"))]
fn tls_library() -> String {
    "native-tls (the platform's)".into()
}

/// Every definition of each URL variable: the environment and each env
/// file, line by line, masked; which one wins; which one Prisma's CLI reads.
fn urls(files: &[EnvFile], cli: &CliUrl) -> Vec<String> {
    let mut lines = match cli {
        CliUrl::Var(v) => vec![format!(
            "prisma.config.ts gives Prisma's CLI the URL in {v}"
        )],
        CliUrl::Literal(path, url) => vec![format!(
            "{path} writes the CLI's URL itself: {}",
            masked(url)
        )],
    };
    let mut vars = vec!["DATABASE_URL", "DIRECT_URL", "SHADOW_DATABASE_URL"];
    if let CliUrl::Var(v) = cli {
        if !vars.contains(&v.as_str()) {
            vars.push(v);
        }
    }
    for var in vars {
        let mut defined = Vec::new();
        if let Ok(v) = std::env::var(var) {
            defined.push(format!("the environment: {}", masked(&v)));
        }
        for f in files {
            for idx in f.doc.find(var) {
                defined.push(format!(
                    "{}:{}: {}",
                    f.name,
                    f.doc.entries[idx].line,
                    masked(&f.doc.loaded_value(idx))
                ));
            }
        }
        match envload::find(var, files) {
            Some(found) => lines.push(format!(
                "{var}: in force from {} (defined in {})",
                found.source,
                defined.join("; ")
            )),
            None => lines.push(format!("{var}: not set")),
        }
    }
    lines
}

fn masked(value: &str) -> String {
    PgUrl::parse(value)
        .map(|u| u.masked())
        .unwrap_or_else(|_| "a value that is not a PostgreSQL URL".into())
}

/// db-test's full verdict for the URL Prisma's CLI uses, every layer with
/// its time; and that URL's host.
fn verdict(ctx: &Ctx, files: &[EnvFile], cli: &CliUrl) -> (Vec<String>, Option<PgUrl>) {
    let found = envload::find_cli(cli, files);
    let settings = Settings::for_migrate_url(
        ctx.project_dir.clone(),
        Shadow::for_dev(envload::find("SHADOW_DATABASE_URL", files).is_some()),
    );
    let report = diagnose::diagnose(cli.name(), found.as_ref(), &settings, &|_| {});
    let mut lines = vec![format!("for {} ({})", cli.name(), report.source)];
    for c in report
        .checks
        .iter()
        .filter(|c| c.status != Status::Skip || c.layer != Layer::Idle)
    {
        let mut line = format!(
            "{} {} ({} ms): {}",
            c.layer.as_str(),
            c.status.as_str(),
            c.ms,
            c.detail
        );
        if let Some(h) = &c.hint {
            line.push_str(&format!(" (hint: {h})"));
        }
        lines.push(line);
    }
    lines.push(match report.diagnosis.layer {
        None => "verdict: ok (every check passed)".into(),
        Some(l) => format!(
            "verdict: {} at layer {}: {}",
            report.diagnosis.code.as_str(),
            l.as_str(),
            report.diagnosis.hint
        ),
    });
    (lines, report.url)
}

/// rds-check's checks (read-only calls of the user's aws CLI) when the
/// URL's host is RDS or Aurora; why not otherwise.
fn rds(url: Option<&PgUrl>, unknown: &mut Vec<String>) -> Vec<String> {
    let Some(url) = url.filter(|u| crate::aws::is_rds_host(&u.host())) else {
        return vec!["not an RDS or Aurora host: rds-check does not apply".into()];
    };
    if crate::util::which("aws").is_none() {
        unknown.push(format!(
            "rds-check for {}: the aws CLI is not on PATH; install it, or run `cargo xtask rds-check` where it is and attach its output",
            url.host()
        ));
        return vec!["not run: no aws CLI (see the last section)".into()];
    }
    let r = crate::rds::run_checks(url, &crate::rds::AwsOptions::default());
    let mut lines = vec![format!(
        "for {} (instance {}, region {})",
        r.host,
        r.instance.as_deref().unwrap_or("not found"),
        r.region.as_deref().unwrap_or("unknown")
    )];
    for c in &r.checks {
        let mut line = format!(
            "{} {} ({} ms): {}",
            c.name,
            c.status.as_str(),
            c.ms,
            c.detail
        );
        if let Some(h) = &c.hint {
            line.push_str(&format!(" (hint: {h})"));
        }
        lines.push(line);
    }
    lines.push(format!(
        "verdict: {}: {}",
        r.diagnosis.code.as_str(),
        r.diagnosis.hint
    ));
    lines
}
