//! `prisma.config.ts` as the Prisma CLI reads it. Prisma 7's migrate
//! commands connect with the config's `datasource.url` (and
//! `shadowDatabaseUrl`), which the usual setup points at `DIRECT_URL`
//! while `DATABASE_URL` stays the pooled runtime URL. Guessing from the
//! file's text would miss configs that compute the URL, so the config is
//! evaluated by the project's own pinned `@prisma/config`
//! (`read_config.cjs`), with the environment Prisma will get.
//! It costs a Node start (about 0.6 s here), so callers start it early
//! and collect it when they need it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::secret;

const SCRIPT: &str = include_str!("read_config.cjs");

/// The URLs the migrate commands connect with.
#[derive(Debug, Clone)]
pub struct Datasource {
    /// The config file (absolute).
    pub path: PathBuf,
    pub url: Option<String>,
    pub shadow: Option<String>,
}

/// Why the config could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// `env("VAR")` in the config, and VAR is set nowhere.
    MissingVar { path: String, var: String },
    /// The file does not evaluate (syntax, a throw, a missing import).
    Broken { path: String, message: String },
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::MissingVar { path, var } => write!(
                f,
                "{var} is not set: {path} reads it (env(\"{var}\")), and neither the environment nor the env files set it: put {var} in .env.local, or run `cargo xtask dev-db up --write-env` for a local database"
            ),
            ConfigError::Broken { path, message } => write!(
                f,
                "{path} does not evaluate: {message}; fix it so `npx prisma validate` passes"
            ),
        }
    }
}

/// The config files Prisma looks for, in its order.
const CONFIG_FILES: [&str; 7] = [
    "prisma.config.ts",
    "prisma.config.js",
    "prisma.config.mjs",
    "prisma.config.cjs",
    "prisma.config.mts",
    "prisma.config.cts",
    ".config/prisma.ts",
];

fn config_file(project_dir: &Path) -> Option<PathBuf> {
    CONFIG_FILES
        .iter()
        .map(|f| project_dir.join(f))
        .find(|p| p.exists())
}

/// Which variables the config's URLs come from: what db-test and onboard
/// need to know, remembered so that they do not pay a Node start on every
/// run. The key is what the answer depends on, without any value (no
/// secret is hashed or stored): the config file's bytes, the Prisma
/// version, and the names of the variables in force. `migrate` always
/// evaluates the config afresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub url_var: String,
    pub shadow_var: Option<String>,
}

fn cache_path(project_dir: &Path) -> Option<PathBuf> {
    let modules = project_dir.join("node_modules");
    modules
        .is_dir()
        .then(|| modules.join(".cache/xtask/prisma-config"))
}

fn cache_key(project_dir: &Path, vars: &[(String, String)]) -> Option<String> {
    use std::hash::{Hash, Hasher};
    let config = std::fs::read(config_file(project_dir)?).ok()?;
    let prisma =
        std::fs::read(project_dir.join("node_modules/prisma/package.json")).unwrap_or_default();
    let mut names: Vec<String> = vars.iter().map(|(k, _)| k.clone()).collect();
    names.extend(
        std::env::vars()
            .filter(|(_, v)| v.starts_with("postgres"))
            .map(|(k, _)| k),
    );
    names.sort();
    // SipHash with fixed keys: the same input gives the same key on every run.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (config, prisma, names).hash(&mut h);
    Some(format!("{:016x}", h.finish()))
}

/// The remembered mapping for this config and these variable names.
pub fn remembered(project_dir: &Path, vars: &[(String, String)]) -> Option<Mapping> {
    let text = std::fs::read_to_string(cache_path(project_dir)?).ok()?;
    let mut lines = text.lines();
    if lines.next()? != cache_key(project_dir, vars)? {
        return None;
    }
    let url_var = lines.next()?.strip_prefix("url=")?.to_string();
    let shadow_var = lines
        .next()?
        .strip_prefix("shadow=")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Some(Mapping {
        url_var,
        shadow_var,
    })
}

/// Remembers `m`; a cache that cannot be written is no error.
pub fn remember(project_dir: &Path, vars: &[(String, String)], m: &Mapping) {
    let (Some(path), Some(key)) = (cache_path(project_dir), cache_key(project_dir, vars)) else {
        return;
    };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let shadow = m.shadow_var.as_deref().unwrap_or("");
    // Written aside, then renamed: a reader sees the old file or the new.
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    if std::fs::write(&tmp, format!("{key}\nurl={}\nshadow={shadow}\n", m.url_var)).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
    let _ = std::fs::remove_file(&tmp);
}

/// A config being read in the background.
pub struct Pending {
    child: Option<Child>,
    /// Why it could not even start (no Node), said once when collected.
    unavailable: Option<String>,
    project_dir: PathBuf,
}

