//! The report's file: 0600 (it names hosts and users), created new, never
//! over an existing file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::exit::bad_input;

/// `xtask-report-20261204T051800Z.md` in the project directory, and the
/// timestamp as the report says it.
pub fn default_path(project_dir: &Path) -> (PathBuf, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, mo, d, h, mi, s) = civil(secs);
    (
        project_dir.join(format!(
            "xtask-report-{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z.md"
        )),
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC"),
    )
}

/// Seconds since 1970 as the report writes a time.
pub fn utc(secs: u64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// Writes `text` to `path`, which must not exist yet, readable by its
/// owner only.
pub fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            bad_input(format!(
                "{} exists: a report is never written over a file; give another --out",
                path.display()
            ))
        } else {
            bad_input(format!("{}: cannot create it ({e})", path.display()))
        }
    })?;
    if let Err(e) = f.write_all(text.as_bytes()).and_then(|_| f.sync_all()) {
        let _ = std::fs::remove_file(path);
        return Err(anyhow::anyhow!(
            "{}: cannot write it ({e}); nothing was kept",
            path.display()
        ));
    }
    Ok(())
}

/// Seconds since 1970 as a UTC date and time (Howard Hinnant's
/// days-from-civil algorithm, inverted).
fn civil(secs: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(super::civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(super::civil(1_796_362_680), (2026, 12, 4, 5, 38, 0));
    }
}
