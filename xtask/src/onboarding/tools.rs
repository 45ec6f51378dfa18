//! The tools step: Node.js new enough for Prisma 7, and `node_modules`
//! matching the lockfile (else the lockfile's clean install).

use std::path::Path;
use std::process::Command;

use xshell::{cmd, Shell};

use super::{Opts, StepResult};
use crate::output;
use crate::prisma::{Install, PackageManager};
use crate::util::Ctx;

/// Node's version as (major, minor), from `node --version`.
fn node_version(sh: &Shell) -> Option<(u32, u32, String)> {
    let v = cmd!(sh, "node --version").quiet().read().ok()?;
    let mut parts = v.trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor, v))
}

/// Whether every package the app names is installed at the version the
/// lockfile pins. In a workspace the lockfile is at the root and keys a
/// package by where it is installed: `node_modules/NAME` when hoisted,
/// `apps/web/node_modules/NAME` when not.
fn node_modules_fresh(app_dir: &Path, install: &Install) -> bool {
    let Ok(lock) = std::fs::read_to_string(install.root.join("package-lock.json")) else {
        return install.package_dir("prisma").is_some();
    };
    let Ok(manifest) = std::fs::read_to_string(app_dir.join("package.json")) else {
        return false;
    };
    // Top-level packages named in package.json, with the versions the lockfile pins.
    let dep = regex::Regex::new(r#""(@?[a-z0-9][a-z0-9._/-]*)"\s*:\s*"[~^]?\d[^"]*""#)
        .expect("dep pattern");
    let blocks = regex::Regex::new(r#""(?:dev|optional)?[dD]ependencies"\s*:\s*\{([^}]*)\}"#)
        .expect("dependencies pattern");
    let names: Vec<String> = blocks
        .captures_iter(&manifest)
        .flat_map(|b| {
            dep.captures_iter(b.get(1).map_or("", |m| m.as_str()))
                .map(|c| c[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    names.iter().all(|name| {
        let Some(dir) = install.package_dir(name) else {
            return false;
        };
        let key = dir
            .strip_prefix(&install.root)
            .map(|k| k.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let pinned = regex::Regex::new(&format!(
            r#""{}"\s*:\s*\{{\s*"version"\s*:\s*"([^"]+)""#,
            regex::escape(&key)
        ))
        .ok()
        .and_then(|re| re.captures(&lock).map(|c| c[1].to_string()));
        matches!((pinned, install.package_version(name)), (Some(p), Some(i)) if p == i)
    })
}

/// Why a clean install failed, as far as we can tell without its output.
fn install_failed_hint(pm: PackageManager, node_major: u32) -> String {
    // yarn v1 refuses a package whose `engines` exclude this Node, where npm
    // only warns: Prisma 7 pulls in @prisma/streams-local, which declares
    // node >= 22. That is not a network problem.
    if pm == PackageManager::Yarn && node_major < 22 {
        return format!("yarn v1 refuses packages whose `engines` exclude Node {node_major}: Prisma 7 depends on @prisma/streams-local (node >= 22). Use Node 22 (`nvm install 22`), or `yarn install --frozen-lockfile --ignore-engines`; if the output above names another cause, see it");
    }
    "read the package manager's output above; a network or registry problem is the usual cause"
        .into()
}

pub(super) fn check(ctx: &Ctx, install: &Install, o: &Opts) -> StepResult {
    let pm = install.pm;
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
    if !node_modules_fresh(&ctx.project_dir, install) {
        if o.check {
            return Err((
                "node_modules is missing or does not match the lockfile".into(),
                format!(
                    "run `{}` in {}",
                    pm.install_command(),
                    install.root.display()
                ),
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
        // In a monorepo the install runs at the root, where the lockfile is.
        let _dir = ctx.sh.push_dir(&install.root);
        // std's Command for the run itself: its progress must go to stderr so
        // --json stays clean on stdout, which xshell cannot redirect.
        let mut cmd = Command::from(cmd!(ctx.sh, "{program} {parts...}").quiet());
        cmd.stdout(std::process::Stdio::from(std::io::stderr()));
        match cmd.status() {
            Ok(s) if s.success() => installed = format!(", ran {}", pm.install_command()),
            Ok(s) => {
                return Err((
                    format!("{} failed ({s})", pm.install_command()),
                    install_failed_hint(pm, major),
                ))
            }
            Err(e) => {
                return Err((
                    format!("cannot run {}: {e}", pm.name()),
                    format!(
                        "install {} or use the lockfile's package manager",
                        pm.name()
                    ),
                ))
            }
        }
    }
    let version = install.prisma_version().map_err(|e| {
        (
            e.to_string(),
            format!(
                "run `{}` in {}",
                pm.install_command(),
                install.root.display()
            ),
        )
    })?;
    Ok(format!(
        "node {v}, {}, prisma {version}{installed}",
        pm.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_yarn_engines_refusal_is_not_blamed_on_the_network() {
        assert!(install_failed_hint(PackageManager::Yarn, 20).contains("@prisma/streams-local"));
        assert!(!install_failed_hint(PackageManager::Yarn, 20).contains("network"));
        assert!(install_failed_hint(PackageManager::Yarn, 22).contains("network"));
        assert!(install_failed_hint(PackageManager::Npm, 20).contains("network"));
    }
}
