//! Small helpers shared by the commands: where the project lives, atomic file
//! replacement, randomness for generated passwords, free ports.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Where the workspace and the app live, as every subcommand sees them, and
/// the one `xshell::Shell` children are started from (rust-analyzer's way:
/// scoped `push_dir`/`push_env` instead of global state).
pub struct Ctx {
    pub sh: xshell::Shell,
    /// The app: env files, `prisma/`, `package.json`, `node_modules`.
    pub project_dir: PathBuf,
    /// `--project-dir` was given: relative paths in flags are read from it.
    project_dir_given: bool,
    /// The cargo workspace holding this xtask.
    pub workspace_root: PathBuf,
}

impl Ctx {
    pub fn new(project_dir: Option<PathBuf>) -> anyhow::Result<Ctx> {
        let workspace_root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let project_dir_given = project_dir.is_some();
        let project_dir = match project_dir {
            Some(dir) => {
                if !dir.is_dir() {
                    return Err(crate::exit::bad_input(format!(
                        "--project-dir {}: no such directory",
                        dir.display()
                    )));
                }
                // Absolute, so walking up to a monorepo's root (lockfile,
                // hoisted node_modules) works from `--project-dir .` too.
                std::path::absolute(&dir).unwrap_or(dir)
            }
            None => workspace_root.clone(),
        };
        let sh = xshell::Shell::new().context("cannot set up the command runner")?;
        Ok(Ctx {
            sh,
            project_dir_given,
            project_dir,
            workspace_root,
        })
    }

    /// A path from a flag: relative ones are read from `--project-dir` when
    /// it was given (the app's files live there), else from where the
    /// command runs.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else if self.project_dir_given {
            self.project_dir.join(path)
        } else {
            std::env::current_dir()
                .map(|d| d.join(path))
                .unwrap_or_else(|_| path.to_path_buf())
        }
    }

    /// The cargo target directory, where the dev-db and backups live.
    pub fn target_dir(&self) -> PathBuf {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.workspace_root.join("target"))
    }
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same
/// directory, synced, then renamed over the original, keeping its
/// permissions. On any failure the original is untouched and the temporary
/// file is removed.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    atomic_write_as(path, bytes, path)
}

/// `atomic_write`, with the permissions of `like` (a backup of a 0600 file
/// holding a password must be 0600 too); 0600 when `like` does not exist.
pub fn atomic_write_as(path: &Path, bytes: &[u8], like: &Path) -> anyhow::Result<()> {
    let tmp = write_temp(path, bytes, like)?;
    fs::rename(&tmp, path)
        .with_context(|| format!("cannot replace {}", path.display()))
        .inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
}

/// Writes `bytes` to the first of `candidates` that does not exist yet, as
/// one complete file with `like`'s permissions, and returns it. The name is
/// claimed with a hard link, which fails when it exists, so two writers at
/// once never overwrite each other's file. Where the file system has no
/// hard links, it checks and renames instead (a race there is not covered).
pub fn write_new_as(
    candidates: impl IntoIterator<Item = PathBuf>,
    bytes: &[u8],
    like: &Path,
) -> anyhow::Result<PathBuf> {
    let mut candidates = candidates.into_iter().peekable();
    let first = candidates
        .peek()
        .cloned()
        .context("no file name to write")?;
    let tmp = write_temp(&first, bytes, like)?;
    let result = (|| {
        for path in candidates {
            match fs::hard_link(&tmp, &path) {
                Ok(()) => return Ok(path),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(_) if !path.exists() => {
                    fs::rename(&tmp, &path)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    return Ok(path);
                }
                Err(_) => continue,
            }
        }
        anyhow::bail!("no free name beside {}", first.display())
    })();
    let _ = fs::remove_file(&tmp);
    result
}

