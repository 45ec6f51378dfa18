//! env-fix under stress: two processes on one file, a full disk, a
//! read-only directory. The original is never lost or half-written.

use crate::support::*;
use std::fs;
use std::path::Path;

const BROKEN: &str = "A=1\nDATABASE_URL=postgresql://app:p@ss$w#rd@db.abc.eu-west-1.rds.amazonaws.com/summitly\nZ='keep $me'\n";

fn fix(dir: &Path, args: &[&str]) -> Run {
    let mut a = vec!["--project-dir", dir.to_str().unwrap(), "env-fix"];
    a.extend_from_slice(args);
    xtask(&a, dir, &[], None)
}

#[test]
fn two_processes_at_once_leave_one_complete_result() {
    // What each would write alone.
    let mut expected = Vec::new();
    for ms in ["1000", "2000"] {
        let d = TempDir::new("alone");
        fs::write(d.path().join(".env.local"), BROKEN).unwrap();
        assert_eq!(
            fix(d.path(), &["--no-backup", "--statement-timeout", ms]).code,
            0
        );
        expected.push(fs::read_to_string(d.path().join(".env.local")).unwrap());
    }
    assert_ne!(expected[0], expected[1]);
    let bin = xtask_bin();
    for round in 0..12 {
        let d = TempDir::new("race");
        let path = d.path().join(".env.local");
        fs::write(&path, BROKEN).unwrap();
        let spawn = |ms: &str| {
            std::process::Command::new(&bin)
                .args([
                    "--project-dir",
                    d.path().to_str().unwrap(),
                    "env-fix",
                    "--statement-timeout",
                    ms,
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        };
        let (mut a, mut b) = (spawn("1000"), spawn("2000"));
        assert!(
            a.wait().unwrap().success() && b.wait().unwrap().success(),
            "round {round}"
        );
        let got = fs::read_to_string(&path).unwrap();
        assert!(
            got == expected[0] || got == expected[1],
            "round {round}: a mix or a truncation:\n{got}"
        );
        // The backup is one complete copy of the original or of the other's result.
        let backup = fs::read_to_string(d.path().join(".env.local.bak.local")).unwrap();
        assert!(
            backup == BROKEN || backup == expected[0] || backup == expected[1],
            "round {round}: backup\n{backup}"
        );
        let stray: Vec<String> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(stray.is_empty(), "temporary files left: {stray:?}");
    }
}

/// Runs `script` in a private mount namespace (so a tmpfs can be mounted
/// for this test alone), as root or, for a normal user, in a user namespace.
#[cfg(target_os = "linux")]
fn in_mount_namespace(script: &str) -> String {
    let root = unsafe { libc_geteuid() } == 0;
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(if root { vec!["-m"] } else { vec!["-r", "-m"] })
        .args(["sh", "-c", script]);
    let out = cmd.output().expect("run unshare (util-linux)");
    assert!(
        out.status.success(),
        "unshare failed; this test needs mount namespaces: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(target_os = "linux")]
extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

#[cfg(target_os = "linux")]
#[test]
fn full_disk_and_read_only_directory_keep_the_original() {
    let work = TempDir::new("disk");
    let mnt = work.path().join("mnt");
    fs::create_dir_all(&mnt).unwrap();
    let src = work.path().join("original");
    fs::write(&src, BROKEN).unwrap();
    let x = xtask_bin();
    let (m, s, x) = (mnt.display(), src.display(), x.display());
    // Each case: mount a tiny tmpfs, put the file there, make writing fail,
    // run env-fix, then report its exit code, the file's bytes and the listing.
    let report = |setup: &str, flags: &str| {
        in_mount_namespace(&format!(
            "set -e; mount -t tmpfs -o size=16k tmpfs {m}; cp {s} {m}/.env.local; {setup}
             set +e; {x} --project-dir {m} env-fix {flags} >/dev/null 2>{m}.err; echo \"exit=$?\"
             echo '--- file'; cat {m}/.env.local; echo '--- ls'; ls -A {m}; echo '--- err'; cat {m}.err"
        ))
    };
    let cases = [
        // Fill the disk, leaving less room than the repaired file needs.
        (
            "dd if=/dev/zero of={m}/fill bs=1k count=64 2>/dev/null || true",
            "--no-backup",
        ),
        (
            "dd if=/dev/zero of={m}/fill bs=1k count=64 2>/dev/null || true",
            "",
        ),
        ("mount -o remount,ro {m}", ""),
    ];
    for (setup, flags) in cases {
        let setup = setup.replace("{m}", &m.to_string());
        let out = report(&setup, flags);
        assert!(
            !out.contains("exit=0"),
            "{setup}: env-fix must fail:\n{out}"
        );
        let file = out
            .split("--- file\n")
            .nth(1)
            .unwrap()
            .split("--- ls")
            .next()
            .unwrap();
        assert_eq!(file, BROKEN, "{setup}: the original changed:\n{out}");
        let ls = out
            .split("--- ls\n")
            .nth(1)
            .unwrap()
            .split("--- err")
            .next()
            .unwrap();
        let names: Vec<&str> = ls.lines().filter(|l| *l != "fill").collect();
        assert_eq!(names, [".env.local"], "{setup}: stray files:\n{out}");
        let err = out.split("--- err\n").nth(1).unwrap();
        assert!(
            err.contains(".env.local")
                && (err.contains("nothing was written") || err.contains("unchanged")),
            "{setup}: {err}"
        );
        assert_no_secret(err, "p@ss$w#rd");
    }
}

/// The full disk again, with `.env.local` a link into the full file
/// system (the file is repaired where the link leads, so its temporary
/// file goes there too): the file byte-identical, the link kept, no
/// temporary file left, and a message that says the disk is full.
#[cfg(target_os = "linux")]
#[test]
fn full_disk_through_a_symlink_keeps_the_original_and_the_link() {
    let work = TempDir::new("disklink");
    let mnt = work.path().join("mnt");
    let app = work.path().join("app");
    fs::create_dir_all(&mnt).unwrap();
    fs::create_dir_all(&app).unwrap();
    let src = work.path().join("original");
    fs::write(&src, BROKEN).unwrap();
    let x = xtask_bin();
    let (m, s, a, x) = (mnt.display(), src.display(), app.display(), x.display());
    let out = in_mount_namespace(&format!(
        "set -e; mount -t tmpfs -o size=16k tmpfs {m}; cp {s} {m}/.env.local; ln -s {m}/.env.local {a}/.env.local
         dd if=/dev/zero of={m}/fill bs=1k count=64 2>/dev/null || true
         set +e; {x} --project-dir {a} env-fix >/dev/null 2>{a}.err; echo \"exit=$?\"
         echo '--- file'; cat {m}/.env.local; echo '--- ls'; ls -A {m}; echo '--- link'; readlink {a}/.env.local; echo '--- err'; cat {a}.err"
    ));
    assert!(!out.contains("exit=0"), "env-fix must fail:\n{out}");
    let part = |from: &str, to: &str| {
        out.split(from)
            .nth(1)
            .unwrap()
            .split(to)
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(part("--- file\n", "--- ls"), BROKEN, "{out}");
    let names: Vec<String> = part("--- ls\n", "--- link")
        .lines()
        .filter(|l| *l != "fill")
        .map(str::to_string)
        .collect();
    assert_eq!(names, [".env.local"], "stray files:\n{out}");
    assert_eq!(
        part("--- link\n", "--- err").trim(),
        format!("{m}/.env.local")
    );
    let err = out.split("--- err\n").nth(1).unwrap();
    assert!(
        err.contains("No space left on device") || err.contains("disk is full"),
        "{err}"
    );
    assert_no_secret(err, "p@ss$w#rd");
}
