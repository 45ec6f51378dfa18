//! Env files on disk: reading one (or saying which files define the
//! variable), repairing it in place with a backup and an atomic replace,
//! and writing a URL into one. Nothing is written on any error.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::dotenv::Document;
use crate::exit::bad_input;
use crate::pgurl::{PgUrl, Reader};
use crate::repair::{self, Finding, Options};
use crate::util::{self, Ctx};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    No,
    NoBackup,
    WithBackup,
}

/// What `fix_file` did to one file.
pub struct FileOutcome {
    pub text: String,
    pub new_text: String,
    pub changed: bool,
    pub changes: Vec<Finding>,
    pub warnings: Vec<Finding>,
    pub backup: Option<PathBuf>,
    /// Where the new text went (through links, in place), when written.
    pub written: Option<util::Replaced>,
}

/// Repairs one file: parse (or fail naming the line), repair, and write
/// atomically with a backup. Nothing is written on any error.
pub fn fix_file(
    ctx: &Ctx,
    path: &Path,
    opts: &Options,
    write: Write,
) -> anyhow::Result<FileOutcome> {
    let text = read_env_file(ctx, path, &opts.vars[0])?;
    let refuse = |e: &dyn std::fmt::Display| {
        bad_input(format!("{}: {e}. Nothing was written.", path.display()))
    };
    let (doc, unreadable) = Document::parse_lenient(&text).map_err(|e| refuse(&e))?;
    // A line dotenvy rejects is left as it is, unless it is one we repair.
    for e in &unreadable {
        let raw = doc
            .entries
            .iter()
            .find(|en| en.line == e.line)
            .map(|en| en.raw.as_str());
        let key = raw
            .unwrap_or("")
            .trim_start()
            .trim_start_matches("export ")
            .trim_start();
        if opts.vars.iter().any(|v| key.starts_with(v.as_str())) {
            return Err(refuse(e));
        }
    }
    let mut outcome = repair::repair(doc, opts).map_err(|e| refuse(&e))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    outcome.warnings.extend(
        unreadable
            .iter()
            .map(|e| Finding::unreadable_line(&name, e)),
    );
    outcome
        .warnings
        .extend(repair::file_warnings(&ctx.sh, path, &outcome.doc, opts));
    let new_text = outcome.doc.render();
    let changed = new_text != text;
    let mut backup = None;
    let mut written = None;
    if changed && write != Write::No {
        // The backup goes beside the file written: through a link, the
        // file the link leads to.
        let real = util::real_path(path).map_err(|e| refuse(&e))?;
        if write == Write::WithBackup {
            backup = Some(back_up(&real, &text)?);
        }
        let w =
            util::replace_file(path, new_text.as_bytes(), text.as_bytes()).with_context(|| {
                format!(
                    "{}: not rewritten, the original is unchanged",
                    path.display()
                )
            })?;
        written = Some(w);
    }
    Ok(FileOutcome {
        text,
        new_text,
        changed,
        changes: outcome.changes,
        warnings: outcome.warnings,
        backup,
        written,
    })
}

/// Reads the env file, or explains which files do define the variable.
pub fn read_env_file(ctx: &Ctx, path: &Path, var: &str) -> anyhow::Result<String> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            bad_input(format!(
                "{}: not UTF-8 text; save it as UTF-8. Nothing was written.",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let defining = files_defining(&ctx.project_dir, var);
            let hint = if defining.is_empty() {
                format!("no env file in {} defines {var}; create .env.local with {var}=postgresql://USER:PASSWORD@HOST:5432/DATABASE, or run `cargo xtask dev-db up --write-env` for a local database", ctx.project_dir.display())
            } else {
                format!("{var} is defined in: {} (use --file)", defining.join(", "))
            };
            Err(bad_input(format!(
                "{}: no such file. {hint}",
                path.display()
            )))
        }
        // A directory, no permission, a broken disk: input we cannot use.
        Err(e) => Err(bad_input(format!(
            "{}: cannot read it ({e}). Nothing was written.",
            path.display()
        ))),
    }
}

/// Env files in `dir` that define `var`.
pub fn files_defining(dir: &Path, var: &str) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".env") && !is_backup_name(n))
        .filter(|n| {
            fs::read_to_string(dir.join(n))
                .ok()
                .and_then(|t| Document::parse(&t).ok())
                .map(|d| !d.find(var).is_empty())
                .unwrap_or(false)
        })
        .collect();
    names.sort();
    names
}

/// The one backup policy of every writer (env-fix, `dev-db --write-env`,
/// onboard): the file's current text goes to `backup_path`, or to
/// `.env.local.bak.2.local`, `.bak.3.local`, ... when that one exists, so
/// an original is never overwritten by a later backup (all still under the
/// `.env*.local` ignore pattern). When one of those backups already holds
/// exactly this text, it is the backup: no second copy is made.
pub fn back_up(path: &Path, text: &str) -> anyhow::Result<PathBuf> {
    let candidates = backup_candidates(path);
    for existing in candidates.clone().take_while(|p| p.exists()) {
        if fs::read(&existing).is_ok_and(|b| b == text.as_bytes()) {
            return Ok(existing);
        }
    }
    // Written atomically and under a name no one holds: a full disk must not
    // leave half a backup behind, nor replace an older one.
    util::write_new_as(candidates.take(10_000), text.as_bytes(), path).with_context(|| {
        format!(
            "cannot write a backup of {} beside it; nothing was written",
            path.display()
        )
    })
}

