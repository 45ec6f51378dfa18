//! One meaning per exit status, in every command: each command is run on the
//! same bad inputs and must answer with the same code (README: 0 success,
//! 1 something failed, 2 bad usage or input).

use crate::support::*;
use std::fs;

/// Runs `cargo xtask --project-dir DIR <cmd> <args>` with DATABASE_URL unset.
fn run(dir: &TempDir, cmd: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = vec!["--project-dir", dir.path().to_str().unwrap()];
    all.extend_from_slice(cmd);
    xtask(&all, dir.path(), env, None)
}

/// The commands that read DATABASE_URL, as each is run on a bad one.
const READERS: &[&[&str]] = &[&["db-test"], &["migrate", "--deploy"], &["env-fix"]];

fn project_with(env_local: &str) -> TempDir {
    let dir = TempDir::new("exit");
    fs::write(dir.path().join(".env.local"), env_local).unwrap();
    dir
}

#[test]
fn an_unknown_option_is_2_everywhere() {
    let dir = TempDir::new("exit");
    for cmd in [
        &["onboard"][..],
        &["env-fix"],
        &["db-test"],
        &["migrate", "--deploy"],
        &["dev-db", "status"],
    ] {
        let r = run(&dir, &[cmd, &["--bogus"]].concat(), &[]);
        assert_eq!(r.code, 2, "{cmd:?}: {}", r.all());
        assert!(
            r.stderr.contains("unknown option `--bogus`"),
            "{cmd:?}: {}",
            r.stderr
        );
    }
    let r = run(&dir, &["no-such-command"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("unknown command `no-such-command`"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_urls_are_2_in_every_command_that_reads_them() {
    // (case, line, what every command's message says about it)
    for (what, line, says) in [
        (
            "invalid port",
            "DATABASE_URL=postgresql://app:hunter2-x@db.example.com:99999/app\n",
            "port `99999` of host `db.example.com` is not a number from 1 to 65535",
        ),
        (
            "placeholder password",
            "DATABASE_URL=postgresql://app:[YOUR-PASSWORD]@db.example.com/app\n",
            "has a placeholder instead of a password",
        ),
        (
            "not postgres",
            "DATABASE_URL=mysql://app:hunter2-x@db.example.com/app\n",
            "`mysql://` is not a PostgreSQL URL",
        ),
        (
            "unparsable file",
            "DATABASE_URL=\"postgresql://app:hunter2-x@db.example.com/app\n",
            "line 1: a quote opened here is never closed",
        ),
    ] {
        for cmd in READERS {
            let dir = project_with(line);
            let r = run(&dir, cmd, &[]);
            assert_eq!(r.code, 2, "{what}, {cmd:?}: {}", r.all());
            assert!(r.all().contains(says), "{what}, {cmd:?}: {}", r.all());
            assert_eq!(
                fs::read_to_string(dir.path().join(".env.local")).unwrap(),
                line,
                "{what}, {cmd:?}"
            );
            assert_no_secret(&r.all(), "hunter2-x");
        }
    }
}

#[test]
fn a_missing_url_is_2_in_every_command_that_reads_it() {
    for cmd in READERS {
        let dir = project_with("OTHER=1\n");
        let r = run(&dir, cmd, &[]);
        assert_eq!(r.code, 2, "{cmd:?}: {}", r.all());
        // Each says which variable is missing and where to put it.
        let all = r.all();
        assert!(
            all.contains("DATABASE_URL") && all.contains(".env.local"),
            "{cmd:?}: {all}"
        );
        assert!(
            [
                "is not defined in this file",
                "url_missing",
                "is not set in the environment"
            ]
            .iter()
            .any(|p| all.contains(p)),
            "{cmd:?}: {all}"
        );
    }
}

#[test]
fn an_env_file_that_is_a_directory_is_2() {
    // env-fix exited 1 here although its help says 2.
    let dir = TempDir::new("exit");
    fs::create_dir(dir.path().join(".env.local")).unwrap();
    for cmd in READERS {
        let r = run(&dir, cmd, &[]);
        assert_eq!(r.code, 2, "{cmd:?}: {}", r.all());
        assert!(r.stderr.contains(".env.local"), "{cmd:?}: {}", r.stderr);
    }
}

#[test]
fn version_is_printed_and_exits_0() {
    let dir = TempDir::new("exit");
    for flag in ["--version", "-V"] {
        let r = run(&dir, &[flag], &[]);
        assert_eq!(r.code, 0, "{}", r.all());
        assert_eq!(
            r.stdout.trim(),
            format!("cargo xtask {}", env!("CARGO_PKG_VERSION"))
        );
    }
}
