//! Where a database URL comes from, the way Next.js finds it: the process
//! environment first, then `.env.development.local`, `.env.local`,
//! `.env.development`, `.env`, the first source that defines a key winning.
//! Shared by `db-test`, `migrate` and `onboard`, so all three agree on which
//! URL is in force, and all say where it came from.

use std::fs;
use std::path::{Path, PathBuf};

use crate::dotenv::Document;
use crate::exit::bad_input;
use crate::prisma::config::{self, CliUrl, ConfigError};

/// The files Next.js reads in development, in order of precedence.
pub const NEXT_FILES: [&str; 4] = [
    ".env.development.local",
    ".env.local",
    ".env.development",
    ".env",
];

/// `Found::source` for a value from the process environment (a shell).
const ENVIRONMENT: &str = "environment";

/// One variable as the app will see it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The value after dotenv substitution: what the app really gets.
    pub value: String,
    /// `environment` or `FILE:LINE`.
    pub source: String,
    /// The value as written in the file, when it differs from `value`
    /// (`$` eaten by substitution).
    pub written: Option<String>,
    /// A file that defines the variable with another value, which the
    /// environment overrides: "I fixed .env.local but nothing changed".
    pub shadowed: Option<String>,
}

impl Found {
    /// The value comes from the shell, not from a file.
    pub fn is_from_environment(&self) -> bool {
        self.source == ENVIRONMENT
    }
}

/// A parsed env file.
pub struct EnvFile {
    pub name: String,
    pub doc: Document,
}

/// Reads the env files that exist, in precedence order. A file that cannot
/// be parsed is an error naming the file and line.
pub fn read_files(project_dir: &Path, explicit: &[PathBuf]) -> anyhow::Result<Vec<EnvFile>> {
    let paths: Vec<PathBuf> = if explicit.is_empty() {
        NEXT_FILES.iter().map(|n| project_dir.join(n)).collect()
    } else {
        explicit.to_vec()
    };
    let mut files = Vec::new();
    for path in paths {
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_empty() => continue,
            Err(e) => return Err(bad_input(format!("{}: {e}", path.display()))),
        };
        // As Next.js (Node's dotenv) reads it: a line only dotenvy rejects
        // (`TAGLINE=Sally's place`) is passed over, as env-fix passes it
        // over; a URL's line that cannot be read is an error naming it.
        let (doc, unreadable) = Document::parse_lenient(&text)
            .map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
        if let Some(e) = unreadable.iter().find(|e| holds_a_url(&doc, e.line)) {
            return Err(bad_input(format!("{}: {e}", path.display())));
        }
        let name = if explicit.is_empty() {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            path.display().to_string()
        };
        files.push(EnvFile { name, doc });
    }
    Ok(files)
}

/// Whether the entry at `line` looks like a URL variable: one of the
/// usual names, or a value with `://` in it.
fn holds_a_url(doc: &Document, line: usize) -> bool {
    let Some(raw) = doc
        .entries
        .iter()
        .find(|e| e.line == line)
        .map(|e| e.raw.as_str())
    else {
        return false;
    };
    let key = raw.trim_start().trim_start_matches("export ").trim_start();
    ["DATABASE_URL", "DIRECT_URL", "SHADOW_DATABASE_URL"]
        .iter()
        .any(|v| key.starts_with(v))
        || raw.contains("://")
}

/// Finds `var` in the environment, then in `files`.
pub fn find(var: &str, files: &[EnvFile]) -> Option<Found> {
    let in_file = files.iter().find_map(|f| {
        let idx = *f.doc.find(var).first()?;
        let line = f.doc.entries[idx].line;
        let value = f.doc.loaded_value(idx);
        let literal = f.doc.literal(idx);
        Some((format!("{}:{line}", f.name), value, literal))
    });
    match std::env::var(var) {
        Ok(value) => {
            // Parsing registers the password, so no later output shows it.
            let _ = crate::pgurl::PgUrl::parse(&value);
            let shadowed = in_file
                .filter(|(_, v, _)| *v != value)
                .map(|(source, _, _)| source);
            Some(Found {
                value,
                source: ENVIRONMENT.into(),
                written: None,
                shadowed,
            })
        }
        Err(_) => in_file.map(|(source, value, literal)| Found {
            written: (literal != value).then_some(literal),
            value,
            source,
            shadowed: None,
        }),
    }
}

/// Every variable the files define that the process environment does
/// not, each as `find` reads it (the first file wins): what a config that
/// loads the files itself would see, handed to Node and Prisma instead.
pub fn file_vars(files: &[EnvFile]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for f in files {
        for e in &f.doc.entries {
            let Some(v) = &e.var else { continue };
            if std::env::var_os(&v.key).is_some() || out.iter().any(|(k, _)| *k == v.key) {
                continue;
            }
            if let Some(found) = find(&v.key, files) {
                out.push((v.key.clone(), found.value));
            }
        }
    }
    out
}

