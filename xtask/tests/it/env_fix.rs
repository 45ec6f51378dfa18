//! env-fix from the command line: bytes on disk, backups, every error path
//! writes nothing, and the password never reaches the output.

use crate::support::*;
use std::fs;
use std::path::Path;

fn project(env_local: &str) -> TempDir {
    let dir = TempDir::new("envfix");
    fs::write(dir.path().join(".env.local"), env_local).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(
            dir.path().join(".env.local"),
            fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    dir
}

fn env_fix(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut all = vec!["--project-dir", dir.to_str().unwrap(), "env-fix"];
    all.extend_from_slice(args);
    xtask(&all, dir, env, stdin)
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn golden_files() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/env-fix");
    let mut n = 0;
    for e in fs::read_dir(&golden).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("before") {
            continue;
        }
        n += 1;
        let before = fs::read(&p).unwrap();
        let after = fs::read(p.with_extension("after")).unwrap();
        let dir = project("");
        fs::write(dir.path().join(".env.local"), &before).unwrap();
        let r = env_fix(dir.path(), &["--no-backup"], &[], None);
        assert_eq!(r.code, 0, "{}: {}", p.display(), r.all());
        assert_eq!(
            fs::read(dir.path().join(".env.local")).unwrap(),
            after,
            "{}",
            p.display()
        );
        let again = env_fix(dir.path(), &["--check"], &[], None);
        assert_eq!(
            again.code,
            0,
            "second run must find nothing: {}",
            again.all()
        );
        assert!(again.stdout.contains("nothing to do"));
        for pw in ["Tr0ub@dor#2024$&x", "pa$$w0rd", "50%off"] {
            assert_no_secret(&r.all(), pw);
        }
    }
    assert_eq!(n, 4, "all golden cases ran");
}

const BROKEN: &str = "# app\nDATABASE_URL=postgresql://app:Sup3r$ecret#1@db.abc.eu-west-1.rds.amazonaws.com:5432/summitly\nOTHER='keep me'\n";
const PW: &str = "Sup3r$ecret#1";

#[test]
fn rewrites_in_place_with_an_ignored_backup() {
    let dir = project(BROKEN);
    fs::write(dir.path().join(".gitignore"), ".env*.local\n").unwrap();
    let r = env_fix(dir.path(), &[], &[], None);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_no_secret(&r.all(), PW);
    let text = fs::read_to_string(dir.path().join(".env.local")).unwrap();
    assert_eq!(text, "# app\nDATABASE_URL=postgresql://app:Sup3r%24ecret%231@db.abc.eu-west-1.rds.amazonaws.com:5432/summitly?sslmode=require&connect_timeout=30&pool_timeout=30\nOTHER='keep me'\n");
    let backup = dir.path().join(".env.local.bak.local");
    assert_eq!(fs::read_to_string(&backup).unwrap(), BROKEN);
    assert_no_secret_in_files(dir.path(), PW, &[".env.local", ".env.local.bak.local"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
            0o600,
            "the backup is as private as the file"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(dir.path().join(".env.local"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    // Git ignores the backup under the Next.js pattern.
    let git = |args: &[&str]| git(dir.path(), args);
    git(&["init", "-q"]);
    assert!(git(&["check-ignore", "-q", ".env.local.bak.local"])
        .status
        .success());

    let again = env_fix(dir.path(), &[], &[], None);
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert_eq!(
        fs::read_to_string(dir.path().join(".env.local")).unwrap(),
        text
    );
}

#[test]
fn a_second_repair_keeps_the_first_backup_the_original() {
    // One backup policy for every writer: env-fix used to overwrite
    // `.env.local.bak.local` on each run, so after two repairs the
    // original was gone.
    let dir = project(BROKEN);
    let first = env_fix(dir.path(), &[], &[], None);
    assert_eq!(first.code, 0, "{}", first.all());
    let repaired = fs::read_to_string(dir.path().join(".env.local")).unwrap();
    let second = env_fix(dir.path(), &["--statement-timeout", "60000"], &[], None);
    assert_eq!(second.code, 0, "{}", second.all());
    assert!(
        second.all().contains(".env.local.bak.2.local"),
        "the second backup is named: {}",
        second.all()
    );
    let backup = |name: &str| fs::read_to_string(dir.path().join(name)).unwrap();
    assert_eq!(backup(".env.local.bak.local"), BROKEN);
    assert_eq!(backup(".env.local.bak.2.local"), repaired);
    assert_no_secret(&second.all(), PW);
}

#[test]
fn check_and_dry_run_write_nothing() {
    let dir = project(BROKEN);
    let r = env_fix(dir.path(), &["--check"], &[], None);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("added sslmode=require"));
    let d = env_fix(dir.path(), &["--dry-run"], &[], None);
    assert_eq!(d.code, 0, "{}", d.all());
    assert!(
        d.stdout
            .contains("-DATABASE_URL=postgresql://app:****@db.abc"),
        "{}",
        d.stdout
    );
    assert!(
        d.stdout
            .contains("+DATABASE_URL=postgresql://app:****@db.abc"),
        "{}",
        d.stdout
    );
    for run in [&r, &d] {
        assert_no_secret(&run.all(), PW);
    }
    assert_eq!(
        fs::read_to_string(dir.path().join(".env.local")).unwrap(),
        BROKEN
    );
    assert_eq!(files(dir.path()), [".env.local"]);
}

#[test]
fn json_output_lists_changes_and_warnings_without_the_password() {
    let dir = project(BROKEN);
    let r = env_fix(
        dir.path(),
        &["--json", "--check"],
        &[("DATABASE_URL", "postgresql://other@h/db")],
        None,
    );
    assert_eq!(r.code, 1);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["changed"], true);
    assert!(v["file"].as_str().unwrap().ends_with(".env.local"));
    let kinds: Vec<&str> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "encoding",
            "sslmode",
            "connect_timeout",
            "pool_timeout",
            "dotenv"
        ]
    );
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert!(warnings.contains(&"shell_override"), "{warnings:?}");
    assert_no_secret(&r.all(), PW);
}

