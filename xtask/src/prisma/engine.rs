//! Which schema engine Prisma Migrate runs: its native binary (downloaded by
//! the CLI at first use, or named by PRISMA_SCHEMA_ENGINE_BINARY), or, with
//! `--engine wasm`, the WebAssembly build the `prisma` package ships, run by
//! our engine host `xtask/engine/schema-engine.mjs` (for machines that
//! cannot reach Prisma's download host).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use super::Install;
use crate::exit::bad_input;
use crate::output::Json;

/// The variable through which the Prisma CLI takes an engine binary.
pub const BINARY_VAR: &str = "PRISMA_SCHEMA_ENGINE_BINARY";
/// Where the engine host reads the `.wasm` from.
const WASM_VAR: &str = "XTASK_SCHEMA_ENGINE_WASM";
/// The engine host, relative to the workspace root.
const HOST: &str = "xtask/engine/schema-engine.mjs";
/// The `.wasm` inside the `prisma` package (7.10.1 ships it).
const WASM_IN_PRISMA: &str = "build/schema_engine_bg.wasm";
/// What the engine host imports, installed by the workspace root's `npm ci`.
const HOST_DEPENDENCIES: [&str; 4] = [
    "@prisma/adapter-pg",
    "@prisma/driver-adapter-utils",
    "@prisma/schema-engine-wasm",
    "pg",
];

stable_names! {
    /// `--engine`: which schema engine Prisma runs.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Engine {
        Native = "native",
        Wasm = "wasm",
    }
}

impl FromStr for Engine {
    type Err = ();
    fn from_str(s: &str) -> Result<Engine, ()> {
        match s {
            "native" => Ok(Engine::Native),
            "wasm" => Ok(Engine::Wasm),
            _ => Err(()),
        }
    }
}

/// Where the native engine Prisma runs comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Native {
    /// PRISMA_SCHEMA_ENGINE_BINARY in the environment names one (as given).
    FromEnv(String),
    /// Prisma downloaded it already, into `@prisma/engines`.
    Downloaded(PathBuf),
    /// Prisma downloads it on first use.
    NotDownloaded,
}

impl Native {
    /// What the environment and the app's `node_modules` say.
    pub fn find(install: &Install) -> Native {
        if let Some(v) = std::env::var_os(BINARY_VAR).filter(|v| !v.is_empty()) {
            return Native::FromEnv(v.to_string_lossy().into_owned());
        }
        let downloaded = install.package_dir("@prisma/engines").and_then(|dir| {
            let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
                .ok()?
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("schema-engine-")
                })
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.path())
                .collect();
            found.sort();
            found.into_iter().next()
        });
        downloaded.map_or(Native::NotDownloaded, Native::Downloaded)
    }

    /// A stable word for `--json`.
    pub fn source(&self) -> &'static str {
        match self {
            Native::FromEnv(_) => "env",
            Native::Downloaded(_) => "downloaded",
            Native::NotDownloaded => "not_downloaded",
        }
    }

    /// One sentence for people.
    pub fn describe(&self, install: &Install) -> String {
        match self {
            Native::FromEnv(p) => format!("{BINARY_VAR} from your environment ({p})"),
            Native::Downloaded(p) => format!(
                "Prisma's native schema engine, already downloaded ({})",
                install.shown(p)
            ),
            Native::NotDownloaded => "native engine not downloaded yet: Prisma downloads it on first use; `--engine wasm` needs no download".into(),
        }
    }

    /// `{"source", "path", "detail"}` for db-test's and onboard's `--json`.
    pub fn to_json(&self, install: &Install) -> Json {
        let path = match self {
            Native::FromEnv(p) => Some(p.clone()),
            Native::Downloaded(p) => Some(p.display().to_string()),
            Native::NotDownloaded => None,
        };
        Json::obj([
            ("source", Json::Lit(self.source())),
            ("path", Json::opt_str(path)),
            ("detail", Json::str(self.describe(install))),
        ])
    }
}

/// The WebAssembly engine, checked and ready for Prisma's environment.
#[derive(Debug)]
pub struct Wasm {
    /// The engine host Prisma starts (PRISMA_SCHEMA_ENGINE_BINARY).
    pub host: PathBuf,
    /// The `.wasm` of the app's own prisma package.
    pub wasm: PathBuf,
    /// `wasm` as shown: relative to the app (or its monorepo root).
    pub shown: String,
}

