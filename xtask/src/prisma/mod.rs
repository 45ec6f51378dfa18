//! Talking to the Prisma CLI: finding the project's own pinned install and
//! the package manager that runs it (never letting `npx` fetch an unpinned
//! Prisma), building the command with xshell; reading its output (`codes`),
//! its bookkeeping in the database (`table`), and the whole migrate flow
//! with preflight, retries and diagnosis (`migrate`).

pub mod codes;
pub mod migrate;
pub mod table;

use std::path::Path;
use std::process::Command;

use xshell::{cmd, Shell};

use crate::flags::bad_input;

/// The package manager a lockfile names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageManager {
    Npm,
    Pnpm,
    Yarn,
    Bun,
}

impl PackageManager {
    /// From the lockfile in `dir`; npm when there is none.
    pub fn detect(dir: &Path) -> PackageManager {
        if dir.join("pnpm-lock.yaml").exists() {
            PackageManager::Pnpm
        } else if dir.join("yarn.lock").exists() {
            PackageManager::Yarn
        } else if dir.join("bun.lockb").exists() || dir.join("bun.lock").exists() {
            PackageManager::Bun
        } else {
            PackageManager::Npm
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            PackageManager::Npm => "npm",
            PackageManager::Pnpm => "pnpm",
            PackageManager::Yarn => "yarn",
            PackageManager::Bun => "bun",
        }
    }
    /// The clean install that restores `node_modules` from the lockfile.
    pub fn install_command(self) -> &'static str {
        match self {
            PackageManager::Npm => "npm ci",
            PackageManager::Pnpm => "pnpm install --frozen-lockfile",
            PackageManager::Yarn => "yarn install --frozen-lockfile",
            PackageManager::Bun => "bun install --frozen-lockfile",
        }
    }
    /// The program and arguments that run the project's own `prisma` bin
    /// and never download one.
    fn runner(self) -> (&'static str, &'static [&'static str]) {
        match self {
            PackageManager::Npm => ("npx", &["--no-install", "prisma"]),
            PackageManager::Pnpm => ("pnpm", &["exec", "prisma"]),
            PackageManager::Yarn => ("yarn", &["prisma"]),
            PackageManager::Bun => ("bun", &["run", "prisma"]),
        }
    }
}

/// The `version` of an installed package, from `node_modules/NAME/package.json`.
pub fn installed_package_version(project_dir: &Path, name: &str) -> Option<String> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r#""version"\s*:\s*"([^"]+)""#).expect("version pattern")
    });
    let text = std::fs::read_to_string(
        project_dir
            .join("node_modules")
            .join(name)
            .join("package.json"),
    )
    .ok()?;
    re.captures(&text).map(|c| c[1].to_string())
}

/// The installed Prisma CLI version, or an exit-1 error with the install command.
pub fn installed_version(project_dir: &Path, pm: PackageManager) -> anyhow::Result<String> {
    if !project_dir
        .join("node_modules")
        .join("prisma")
        .join("package.json")
        .is_file()
    {
        anyhow::bail!(
            "the Prisma CLI is not installed in {} (no node_modules/prisma): run `{}` there first. \
             (The xtask never lets npx download an unpinned Prisma.)",
            project_dir.display(),
            pm.install_command()
        );
    }
    Ok(installed_package_version(project_dir, "prisma").unwrap_or_else(|| "unknown".into()))
}

/// Builds `prisma ARGS` for the project, through its package manager.
/// Arguments never carry a URL: the caller passes it in the environment.
/// Converted to std's `Command` because `process::run_child` needs per-stream
/// stdio and, without a terminal, a process group of its own.
pub fn command(
    sh: &Shell,
    project_dir: &Path,
    pm: PackageManager,
    args: &[String],
) -> anyhow::Result<Command> {
    let _dir = sh.push_dir(project_dir);
    let (program, pre) = pm.runner();
    let cmd = if cfg!(windows) {
        // npx, pnpm and yarn are .cmd shims that CreateProcess does not find
        // (xshell issue #82): run them through cmd /c.
        cmd!(sh, "cmd /c {program} {pre...} {args...}")
    } else {
        cmd!(sh, "{program} {pre...} {args...}")
    };
    Ok(Command::from(cmd.quiet()))
}

/// How the command line is shown to the user.
pub fn display(pm: PackageManager, args: &[String]) -> String {
    let (program, pre) = pm.runner();
    let mut parts = vec![program.to_string()];
    parts.extend(pre.iter().map(|s| s.to_string()));
    parts.extend(args.iter().cloned());
    parts.join(" ")
}

/// Checks a migration name the way `migrate dev --name` will use it.
pub fn validate_name(name: &str) -> anyhow::Result<String> {
    // Prisma turns the name into a slug of letters, digits and underscores.
    let re = regex::Regex::new(r"[^A-Za-z0-9_]+").expect("slug pattern");
    let slug = re
        .replace_all(name.trim(), "_")
        .trim_matches('_')
        .to_string();
    if slug.is_empty() {
        return Err(bad_input(format!(
            "migration name `{name}` has no letters or digits; use something like add_saved_comparables"
        )));
    }
    if slug.len() > 200 {
        return Err(bad_input("migration name is longer than 200 characters"));
    }
    Ok(slug)
}

/// Whether the app uses `@prisma/adapter-pg` (node-postgres at runtime).
pub fn uses_adapter_pg(project: &Path) -> bool {
    std::fs::read_to_string(project.join("package.json"))
        .map(|t| t.contains("\"@prisma/adapter-pg\""))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_names() {
        assert_eq!(
            validate_name("add_saved_comparables").unwrap(),
            "add_saved_comparables"
        );
        assert_eq!(
            validate_name("add saved-comparables!").unwrap(),
            "add_saved_comparables"
        );
        assert!(validate_name("  -- ").is_err());
        assert!(validate_name("").is_err());
    }
}