/// A synced temporary file beside `path` holding `bytes`, with `like`'s
/// permissions (0600 when `like` does not exist). Removed on failure.
fn write_temp(path: &Path, bytes: &[u8], like: &Path) -> anyhow::Result<PathBuf> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.xtask-{}-{}.tmp",
        std::process::id(),
        random_u64() % 1_000_000
    ));
    let result = (|| -> anyhow::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        match fs::metadata(like) {
            Ok(meta) => {
                f.set_permissions(meta.permissions())?;
                keep_owner(&f, &meta);
            }
            // A new file: ours hold passwords, so only the owner reads them.
            #[cfg(unix)]
            Err(_) => {
                use std::os::unix::fs::PermissionsExt;
                f.set_permissions(fs::Permissions::from_mode(0o600))?
            }
            #[cfg(not(unix))]
            Err(_) => {}
        }
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        Ok(())
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Gives `f` the owner and group of `meta`'s file, where this process may
/// (root may; a normal user may only keep its own): a file repaired with
/// sudo, or in a container running as root, stays its developer's.
#[cfg(unix)]
fn keep_owner(f: &fs::File, meta: &fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    let _ = std::os::unix::fs::fchown(f, Some(meta.uid()), Some(meta.gid()));
}

#[cfg(not(unix))]
fn keep_owner(_f: &fs::File, _meta: &fs::Metadata) {}

/// What `replace_file` wrote.
#[derive(Debug, Clone)]
pub struct Replaced {
    /// The file written: the path given, or the file its links lead to.
    pub real: PathBuf,
    /// The path given was a symbolic link (kept as it was written).
    pub through_link: bool,
    /// The file's other names (hard links), which kept sharing it: it was
    /// written in place rather than replaced.
    pub other_names: u64,
}

impl Replaced {
    /// Where the text went, when that is not simply the path given:
    /// "through the link, into ../../.env.local; in place (1 other name)".
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.through_link {
            parts.push(format!("through the link, into {}", self.real.display()));
        }
        if self.other_names > 0 {
            parts.push(format!(
                "in place, so its {} other name(s) (hard links) see it too",
                self.other_names
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Replaces the contents of the file `path` names, keeping the file the
/// user has. Through symbolic links (absolute, relative, chains) the file
/// they lead to is written, in its own directory, and the links stay as
/// written. Its owner, group and mode are kept where this process may.
/// A file with other hard links is written in place, so that every name
/// sees the new contents: first in full to a temporary file beside it (so
/// a full disk fails before the file is touched), then, the temporary
/// file removed, over the old contents; should that fail, `old` is put
/// back. Any other file is replaced by an atomic rename. On any failure
/// the file is as it was and no temporary file is left.
pub fn replace_file(path: &Path, bytes: &[u8], old: &[u8]) -> anyhow::Result<Replaced> {
    let through_link = is_link(path);
    let real = real_path(path)?;
    let links = hard_links(&real);
    let tmp = write_temp(&real, bytes, &real)?;
    if links <= 1 {
        fs::rename(&tmp, &real)
            .with_context(|| format!("cannot replace {}", real.display()))
            .inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            })?;
        return Ok(Replaced {
            real,
            through_link,
            other_names: 0,
        });
    }
    let _ = fs::remove_file(&tmp);
    let in_place = |b: &[u8]| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&real)?;
        f.write_all(b)?;
        f.sync_all()
    };
    if let Err(e) = in_place(bytes) {
        let _ = in_place(old);
        return Err(anyhow::anyhow!(e))
            .with_context(|| format!("cannot write {} in place", real.display()));
    }
    Ok(Replaced {
        real,
        through_link,
        other_names: links - 1,
    })
}

fn is_link(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// The file `path` names: itself, or the file its links lead to.
pub fn real_path(path: &Path) -> anyhow::Result<PathBuf> {
    if is_link(path) {
        fs::canonicalize(path)
            .with_context(|| format!("{} is a link to a file that does not exist", path.display()))
    } else {
        Ok(path.to_path_buf())
    }
}

/// A symbolic link whose target does not exist.
pub fn is_dangling_link(path: &Path) -> bool {
    is_link(path) && !path.exists()
}

/// How many names (hard links) the file has.
fn hard_links(path: &Path) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(path).map(|m| m.nlink()).unwrap_or(1)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        1
    }
}

/// Random bits from the operating system (getrandom is already in the
/// graph through postgres-protocol's SCRAM).
pub fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        // std seeds RandomState from the OS too; a fallback, never expected.
        use std::hash::{BuildHasher, RandomState};
        RandomState::new().hash_one(std::time::SystemTime::now())
    })
}

/// `n` random characters from `alphabet`.
pub fn random_string(alphabet: &str, n: usize) -> String {
    let chars: Vec<char> = alphabet.chars().collect();
    (0..n)
        .map(|_| chars[(random_u64() % chars.len() as u64) as usize])
        .collect()
}

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(l.local_addr()?.port())
}

/// Whether a port on 127.0.0.1 can be bound now.
pub fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Looks a program up on PATH (with Windows extensions).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let exts: Vec<String> = if cfg!(windows) {
        std::env::var("PATHEXT")
            .unwrap_or_else(|_| ".EXE;.CMD;.BAT".into())
            .split(';')
            .map(|s| s.to_ascii_lowercase())
            .chain([String::new()])
            .collect()
    } else {
        vec![String::new()]
    };
    for dir in std::env::split_paths(&path) {
        for ext in &exts {
            let candidate = dir.join(format!("{program}{ext}"));
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Whether this process runs as root (PostgreSQL refuses to).
pub fn is_root() -> bool {
    #[cfg(unix)]
    {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }
    #[cfg(not(unix))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_keeps_permissions() {
        let dir = std::env::temp_dir().join(format!("xtask-aw-{}", random_u64()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f");
        fs::write(&p, "old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        }
        atomic_write(&p, b"new").unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o640
            );
        }
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