/// Why the WebAssembly engine cannot run: what is missing, and the fix.
#[derive(Debug)]
pub struct Unavailable {
    pub detail: String,
    pub fix: String,
}

impl Unavailable {
    /// Exit 2: the install is not what `--engine wasm` needs.
    pub fn into_error(self) -> anyhow::Error {
        bad_input(format!("{}: {}", self.detail, self.fix))
    }
}

impl Wasm {
    /// Checks that the app's prisma package has the `.wasm` and that the
    /// engine host and its npm dependencies are installed in `workspace`.
    pub fn find(install: &Install, workspace: &Path) -> Result<Wasm, Unavailable> {
        // Prisma starts its engine as an executable; on Windows a `.mjs`
        // file is not one, and no compiled launcher ships with the host.
        if cfg!(windows) {
            return Err(Unavailable {
                detail: "--engine wasm is not available on Windows: Prisma starts its schema engine as an executable, and the engine host is a Node script".into(),
                fix: "use `--engine native` (Prisma downloads its engine), or run the command in WSL".into(),
            });
        }
        let Some(prisma) = install.package_dir("prisma") else {
            return Err(Unavailable {
                detail: "the Prisma CLI is not installed (no node_modules/prisma), so neither is its WebAssembly schema engine".into(),
                fix: format!("run `{}` in {}", install.pm.install_command(), install.root.display()),
            });
        };
        let wasm = prisma.join(WASM_IN_PRISMA);
        if !wasm.is_file() {
            let version = install
                .package_version("prisma")
                .unwrap_or_else(|| "unknown".into());
            return Err(Unavailable {
                detail: format!("--engine wasm: {} does not exist: the installed prisma ({version}) does not ship the WebAssembly schema engine", wasm.display()),
                fix: format!("install the pinned prisma 7.10.1 with `{}` in {}, or use `--engine native`", install.pm.install_command(), install.root.display()),
            });
        }
        let host = workspace.join(HOST);
        let missing: Vec<&str> = HOST_DEPENDENCIES
            .into_iter()
            .filter(|d| {
                !workspace
                    .join("node_modules")
                    .join(d)
                    .join("package.json")
                    .is_file()
            })
            .collect();
        if !host.is_file() || !missing.is_empty() {
            let what = if host.is_file() {
                format!(
                    "its npm packages are not installed ({})",
                    missing.join(", ")
                )
            } else {
                format!("{} is missing", host.display())
            };
            return Err(Unavailable {
                detail: format!("--engine wasm: the xtask's engine host cannot run: {what}"),
                fix: format!(
                    "run `npm ci` in {} (the workspace root), or use `--engine native`",
                    workspace.display()
                ),
            });
        }
        // A checkout with core.fileMode=false, or a zip download, loses the
        // executable bit; Prisma would then fail with EACCES.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&host).map(|m| m.permissions().mode());
            if mode.is_ok_and(|m| m & 0o111 == 0) {
                return Err(Unavailable {
                    detail: format!("--engine wasm: {} is not executable", host.display()),
                    fix: format!("run `chmod +x {}`", host.display()),
                });
            }
        }
        Ok(Wasm {
            host,
            shown: install.shown(&wasm),
            wasm,
        })
    }

    /// One sentence for people.
    pub fn describe(&self) -> String {
        format!(
            "Prisma's WebAssembly schema engine ({}, driver node-postgres)",
            self.shown
        )
    }
}

/// What one migrate run gives Prisma for its engine.
#[derive(Debug)]
pub enum Setup {
    /// Prisma's own choice: nothing is added to its environment.
    Native(Native),
    Wasm(Wasm),
}

impl Setup {
    /// The engine `engine` needs, checked before Prisma starts (exit 2 when
    /// the WebAssembly engine is not installed).
    pub fn new(engine: Engine, install: &Install, workspace: &Path) -> anyhow::Result<Setup> {
        Ok(match engine {
            Engine::Native => Setup::Native(Native::find(install)),
            Engine::Wasm => {
                Setup::Wasm(Wasm::find(install, workspace).map_err(Unavailable::into_error)?)
            }
        })
    }

    /// The `engine:` line of a migrate run.
    pub fn describe(&self, install: &Install) -> String {
        match self {
            Setup::Native(n) => n.describe(install),
            Setup::Wasm(w) => match std::env::var_os(BINARY_VAR).filter(|v| !v.is_empty()) {
                Some(_) => format!(
                    "{} (instead of {BINARY_VAR} from your environment)",
                    w.describe()
                ),
                None => w.describe(),
            },
        }
    }

