//! `cargo xtask report` against the dev-db: the sections, a file readable
//! by its owner only and never written over, no password in any spelling,
//! and a report written when db-test fails (what it is for).

use std::fs;

use crate::support::*;

fn report(app: &App, args: &[&str]) -> Run {
    let mut a = vec!["--project-dir", app.path().to_str().unwrap(), "report"];
    a.extend_from_slice(args);
    xtask(&a, app.path(), &[], None)
}

fn written(app: &App) -> (std::path::PathBuf, String) {
    let f = fs::read_dir(app.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("xtask-report-")
        })
        .expect("a report file");
    let text = fs::read_to_string(&f).unwrap();
    (f, text)
}

#[test]
fn a_report_against_the_dev_db_has_every_section_and_is_private() {
    let db = DevDb::start(&[]);
    let app = App::new(Some(&format!("DATABASE_URL=\"{}\"\n", db.url)));
    let r = report(&app, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_no_secret(&r.all(), &db.password);
    let (file, text) = written(&app);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    for section in [
        "## Versions",
        "## Where the URLs come from",
        "## db-test",
        "## What this report could not find out",
    ] {
        assert!(text.contains(section), "{section}:\n{text}");
    }
    assert!(
        text.contains("- Prisma CLI 7.10.1 (the project's pinned package)"),
        "{text}"
    );
    assert!(
        text.contains("- prisma.config.ts gives Prisma's CLI the URL in DATABASE_URL"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "postgresql://app:****@127.0.0.1:{}/summitly",
            db.port
        )),
        "{text}"
    );
    assert!(
        text.contains("- verdict: ok (every check passed)"),
        "{text}"
    );
    for s in spellings(&db.password) {
        assert!(
            !text.contains(&s),
            "the password, spelled {s:?}, is in the report"
        );
    }
}

