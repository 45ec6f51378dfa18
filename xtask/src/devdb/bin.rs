//! Finding the PostgreSQL server binaries on Linux, macOS and Windows.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;

use crate::exit::bad_input;
use crate::util;

pub(super) fn exe(name: &str) -> String {
    if cfg!(windows) {
        format!("{name}.exe")
    } else {
        name.to_string()
    }
}

/// Finds the PostgreSQL server binaries: PG_BIN, `pg_config --bindir`, then
/// the usual install locations, newest version first.
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let has = |d: &Path| d.join(exe("initdb")).is_file() && d.join(exe("pg_ctl")).is_file();
    if let Some(dir) = std::env::var_os("PG_BIN").map(PathBuf::from) {
        if has(&dir) {
            return Ok(dir);
        }
        bail!(bad_input(format!(
            "PG_BIN={} has no initdb and pg_ctl",
            dir.display()
        )));
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has(&dir) {
            return Ok(dir);
        }
    }
    let mut candidates: Vec<(u32, PathBuf)> = Vec::new();
    let globs: &[(&str, &str, &str)] = &[
        ("/usr/lib/postgresql", "", "bin"),
        ("/usr", "pgsql-", "bin"),
        ("/opt/homebrew/opt", "postgresql@", "bin"),
        ("/usr/local/opt", "postgresql@", "bin"),
        ("/Applications/Postgres.app/Contents/Versions", "", "bin"),
        ("C:\\Program Files\\PostgreSQL", "", "bin"),
    ];
    for (parent, prefix, sub) in globs {
        let Ok(rd) = fs::read_dir(parent) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(v) = name.strip_prefix(prefix) {
                let major = v
                    .split('.')
                    .next()
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(0);
                let dir = e.path().join(sub);
                if has(&dir) {
                    candidates.push((major, dir));
                }
            }
        }
    }
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    if let Some((_, dir)) = candidates.into_iter().next() {
        return Ok(dir);
    }
    if let Some(initdb) = util::which("initdb") {
        if let Some(dir) = initdb.parent() {
            if has(dir) {
                return Ok(dir.to_path_buf());
            }
        }
    }
    bail!(bad_input(
        "no PostgreSQL server binaries (initdb, pg_ctl) found. Install them, or point PG_BIN at their folder:\n  \
         Debian/Ubuntu: sudo apt-get install postgresql\n  \
         macOS:         brew install postgresql@16\n  \
         Windows:       winget install PostgreSQL.PostgreSQL.16"
    ))
}