    /// Puts the engine into Prisma's environment.
    pub fn apply(&self, cmd: &mut Command) {
        if let Setup::Wasm(w) = self {
            cmd.env(BINARY_VAR, &w.host);
            cmd.env(WASM_VAR, &w.wasm);
        }
    }
}

/// The xtask's own arguments `argv` (without the program) as a command line
/// with `--engine` set to `engine` (before a `--`), for a fix that says how
/// to run the same command again.
pub fn command_with(argv: &[String], engine: Engine) -> String {
    let mut out = vec!["cargo".to_string(), "xtask".to_string()];
    let mut it = argv.iter();
    let mut rest = Vec::new();
    while let Some(a) = it.next() {
        if a == "--" {
            rest.push(a.clone());
            rest.extend(it.by_ref().cloned());
            break;
        }
        if a == "--engine" {
            it.next();
        } else if !a.starts_with("--engine=") {
            out.push(a.clone());
        }
    }
    out.push("--engine".into());
    out.push(engine.as_str().into());
    out.extend(rest);
    out.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// Quotes an argument for a POSIX shell when it needs it.
fn quote(a: &str) -> String {
    let plain = !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_same_command_with_the_engine_flag() {
        let wasm = |v: &[&str]| command_with(&args(v), Engine::Wasm);
        assert_eq!(
            wasm(&["migrate", "--deploy", "--json"]),
            "cargo xtask migrate --deploy --json --engine wasm"
        );
        assert_eq!(
            wasm(&["migrate", "--engine", "native", "x", "--engine=native"]),
            "cargo xtask migrate x --engine wasm"
        );
        assert_eq!(
            wasm(&[
                "--project-dir",
                "apps/my web",
                "migrate",
                "a",
                "--",
                "--engine",
                "y"
            ]),
            "cargo xtask --project-dir 'apps/my web' migrate a --engine wasm -- --engine y"
        );
        assert_eq!(
            wasm(&["onboard", "it's"]),
            r"cargo xtask onboard 'it'\''s' --engine wasm"
        );
    }

    // On Windows the WebAssembly engine is refused before anything is looked at.
    #[cfg(unix)]
    #[test]
    fn the_wasm_engine_needs_the_file_and_the_hosts_packages() {
        let dir = std::env::temp_dir().join(format!("xtask-engine-unit-{}", std::process::id()));
        let prisma = dir.join("app/node_modules/prisma");
        std::fs::create_dir_all(prisma.join("build")).unwrap();
        std::fs::write(prisma.join("package.json"), r#"{"version": "7.10.1"}"#).unwrap();
        let install = Install::find(&dir.join("app"));
        let workspace = dir.join("workspace");
        let e = Wasm::find(&install, &workspace).unwrap_err();
        assert!(e.detail.contains("schema_engine_bg.wasm"), "{}", e.detail);
        std::fs::write(prisma.join(WASM_IN_PRISMA), b"").unwrap();
        std::fs::create_dir_all(workspace.join("xtask/engine")).unwrap();
        std::fs::write(workspace.join(HOST), b"").unwrap();
        let e = Wasm::find(&install, &workspace).unwrap_err();
        assert!(
            e.detail.contains(
                "@prisma/adapter-pg, @prisma/driver-adapter-utils, @prisma/schema-engine-wasm, pg"
            ),
            "{}",
            e.detail
        );
        assert!(e.fix.starts_with("run `npm ci` in"), "{}", e.fix);
        for d in HOST_DEPENDENCIES {
            let p = workspace.join("node_modules").join(d);
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join("package.json"), b"{}").unwrap();
        }
        let e = Wasm::find(&install, &workspace).unwrap_err();
        assert!(e.fix.starts_with("run `chmod +x "), "{}", e.fix);
        use std::os::unix::fs::PermissionsExt;
        let exec = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(workspace.join(HOST), exec).unwrap();
        let w = Wasm::find(&install, &workspace).unwrap();
        assert_eq!(w.shown, "node_modules/prisma/build/schema_engine_bg.wasm");
        assert_eq!(w.host, workspace.join(HOST));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn engine_names() {
        assert_eq!("wasm".parse(), Ok(Engine::Wasm));
        assert_eq!("native".parse(), Ok(Engine::Native));
        assert!("bogus".parse::<Engine>().is_err());
        assert_eq!(Engine::Wasm.as_str(), "wasm");
    }
}