/// Passwords in every spelling (raw in one URL, percent-encoded in
/// another, a `password=` parameter in a third), and a server that does
/// not answer: the report is still written, with the failure, and none of
/// the passwords in any spelling.
#[test]
fn no_password_in_any_spelling_and_a_failing_db_test_still_reports() {
    let closed = free_port();
    let (p1, p2, p3) = ("p@ss#w$rd:1", "Sup3r/secret%", "param-secret-3&x");
    let env = format!(
        "DATABASE_URL=postgresql://app:{p1}@127.0.0.1:{closed}/db?sslmode=disable\nDIRECT_URL=\"postgresql://app:{}@127.0.0.1:{closed}/db\"\nSHADOW_DATABASE_URL=\"postgresql://app@127.0.0.1:{closed}/shadow?password={}\"\n",
        encode(p2),
        encode(p3)
    );
    let app = App::new(Some(&env));
    let r = report(&app, &["--json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let v = one_json(&r);
    assert!(v["file"].as_str().unwrap().contains("xtask-report-"), "{v}");
    let (_, text) = written(&app);
    assert!(
        text.contains("- verdict: tcp_refused at layer tcp"),
        "{text}"
    );
    for p in [p1, p2, p3] {
        for s in spellings(p) {
            assert!(
                !text.contains(&s),
                "{p} spelled {s:?} is in the report:\n{text}"
            );
            assert!(!r.all().contains(&s), "{p} spelled {s:?} is in the output");
        }
    }
}

#[test]
fn an_existing_file_is_never_written_over() {
    let app = App::new(Some(
        "DATABASE_URL=postgresql://app:x-secret-9@127.0.0.1:1/db\n",
    ));
    let out = app.path().join("mine.md");
    fs::write(&out, "keep me\n").unwrap();
    let r = report(&app, &["--out", out.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("exists: a report is never written over a file"),
        "{}",
        r.all()
    );
    assert_eq!(fs::read_to_string(&out).unwrap(), "keep me\n");
}

/// `--redact-hosts`, for a public issue: an RDS host name (reached at
/// 127.0.0.1 through `hostaddr`, so nothing is resolved or sent off this
/// machine) and every address become placeholders; the file says so.
#[test]
fn redact_hosts_replaces_host_names_and_addresses() {
    let closed = free_port();
    let host = "summitly-prod.c9akciq32abc.eu-west-1.rds.amazonaws.com";
    let app = App::new(Some(&format!(
        "DATABASE_URL=postgresql://app:r3dact-me@{host}:{closed}/db?hostaddr=127.0.0.1&sslmode=require\n"
    )));
    // The report's rds-check part runs whatever `aws` CLI is on PATH: its
    // calls go to a closed loopback port, with credentials that are not
    // anyone's, so nothing leaves this machine.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let a = [
        "--project-dir",
        app.path().to_str().unwrap(),
        "report",
        "--redact-hosts",
    ];
    let aws_dir = TempDir::new("no-aws");
    let (config, creds) = (
        aws_dir.path().join("config").display().to_string(),
        aws_dir.path().join("credentials").display().to_string(),
    );
    let env = [
        ("AWS_ENDPOINT_URL", nowhere.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", creds.as_str()),
    ];
    let r = xtask(&a, app.path(), &env, None);
    assert_eq!(r.code, 0, "{}", r.all());
    let (_, text) = written(&app);
    for leak in [
        host,
        "summitly-prod",
        "c9akciq32abc",
        "127.0.0.1",
        "r3dact-me",
    ] {
        assert!(!text.contains(leak), "{leak} is in the report:\n{text}");
    }
    assert!(text.contains("host-1"), "{text}");
    assert!(text.contains("ip-1"), "{text}");
    assert!(text.contains("replaced by stable placeholders"), "{text}");
    // rds-check ran (and could not reach AWS), or no aws CLI is installed.
    assert!(
        text.contains("- for host-1 (instance") || text.contains("- not run: no aws CLI"),
        "{text}"
    );
}

/// `migrate` keeps a summary of its last run for this project (0600, in
/// the target directory) and the report carries it: the outcome, each
/// attempt's code and the diagnosis, with the password masked.
#[test]
fn the_last_migrate_run_is_in_the_report() {
    let db = DevDb::start(&[]);
    let app = App::new(Some(&format!("DATABASE_URL=\"{}\"\n", db.url)));
    let r = report(&app, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let (first, text) = written(&app);
    assert!(
        text.contains("- the last migrate run: none kept for this project"),
        "{text}"
    );
    fs::remove_file(first).unwrap();
    app.add_migration(
        "20261201000000_half",
        "CREATE TABLE \"Half\" (id int);\nSELECT 1/0;\n",
    );
    let m = app.migrate_wasm(&["--deploy"], &[]);
    assert_eq!(m.code, 1, "{}", m.all());
    let r = report(&app, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let (_, text) = written(&app);
    for line in [
        "## The last migrate run",
        "- migrate --deploy on the wasm engine: failed, exit 1, 1 attempt(s)",
        "- attempt 1: P3018 after",
        "- applied: 20261101000000_init, 20261124000001_add_saved_comparables",
        "- diagnosis: P3018: fix the SQL in prisma/migrations/20261201000000_half/migration.sql",
    ] {
        assert!(text.contains(line), "{line}:\n{text}");
    }
    assert!(text.contains("- finished 20"), "{text}");
    assert_no_secret(&text, &db.password);
    // Kept readable by its owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Where the xtask keeps it: its target directory, as Ctx finds it.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .parent()
                    .unwrap()
                    .join("target")
            });
        let name = app
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let kept = fs::read_dir(target.join("xtask"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                let text = fs::read_to_string(p).unwrap_or_default();
                text.lines()
                    .next()
                    .is_some_and(|l| l.starts_with("project: ") && l.ends_with(&name))
            })
            .expect("the kept summary");
        assert_eq!(
            fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

/// An RDS URL (moto's instance; `hostaddr=127.0.0.1` keeps db-test on
/// loopback, where nothing listens): the report carries rds-check's checks
/// from the real aws CLI against the emulator, and neither version of the
/// file holds a password in any spelling: an IAM token the real CLI signed
/// as the URL's password, a password in a `password=` parameter, and a
/// Secrets Manager value in the account.
#[cfg(unix)]
#[test]
fn an_rds_url_gets_rds_check_and_no_secret_in_either_version() {
    use crate::support::moto::{clean_env, Moto, REGION};
    use crate::support::rds::{host, PASSWORD};
    let m = Moto::start();
    let from_sm = "Sm-v4lue/with+plus&amp=";
    m.fixture_with_secrets(
        serde_json::json!({"allow_cidr": "198.51.100.0/24"}),
        serde_json::json!({ "summitly/prod": format!("{{\"password\":\"{from_sm}\"}}") }),
    );
    let mut cmd = std::process::Command::new(m.venv.join("bin/aws"));
    cmd.args(["rds", "generate-db-auth-token", "--hostname", &host()])
        .args([
            "--port",
            "5432",
            "--username",
            "summitly_admin",
            "--region",
            REGION,
        ]);
    clean_env(&mut cmd, &m.env());
    let token = String::from_utf8(cmd.output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(token.contains("X-Amz-Signature="), "{token}");
    let port = free_port();
    let app = App::new(Some(&format!(
        "DATABASE_URL=postgresql://summitly_admin:{}@{}:{port}/summitly?sslmode=require&hostaddr=127.0.0.1\n\
         DIRECT_URL=postgresql://summitly_admin@{}:{port}/summitly?password={}&hostaddr=127.0.0.1\n",
        encode(&token),
        host(),
        host(),
        encode(PASSWORD)
    )));
    for (args, redacted) in [(vec![], false), (vec!["--redact-hosts"], true)] {
        let mut cmd = std::process::Command::new(xtask_bin());
        cmd.args(["--project-dir", app.path().to_str().unwrap(), "report"])
            .args(&args)
            .current_dir(app.path());
        clean_env(&mut cmd, &m.env());
        let out = cmd.output().unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(0), "{all}");
        let (file, text) = written(&app);
        fs::remove_file(&file).unwrap();
        assert!(text.contains("## rds-check"), "{text}");
        assert!(text.contains("security_group"), "{text}");
        assert!(text.contains("instance summitly-prod"), "{text}");
        for secret in [token.as_str(), PASSWORD, from_sm] {
            assert_no_secret(&text, secret);
            assert_no_secret(&all, secret);
        }
        assert_eq!(!text.contains(&host()), redacted, "{text}");
    }
}
