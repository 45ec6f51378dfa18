//! The tools step: Node.js new enough for Prisma 7, and `node_modules`
//! matching the lockfile (else the lockfile's clean install).

use std::path::Path;
use std::process::Command;

use xshell::{cmd, Shell};

use super::{Opts, StepResult};
use crate::output;
use crate::prisma::{self, PackageManager};
use crate::util::Ctx;

/// Node's version as (major, minor), from `node --version`.
fn node_version(sh: &Shell) -> Option<(u32, u32, String)> {
    let v = cmd!(sh, "node --version").quiet().read().ok()?;
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

pub(super) fn check(ctx: &Ctx, pm: PackageManager, o: &Opts) -> StepResult {
    let Some((major, minor, v)) = node_version(&ctx.sh) else {
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
        let _dir = ctx.sh.push_dir(&ctx.project_dir);
        // std's Command for the run itself: its progress must go to stderr so
        // --json stays clean on stdout, which xshell cannot redirect.
        let mut cmd = Command::from(cmd!(ctx.sh, "{program} {parts...}").quiet());
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