/// Starts reading `project_dir`'s config with `env` added to the
/// environment (the env files' variables, as Prisma will get them).
/// Nothing runs when the project has no config file.
pub fn start(project_dir: &Path, env: &[(String, String)]) -> Pending {
    let has_config = config_file(project_dir).is_some();
    let mut pending = Pending {
        child: None,
        unavailable: None,
        project_dir: project_dir.to_path_buf(),
    };
    if !has_config {
        return pending;
    }
    let mut cmd = Command::new("node");
    cmd.arg("-e")
        .arg(SCRIPT)
        .arg(project_dir)
        .current_dir(project_dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    match cmd.spawn() {
        Ok(c) => pending.child = Some(c),
        Err(e) => pending.unavailable = Some(format!("cannot run node ({e})")),
    }
    pending
}

impl Pending {
    /// The datasource; `Ok(None)` when there is no config file, or it
    /// could not be evaluated for a reason that is not the config's (no
    /// Node, no prisma package): said in `note`.
    pub fn finish(mut self) -> Result<Read, ConfigError> {
        let Some(child) = self.child.take() else {
            return Ok(Read {
                datasource: None,
                note: self.unavailable.take(),
            });
        };
        let out = match child.wait_with_output() {
            Ok(o) => o,
            Err(e) => return Ok(unread(format!("node failed ({e})"))),
        };
        let text = String::from_utf8_lossy(&out.stdout);
        // The last line is ours; a config may print lines of its own.
        let Some(v) = text
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        else {
            return Ok(unread("node printed no answer".into()));
        };
        let s = |k: &str| v[k].as_str().map(str::to_string);
        let path = s("path").unwrap_or_else(|| self.project_dir.display().to_string());
        match s("error").as_deref() {
            None => Ok(Read {
                datasource: s("path").map(|p| Datasource {
                    path: PathBuf::from(p),
                    url: s("url"),
                    shadow: s("shadow"),
                }),
                note: None,
            }),
            Some("NoPrisma") => Ok(unread(
                "the prisma package is not installed: run `npm ci`".into(),
            )),
            Some(_) => {
                let message = s("message").unwrap_or_default();
                let shown = if path.ends_with(".ts") || path.ends_with("js") {
                    path
                } else {
                    format!("{}/prisma.config.ts", path.trim_end_matches('/'))
                };
                if let Some(var) = missing_var(&message) {
                    return Err(ConfigError::MissingVar { path: shown, var });
                }
                Err(ConfigError::Broken {
                    path: shown,
                    message: secret::redact(message.trim()),
                })
            }
        }
    }
}

/// What reading the config gave.
#[derive(Debug)]
pub struct Read {
    pub datasource: Option<Datasource>,
    /// Why the config was not read, when that is not the config's fault.
    pub note: Option<String>,
}

fn unread(note: String) -> Read {
    Read {
        datasource: None,
        note: Some(note),
    }
}

/// The variable in @prisma/config's "Cannot resolve environment variable: X."
fn missing_var(message: &str) -> Option<String> {
    let rest = message.split("environment variable: ").nth(1)?;
    let var: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!var.is_empty()).then_some(var)
}

/// Where the URL Prisma's CLI connects with comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliUrl {
    /// A variable (DATABASE_URL when there is no config to say otherwise).
    Var(String),
    /// Written in the config file itself: (the file, the URL).
    Literal(String, String),
}

impl CliUrl {
    /// The variable's name, or `datasource.url` for a URL in the file.
    pub fn name(&self) -> &str {
        match self {
            CliUrl::Var(v) => v,
            CliUrl::Literal(..) => "datasource.url",
        }
    }
}

/// The config's `datasource.url`, named by the variable that holds it
/// among `vars` and the shell's own PostgreSQL URLs.
pub fn cli_url(config: &Read, vars: &[(String, String)]) -> CliUrl {
    let Some((ds, url)) = config
        .datasource
        .as_ref()
        .and_then(|d| d.url.as_ref().map(|u| (d, u)))
    else {
        return CliUrl::Var("DATABASE_URL".into());
    };
    let mut candidates: Vec<(String, String)> = vars.to_vec();
    // The shell's own variables too: a CI job exports them.
    candidates.extend(std::env::vars().filter(|(_, v)| v.starts_with("postgres")));
    // The usual names first, when two hold the same URL.
    candidates.sort_by_key(|(k, _)| !matches!(k.as_str(), "DIRECT_URL" | "DATABASE_URL"));
    match var_holding(url, &candidates) {
        Some(v) => CliUrl::Var(v.to_string()),
        None => CliUrl::Literal(ds.path.display().to_string(), url.clone()),
    }
}

/// The variable that holds the config's `shadowDatabaseUrl`, if it has
/// one that a variable holds.
pub fn shadow_var(config: &Read, vars: &[(String, String)]) -> Option<String> {
    let url = config.datasource.as_ref()?.shadow.as_ref()?;
    var_holding(url, vars).map(str::to_string)
}

/// Which of `vars` holds `value`: the name a URL came from, for messages
/// and for the checks that belong to the URL Prisma uses.
pub fn var_holding<'a>(value: &str, vars: &'a [(String, String)]) -> Option<&'a str> {
    vars.iter()
        .find(|(_, v)| v == value)
        .map(|(k, _)| k.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missing_variable_is_read_from_prismas_message() {
        assert_eq!(
            missing_var("Cannot resolve environment variable: DIRECT_URL."),
            Some("DIRECT_URL".into())
        );
        assert_eq!(missing_var("ParseError: Unexpected token"), None);
    }
}