/// `NAME.bak.local` or `NAME.bak.N.local`: one of our backups.
fn is_backup_name(name: &str) -> bool {
    let Some(rest) = name.strip_suffix(".local") else {
        return false;
    };
    let unnumbered = rest
        .rsplit_once('.')
        .filter(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .map(|(r, _)| r);
    unnumbered.unwrap_or(rest).ends_with(".bak")
}

/// `backup_path`, then `.bak.2.local`, `.bak.3.local`, ...
fn backup_candidates(path: &Path) -> impl Iterator<Item = PathBuf> + Clone {
    let first = backup_path(path);
    let name = first
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let stem = name.strip_suffix(".local").unwrap_or(&name).to_string();
    std::iter::once(first.clone())
        .chain((2..).map(move |n| first.with_file_name(format!("{stem}.{n}.local"))))
}

/// `.env.local` → `.env.local.bak.local`: still matched by the `.env*.local`
/// pattern of the Next.js `.gitignore`, unlike `.env.local.bak`.
pub fn backup_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let backup = if name.starts_with(".env") {
        format!("{name}.bak.local")
    } else {
        format!(".env.{name}.bak.local")
    };
    path.with_file_name(backup)
}

/// What `write_database_url` did.
pub struct UrlWritten {
    /// The value it replaced, masked, and where its backup is: set when
    /// that value was not a URL of the same local database.
    pub replaced: Option<(String, PathBuf)>,
    /// Where an existing file's new text went (through links, in place).
    pub file: Option<util::Replaced>,
}

/// Puts `url` into the project's `.env.local` as `DATABASE_URL`, touching no
/// other line, written as env-fix would leave it (the file is read by Prisma).
/// A value that points elsewhere (an RDS URL) is never lost: the file is
/// backed up first, as env-fix does, and the caller says so.
pub fn write_database_url(ctx: &Ctx, url: &PgUrl) -> anyhow::Result<UrlWritten> {
    let path = ctx.project_dir.join(".env.local");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(bad_input(format!(
                "{}: cannot read it ({e}); nothing was written",
                path.display()
            )))
        }
    };
    let mut doc = Document::parse(&text)
        .map_err(|e| bad_input(format!("{}: {e}; nothing was written", path.display())))?;
    let mut url = url.clone();
    repair::tune("DATABASE_URL", &mut url);
    let rendered = url.render_for(Reader::Prisma);
    let found = doc
        .find_one("DATABASE_URL")
        .map_err(|e| bad_input(format!("{}: {e}, then run again", path.display())))?;
    let mut written = UrlWritten {
        replaced: None,
        file: None,
    };
    match found {
        None => doc.append("DATABASE_URL", &rendered),
        Some(one) if doc.literal(one) == rendered => return Ok(written),
        Some(one) => {
            let old = doc.literal(one);
            if !same_local_database(&old, &url) {
                let backup = back_up(&util::real_path(&path)?, &text)?;
                let shown = PgUrl::parse(&old)
                    .map(|u| u.masked())
                    .unwrap_or_else(|_| "a value that is not a URL".into());
                written.replaced = Some((shown, backup));
            }
            doc.set_value(one, &rendered);
        }
    }
    if util::is_dangling_link(&path) {
        return Err(bad_input(format!(
            "{} is a link to a file that does not exist: fix or remove the link; nothing was written",
            path.display()
        )));
    }
    if text.is_empty() && !path.exists() {
        util::atomic_write(&path, doc.render().as_bytes())?;
    } else {
        written.file = Some(util::replace_file(
            &path,
            doc.render().as_bytes(),
            text.as_bytes(),
        )?);
    }
    Ok(written)
}

/// An older URL of this same local database (other parameters): replacing
/// it loses nothing. Another host or port is another database.
fn same_local_database(old: &str, new: &PgUrl) -> bool {
    PgUrl::parse(old).is_ok_and(|o| {
        o.is_local()
            && (o.host(), o.port()) == (new.host(), new.port())
            && o.user() == new.user()
            && o.database() == new.database()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_backup_never_overwrites_the_original() {
        let dir = std::env::temp_dir().join(format!("xtask-backup-{}", util::random_u64()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join(".env.local");
        let first = back_up(&file, "ORIGINAL=1\n").unwrap();
        let second = back_up(&file, "REPAIRED=1\n").unwrap();
        let again = back_up(&file, "ORIGINAL=1\n").unwrap();
        assert_eq!(first, dir.join(".env.local.bak.local"));
        assert_eq!(second, dir.join(".env.local.bak.2.local"));
        assert_eq!(again, first, "the same text is not copied twice");
        assert_eq!(fs::read_to_string(&first).unwrap(), "ORIGINAL=1\n");
        assert_eq!(fs::read_to_string(&second).unwrap(), "REPAIRED=1\n");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            2,
            "no temporary file left"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn backups_are_not_env_files() {
        for name in [
            ".env.local.bak.local",
            ".env.local.bak.2.local",
            ".env.bak.17.local",
        ] {
            assert!(is_backup_name(name), "{name}");
        }
        for name in [
            ".env.local",
            ".env.development.local",
            ".env.bak",
            ".env.2.local",
        ] {
            assert!(!is_backup_name(name), "{name}");
        }
    }

    #[test]
    fn backup_name_is_ignored_by_the_nextjs_pattern() {
        assert_eq!(
            backup_path(Path::new("/p/.env.local")),
            Path::new("/p/.env.local.bak.local")
        );
        assert_eq!(
            backup_path(Path::new("/p/settings.env")),
            Path::new("/p/.env.settings.env.bak.local")
        );
    }
}