/// The URL Prisma's CLI connects with, and the variable its shadow
/// database's URL comes from: prisma.config.ts evaluated as Prisma
/// evaluates it, with the files' variables. A variable the config needs
/// and nobody sets is that URL, missing (its check says so); a config
/// that does not evaluate is bad input naming the file.
///
/// The answer is remembered (`config::Mapping`) while the config file,
/// the Prisma version and the variables' names stay the same.
pub fn cli_url(project_dir: &Path, files: &[EnvFile]) -> anyhow::Result<(CliUrl, Option<String>)> {
    let vars = file_vars(files);
    if let Some(m) = config::remembered(project_dir, &vars) {
        return Ok((CliUrl::Var(m.url_var), m.shadow_var));
    }
    let (cli, shadow, read) = match config::start(project_dir, &vars).finish() {
        Ok(read) => (
            config::cli_url(&read, &vars),
            config::shadow_var(&read, &vars),
            read.note.is_none(),
        ),
        Err(ConfigError::MissingVar { var, .. }) => (CliUrl::Var(var), None, true),
        Err(e) => return Err(bad_input(e.to_string())),
    };
    // Only an answer from the config itself is remembered (not the
    // fallback when Node or Prisma was missing), and not a URL written in
    // the file: it holds a password.
    if let (true, CliUrl::Var(v)) = (read, &cli) {
        let m = config::Mapping {
            url_var: v.clone(),
            shadow_var: shadow.clone(),
        };
        config::remember(project_dir, &vars, &m);
    }
    Ok((cli, shadow))
}

/// The URL Prisma's CLI connects with, as `find` finds it: its variable's
/// value, or the URL the config writes itself (its source the config file).
pub fn find_cli(cli: &CliUrl, files: &[EnvFile]) -> Option<Found> {
    match cli {
        CliUrl::Var(v) => find(v, files),
        CliUrl::Literal(path, url) => Some(Found {
            value: url.clone(),
            source: path.clone(),
            written: None,
            shadowed: None,
        }),
    }
}

/// Every env file name that `find` would look at, for messages.
pub fn looked_at(files: &[EnvFile], explicit: &[PathBuf]) -> String {
    if explicit.is_empty() {
        format!("the environment and {}", NEXT_FILES.join(", "))
    } else {
        files
            .iter()
            .map(|f| f.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A project directory with the given env files, removed afterwards.
    struct Project(PathBuf);
    impl Project {
        fn new(files: &[(&str, &str)]) -> Project {
            let dir =
                std::env::temp_dir().join(format!("xtask-envload-{}", crate::util::random_u64()));
            fs::create_dir_all(&dir).unwrap();
            for (name, text) in files {
                fs::write(dir.join(name), text).unwrap();
            }
            Project(dir)
        }
    }
    impl Drop for Project {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    // A name no environment defines, so the process environment stays out.
    const VAR: &str = "XTASK_TEST_ENVLOAD_URL";

    #[test]
    fn next_js_order_first_file_wins() {
        let all = [
            (".env", "XTASK_TEST_ENVLOAD_URL=from-env\n"),
            (
                ".env.development",
                "XTASK_TEST_ENVLOAD_URL=from-development\n",
            ),
            (".env.local", "# x\nXTASK_TEST_ENVLOAD_URL=from-local\n"),
            (
                ".env.development.local",
                "XTASK_TEST_ENVLOAD_URL=from-development-local\n",
            ),
        ];
        for skip in 0..4 {
            let p = Project::new(&all[..4 - skip]);
            let files = read_files(&p.0, &[]).unwrap();
            let f = find(VAR, &files).unwrap();
            let (want, line) = [
                ("from-development-local", 1),
                ("from-local", 2),
                ("from-development", 1),
                ("from-env", 1),
            ][skip];
            let (name, _) = all[3 - skip];
            assert_eq!(f.value, want);
            assert_eq!(f.source, format!("{name}:{line}"));
        }
    }

    #[test]
    fn explicit_files_replace_the_list_and_must_exist() {
        let p = Project::new(&[
            (".env.local", "XTASK_TEST_ENVLOAD_URL=local\n"),
            ("ci.env", "XTASK_TEST_ENVLOAD_URL=ci\n"),
        ]);
        let files = read_files(&p.0, &[p.0.join("ci.env")]).unwrap();
        assert_eq!(find(VAR, &files).unwrap().value, "ci");
        assert!(read_files(&p.0, &[p.0.join("missing.env")]).is_err());
    }

    #[test]
    fn a_dollar_eaten_by_dotenv_is_reported_with_what_was_written() {
        let p = Project::new(&[(
            ".env.local",
            "XTASK_TEST_ENVLOAD_URL=postgresql://u:pa$word@h/db\n",
        )]);
        let files = read_files(&p.0, &[]).unwrap();
        let f = find(VAR, &files).unwrap();
        assert_eq!(f.value, "postgresql://u:pa@h/db");
        assert_eq!(f.written.as_deref(), Some("postgresql://u:pa$word@h/db"));
    }

    #[test]
    fn an_unreadable_url_line_names_its_line_and_other_lines_are_passed_over() {
        let p = Project::new(&[(".env.local", "A=1\nDATABASE_URL=\"postgresql://u:p@h/db\n")]);
        let e = read_files(&p.0, &[]).err().unwrap().to_string();
        assert!(e.contains(".env.local") && e.contains("line 2"), "{e}");
        // Node's dotenv reads `B="open` as it is; we pass it over.
        let p = Project::new(&[(".env.local", "A=1\nB=\"open\nC=2\n")]);
        let files = read_files(&p.0, &[]).unwrap();
        assert_eq!(find("C", &files).unwrap().value, "2");
    }
}
