//! The app's Node install, found as npm, pnpm, yarn and Node find it: the
//! lockfile in the app directory or the nearest directory above it (a
//! monorepo's root), packages in the nearest `node_modules` that has them
//! (hoisted workspaces keep them at the root), and the project's own pinned
//! `prisma` bin, which is run and never downloaded.

use std::path::{Path, PathBuf};
use std::process::Command;

use xshell::{cmd, Shell};

/// The package manager a lockfile names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageManager {
    Npm,
    Pnpm,
    Yarn,
    Bun,
}

impl PackageManager {
    /// From the lockfile in `dir`, if there is one.
    fn from_lockfile_in(dir: &Path) -> Option<PackageManager> {
        if dir.join("pnpm-lock.yaml").exists() {
            Some(PackageManager::Pnpm)
        } else if dir.join("yarn.lock").exists() {
            Some(PackageManager::Yarn)
        } else if dir.join("bun.lockb").exists() || dir.join("bun.lock").exists() {
            Some(PackageManager::Bun)
        } else if dir.join("package-lock.json").exists() {
            Some(PackageManager::Npm)
        } else {
            None
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

/// Where the app's packages are installed and how to run its Prisma CLI.
pub struct Install {
    app_dir: PathBuf,
    /// The directory with the lockfile: where the clean install runs.
    pub root: PathBuf,
    pub pm: PackageManager,
}

impl Install {
    /// Walks up from `app_dir` to the first lockfile; the app directory
    /// itself with npm when there is none.
    pub fn find(app_dir: &Path) -> Install {
        let found = app_dir
            .ancestors()
            .find_map(|d| PackageManager::from_lockfile_in(d).map(|pm| (d.to_path_buf(), pm)));
        let (root, pm) = found.unwrap_or((app_dir.to_path_buf(), PackageManager::Npm));
        Install {
            app_dir: app_dir.to_path_buf(),
            root,
            pm,
        }
    }

    /// The directory of package `name` as Node resolves it from the app.
    pub fn package_dir(&self, name: &str) -> Option<PathBuf> {
        self.app_dir
            .ancestors()
            .map(|d| d.join("node_modules").join(name))
            .find(|d| d.join("package.json").is_file())
    }

    /// A path inside the install as people read it: relative to the app,
    /// else to the monorepo root, else in full.
    pub fn shown(&self, path: &Path) -> String {
        path.strip_prefix(&self.app_dir)
            .or_else(|_| path.strip_prefix(&self.root))
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// The `version` of an installed package.
    pub fn package_version(&self, name: &str) -> Option<String> {
        static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re = RE.get_or_init(|| {
            regex::Regex::new(r#""version"\s*:\s*"([^"]+)""#).expect("version pattern")
        });
        let text = std::fs::read_to_string(self.package_dir(name)?.join("package.json")).ok()?;
        re.captures(&text).map(|c| c[1].to_string())
    }

    /// The installed Prisma CLI version, or an exit-1 error with the install command.
    pub fn prisma_version(&self) -> anyhow::Result<String> {
        if self.package_dir("prisma").is_none() {
            anyhow::bail!(
                "the Prisma CLI is not installed for {} (no node_modules/prisma there or above): run `{}` in {} first. \
                 (The xtask never lets npx download an unpinned Prisma.)",
                self.app_dir.display(),
                self.pm.install_command(),
                self.root.display()
            );
        }
        Ok(self
            .package_version("prisma")
            .unwrap_or_else(|| "unknown".into()))
    }

    /// The program and arguments that run `prisma`: the package manager's
    /// runner when the bin is the app's own, the hoisted bin itself when it
    /// lives in a directory above (a runner started in the app would not
    /// look there).
    fn runner(&self) -> (String, Vec<String>) {
        let own = self.app_dir.join("node_modules").join(".bin");
        let bin = self
            .app_dir
            .ancestors()
            .map(|d| d.join("node_modules").join(".bin"))
            .find(|d| d.join("prisma").exists() || d.join("prisma.cmd").exists());
        match bin {
            Some(dir) if dir != own => {
                let name = if cfg!(windows) {
                    "prisma.cmd"
                } else {
                    "prisma"
                };
                (dir.join(name).display().to_string(), Vec::new())
            }
            _ => {
                let (program, pre) = self.pm.runner();
                (
                    program.to_string(),
                    pre.iter().map(|s| s.to_string()).collect(),
                )
            }
        }
    }

    /// Builds `prisma ARGS`, run in the app directory. Arguments never carry
    /// a URL: the caller passes it in the environment. Converted to std's
    /// `Command` because `process::run_child` needs per-stream stdio and,
    /// without a terminal, a process group of its own.
    pub fn prisma_command(&self, sh: &Shell, args: &[String]) -> Command {
        let _dir = sh.push_dir(&self.app_dir);
        let (program, pre) = self.runner();
        let cmd = if cfg!(windows) {
            // npx, pnpm, yarn and the .bin shims are .cmd files that
            // CreateProcess does not find (xshell issue #82): use cmd /c.
            cmd!(sh, "cmd /c {program} {pre...} {args...}")
        } else {
            cmd!(sh, "{program} {pre...} {args...}")
        };
        Command::from(cmd.quiet())
    }

    /// How the command line is shown to the user.
    pub fn display(&self, args: &[String]) -> String {
        let (program, pre) = self.runner();
        let mut parts = vec![program];
        parts.extend(pre);
        parts.extend(args.iter().cloned());
        parts.join(" ")
    }
}