#[test]
fn every_error_path_writes_nothing() {
    let cases: &[(&str, &[&str], &str)] = &[
        // The URL's own quote never closes. (Another line's unclosed quote
        // is set aside with a warning: `env_files::a_line_with_an_unclosed_quote...`.)
        ("A=1\nDATABASE_URL=\"postgresql://u:hunter2@h/db\nB=2\n", &[], "line 2"),
        ("DATABASE_URL=postgresql://u:hunter2@h/db\nX=1\nDATABASE_URL=postgresql://u:hunter2@h/db2\n", &[], "line 1, line 3"),
        ("DATABASE_URL=postgresql://u:[YOUR-PASSWORD]@h/db\n", &[], "--password-stdin"),
        ("DATABASE_URL=mysql://u:hunter2@h/db\n", &[], "not a PostgreSQL URL"),
        ("DATABASE_URL=postgresql://u:hunter2@h:70000/db\n", &[], "port"),
        ("OTHER=1\n", &[], "DATABASE_URL is not defined"),
        ("DATABASE_URL=postgresql://u:hunter2@h/db\n", &["--var", "NOPE"], "NOPE is not defined"),
        ("DATABASE_URL=postgresql://u:hunter2@h/db\n", &["--connect-timeout", "soon"], "--connect-timeout"),
    ];
    for (text, args, needle) in cases {
        let dir = project(text);
        let r = env_fix(dir.path(), args, &[], None);
        assert_eq!(r.code, 2, "{text}: {}", r.all());
        assert!(r.stderr.contains(needle), "{text}: {}", r.stderr);
        assert_no_secret(&r.all(), "hunter2");
        assert_eq!(
            fs::read_to_string(dir.path().join(".env.local")).unwrap(),
            *text,
            "file changed on error"
        );
        assert_eq!(files(dir.path()), [".env.local"], "stray files on error");
    }
    let dir = project("");
    fs::write(dir.path().join(".env.local"), b"DATABASE_URL=\xff\xfe\n").unwrap();
    let r = env_fix(dir.path(), &[], &[], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not UTF-8"), "{}", r.stderr);
}

#[test]
fn missing_file_lists_the_files_that_define_the_variable() {
    let dir = TempDir::new("missing");
    fs::write(
        dir.path().join(".env"),
        "DATABASE_URL=postgresql://u:p@h/db\n",
    )
    .unwrap();
    fs::write(dir.path().join(".env.development"), "OTHER=1\n").unwrap();
    let r = env_fix(dir.path(), &[], &[], None);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains(".env.local: no such file"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("DATABASE_URL is defined in: .env (use --file)"),
        "{}",
        r.stderr
    );
    let r = env_fix(
        dir.path(),
        &[
            "--file",
            dir.path().join(".env").to_str().unwrap(),
            "--no-backup",
        ],
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.all());
}

#[test]
fn warns_about_git_and_permissions() {
    let dir =
        project("DATABASE_URL=postgresql://u:p@localhost/db?connect_timeout=30&pool_timeout=30\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(
            dir.path().join(".env.local"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    let git = |args: &[&str]| git(dir.path(), args);
    git(&["init", "-q"]);
    git(&["add", "-f", ".env.local"]);
    let r = env_fix(dir.path(), &["--json"], &[], None);
    assert_eq!(r.code, 0, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let kinds: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"tracked_by_git"), "{kinds:?}");
    #[cfg(unix)]
    assert!(kinds.contains(&"permissions"), "{kinds:?}");
    assert_eq!(v["changed"], false);
}

#[test]
fn password_from_stdin_authenticates_against_the_dev_db() {
    let db = DevDb::start(&[]);
    let dir = project(&format!(
        "DATABASE_URL=\"postgresql://app:[YOUR-PASSWORD]@127.0.0.1:{}/summitly?sslmode=require\"\n",
        db.port
    ));
    let r = env_fix(
        dir.path(),
        &["--password-stdin"],
        &[],
        Some(&format!("{}\n", db.password)),
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_no_secret(&r.all(), &db.password);
    assert!(r.stdout.contains("password set from standard input"));
    // Read the file as the app would (dotenvy), decode independently, connect.
    let text = fs::read_to_string(dir.path().join(".env.local")).unwrap();
    let vars: Vec<(String, String)> = dotenvy::from_read_iter(text.as_bytes())
        .map(|r| r.unwrap())
        .collect();
    let url = &vars.iter().find(|(k, _)| k == "DATABASE_URL").unwrap().1;
    assert_eq!(password_of(url), db.password);
    let mut c = postgres::Config::new();
    c.host("127.0.0.1")
        .port(db.port)
        .user("app")
        .password(password_of(url))
        .dbname("summitly");
    let mut client = connect(c, true);
    client.simple_query("select 1").unwrap();
}

#[test]
fn a_weak_sslmode_on_a_remote_host_is_raised_unless_kept() {
    // The troubleshooting page's host with sslmode=disable: db-test's
    // `tls_required` hint says env-fix fixes it, so env-fix must.
    let url = "postgresql://summitly_admin:hunter2-x@summitly-prod.c9akciq32.us-east-1.rds.amazonaws.com:5432/summitly?sslmode=disable";
    let dir = project(&format!("DATABASE_URL={url}\n"));
    let r = env_fix(dir.path(), &["--no-backup"], &[], None);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("raised sslmode=disable to require"),
        "{}",
        r.stdout
    );
    let text = fs::read_to_string(dir.path().join(".env.local")).unwrap();
    assert!(
        text.contains("?sslmode=require&connect_timeout=30&pool_timeout=30"),
        "{text}"
    );
    assert_no_secret(&r.all(), "hunter2-x");

    let dir = project(&format!("DATABASE_URL={url}\n"));
    let r = env_fix(dir.path(), &["--no-backup", "--keep-sslmode"], &[], None);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("warn DATABASE_URL: sslmode=disable kept (--keep-sslmode)"),
        "{}",
        r.stdout
    );
    let text = fs::read_to_string(dir.path().join(".env.local")).unwrap();
    assert!(
        text.contains("?sslmode=disable&connect_timeout=30"),
        "{text}"
    );
}

#[test]
fn an_invalid_parameter_value_is_bad_input_and_nothing_is_written() {
    for (param, shown) in [
        ("sslmode=sometimes", "sslmode=`sometimes`"),
        ("connect_timeout=soon", "connect_timeout=`soon`"),
        ("pool_timeout=-1", "pool_timeout=`-1`"),
    ] {
        let before =
            format!("X=1\nDATABASE_URL=postgresql://app:hunter2-x@db.example.com/app?{param}\n");
        let dir = project(&before);
        let r = env_fix(dir.path(), &[], &[], None);
        assert_eq!(r.code, 2, "{param}: {}", r.all());
        assert!(
            r.stderr.contains("DATABASE_URL (line 2) has"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains(shown), "{}", r.stderr);
        assert!(r.stderr.contains("Nothing was written"), "{}", r.stderr);
        assert_eq!(
            fs::read_to_string(dir.path().join(".env.local")).unwrap(),
            before
        );
        assert_eq!(files(dir.path()), [".env.local"]);
        assert_no_secret(&r.all(), "hunter2-x");
    }
}

#[test]
fn relative_file_paths_are_read_from_the_project_dir() {
    // `--file .env` used to be read from the current directory even with
    // --project-dir apps/web.
    let dir = project("");
    fs::remove_file(dir.path().join(".env.local")).unwrap();
    fs::write(
        dir.path().join(".env"),
        "DATABASE_URL=postgresql://app:hunter2-x@localhost/app\n",
    )
    .unwrap();
    let elsewhere = TempDir::new("cwd");
    let r = xtask(
        &[
            "--project-dir",
            dir.path().to_str().unwrap(),
            "env-fix",
            "--file",
            ".env",
            "--no-backup",
        ],
        elsewhere.path(),
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(fs::read_to_string(dir.path().join(".env"))
        .unwrap()
        .contains("connect_timeout=30"));
    assert!(!elsewhere.path().join(".env").exists());
}

#[test]
fn a_url_only_in_the_shell_gets_a_repaired_value_to_export() {
    let dir = project("");
    fs::remove_file(dir.path().join(".env.local")).unwrap();
    let url = "postgresql://app:p@ss-x1@db.example.com:5432/app";
    let r = env_fix(dir.path(), &[], &[("DATABASE_URL", url)], None);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("export DATABASE_URL='postgresql://app:****@db.example.com:5432/app?sslmode=require&connect_timeout=30&pool_timeout=30'"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("--show-secret"), "{}", r.stdout);
    assert_no_secret(&r.all(), "p@ss-x1");
    assert!(files(dir.path()).is_empty(), "nothing written");

    let r = env_fix(dir.path(), &["--check"], &[("DATABASE_URL", url)], None);
    assert_eq!(r.code, 1, "{}", r.all());

    let r = env_fix(
        dir.path(),
        &["--show-secret"],
        &[("DATABASE_URL", url)],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("export DATABASE_URL='postgresql://app:p%40ss-x1@db.example.com"),
        "{}",
        r.stdout
    );
}

/// What Node's dotenv (Next.js's loader) reads from `text`: the oracle for
/// "a file Next.js reads fine".
fn node_dotenv_reads(text: &str) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = std::process::Command::new("node")
        .arg("-e")
        .arg("process.stdout.write(JSON.stringify(require('dotenv').parse(require('fs').readFileSync(0, 'utf8'))))")
        .current_dir(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .expect("node with the project's dotenv (run npm ci)");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_url_pasted_across_lines_is_joined_and_said_so() {
    let tail = "?sslmode=require&connect_timeout=30&pool_timeout=30";
    for (before, after) in [
        // The break before the closing quote: once rewritten with "0 changes".
        (
            format!("DATABASE_URL=\"postgresql://app:pw-x1@db.example.com:5432/summitly{tail}\n\"\nX=1\n"),
            format!("DATABASE_URL=\"postgresql://app:pw-x1@db.example.com:5432/summitly{tail}\"\nX=1\n"),
        ),
        // An indented continuation: the indentation goes with the break.
        (
            format!("DATABASE_URL=\"postgresql://app:pw-x1@db.example.com:5432/\n    summitly{tail}\"\nX=1\n"),
            format!("DATABASE_URL=\"postgresql://app:pw-x1@db.example.com:5432/summitly{tail}\"\nX=1\n"),
        ),
        // The break inside the URL: once a database named `%0Asummitly`.
        (
            format!("DATABASE_URL=\"postgresql://app:pw-x1@db.example.com:5432/\nsummitly{tail}\"\nX=1\n"),
            format!("DATABASE_URL=\"postgresql://app:pw-x1@db.example.com:5432/summitly{tail}\"\nX=1\n"),
        ),
    ] {
        let dir = project(&before);
        let r = env_fix(dir.path(), &["--no-backup"], &[], None);
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(r.stdout.contains("removed the line break(s)"), "{}", r.stdout);
        assert_eq!(fs::read_to_string(dir.path().join(".env.local")).unwrap(), after);
        assert_no_secret(&r.all(), "pw-x1");
    }
}

#[test]
fn a_line_only_dotenvy_rejects_does_not_block_the_repair() {
    // Node's dotenv (Next.js) reads `MY-KEY=1`; dotenvy refuses it.
    let before = "MY-KEY=1\nDATABASE_URL=postgresql://app:pw-x1@localhost/app\n";
    assert_eq!(node_dotenv_reads(before)["MY-KEY"], "1");
    let dir = project(before);
    let r = env_fix(dir.path(), &["--no-backup", "--json"], &[], None);
    assert_eq!(r.code, 0, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let w = &v["warnings"][0];
    assert_eq!(w["kind"], "unreadable_line", "{v}");
    assert!(w["detail"].as_str().unwrap().contains("line 1"), "{v}");
    let after = fs::read_to_string(dir.path().join(".env.local")).unwrap();
    assert!(
        after.starts_with(
            "MY-KEY=1\nDATABASE_URL=postgresql://app:pw-x1@localhost/app?connect_timeout=30"
        ),
        "{after}"
    );
    let node = node_dotenv_reads(&after);
    assert_eq!(node["MY-KEY"], "1");
    assert!(node["DATABASE_URL"]
        .as_str()
        .unwrap()
        .ends_with("pool_timeout=30"));

    // The URL's own line unreadable: refused, naming it, nothing written.
    let before = "DATABASE_URL postgresql://app:pw-x1@localhost/app\n";
    let dir = project(before);
    let r = env_fix(dir.path(), &[], &[], None);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("line 1"), "{}", r.stderr);
    assert_eq!(
        fs::read_to_string(dir.path().join(".env.local")).unwrap(),
        before
    );
}

#[test]
fn backtick_quotes_are_named_not_misread() {
    let before = "DATABASE_URL=`postgresql://app:pw-x1@localhost/app`\n";
    let dir = project(before);
    let r = env_fix(dir.path(), &[], &[], None);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("quoted with backticks"), "{}", r.stderr);
    assert!(r.stderr.contains("dotenvy"), "{}", r.stderr);
    assert_eq!(
        fs::read_to_string(dir.path().join(".env.local")).unwrap(),
        before
    );
    assert_no_secret(&r.all(), "pw-x1");
}

#[test]
fn the_dry_run_diff_never_shows_a_raw_password() {
    // Spaces, quotes and `<` once ended the URL the masking looked for, so
    // the diff's `-` line showed such a password as written.
    for pw in ["p\"ss word<x1", "pa ss>wo'rd2"] {
        let before = format!(
            "A=1\nDATABASE_URL='postgresql://app:{}@db.example.com/app'\n",
            pw.replace('\'', "%27")
        );
        let dir = project(&before);
        let r = env_fix(dir.path(), &["--dry-run"], &[], None);
        assert_eq!(r.code, 0, "{}", r.all());
        assert!(
            r.stdout
                .contains("-DATABASE_URL='postgresql://app:****@db.example.com/app'"),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout.contains(
                "+DATABASE_URL='postgresql://app:****@db.example.com/app?sslmode=require"
            ),
            "{}",
            r.stdout
        );
        assert_no_secret(&r.all(), &pw.replace("%27", "'"));
        assert_eq!(
            fs::read_to_string(dir.path().join(".env.local")).unwrap(),
            before
        );
    }
}
