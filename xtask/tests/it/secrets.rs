//! Passwords from AWS (`--password-from`, `--iam`) through the real aws CLI
//! against moto_server, into a real dev-db over TLS: the secret is written
//! encoded and read back exactly by dotenvy and Node's dotenv; an IAM token
//! made by the real CLI authenticates db-test and migrate, whose migrations
//! run on Prisma's real schema engine (the engine host); every failure path
//! exits with its code, says what to do and writes nothing.
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::moto::{clean_env, Moto, REGION};
use crate::support::proxy::{Fault, Proxy};
use crate::support::*;
use serde_json::json;

const MIGRATIONS: [&str; 2] = [
    "20261101000000_init",
    "20261124000001_add_saved_comparables",
];

/// Every character that breaks URLs and dotenv, and a space.
const HARD: &str = "p@ss#w$rd&5%0/x:y?z=1+2'q\"b\\s pace";
/// What moto's RDS-managed secret always holds.
const MOTO_MANAGED: &str = "P@55w0rd!";

/// Runs the xtask with exactly `env` (no developer AWS_* leaks in).
fn run(project: &Path, args: &[&str], env: &[(String, String)]) -> Run {
    let mut cmd = Command::new(xtask_bin());
    cmd.arg("--project-dir").arg(project).args(args);
    cmd.current_dir(project);
    clean_env(&mut cmd, env);
    let out = cmd.stdin(Stdio::null()).output().expect("run xtask");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A project whose .env.local holds `url`; returns it and the file's text.
fn project(url: &str) -> (TempDir, String) {
    let dir = TempDir::new("secrets");
    let text = format!("# the app's database\nDATABASE_URL=\"{url}\"\n");
    std::fs::write(dir.path().join(".env.local"), &text).unwrap();
    (dir, text)
}

/// Nothing written: the file is as it was and no backup was made.
fn assert_untouched(dir: &Path, text: &str) {
    assert_eq!(
        std::fs::read_to_string(dir.join(".env.local")).unwrap(),
        text
    );
    assert!(!dir.join(".env.local.bak.local").exists(), "a backup");
}

fn file_url(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join(".env.local")).unwrap();
    dotenvy::from_read_iter(text.as_bytes())
        .map(|r| r.unwrap())
        .find(|(k, _)| k == "DATABASE_URL")
        .unwrap()
        .1
}

/// `ALTER ROLE app PASSWORD '...'` through the dev-db's superuser.
fn set_app_password(db: &DevDb, password: &str) {
    let sql = format!("ALTER ROLE app PASSWORD '{}'", password.replace('\'', "''"));
    db.admin().batch_execute(&sql).unwrap();
}

fn connect_app(db: &DevDb, password: &str) {
    let mut c = db.app_config();
    c.password(password);
    connect(c, true).simple_query("select 1").unwrap();
}

#[test]
fn a_secret_with_every_hard_character_is_written_encoded_and_authenticates() {
    let m = Moto::start();
    m.fixture_with_secrets(
        json!({}),
        json!({"summitly/app-db": json!({"username": "app", "password": HARD}).to_string()}),
    );
    let db = DevDb::start(&[]);
    set_app_password(&db, HARD);
    let (dir, _) = project(&format!(
        "postgresql://app:[YOUR-PASSWORD]@127.0.0.1:{}/summitly?sslmode=require",
        db.port
    ));
    let r = run(
        dir.path(),
        &["env-fix", "--password-from", "aws-secret:summitly/app-db"],
        &m.env(),
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_no_secret(&r.all(), HARD);
    assert!(
        r.stdout
            .contains("password set from AWS Secrets Manager secret summitly/app-db"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("ms)"), "the fetch's time: {}", r.stderr);
    // dotenvy, as a Rust app reads it.
    let url = file_url(dir.path());
    assert_eq!(password_of(&url), HARD);
    // Node's dotenv, as the Next.js app and Prisma read it.
    let dotenv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/dotenv");
    let js = format!(
        "require({:?}).config({{path: '.env.local', quiet: true}}); process.stdout.write(process.env.DATABASE_URL)",
        dotenv.display().to_string()
    );
    let node = Command::new("node")
        .args(["-e", &js])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(node.status.success(), "{:?}", node);
    assert_eq!(String::from_utf8(node.stdout).unwrap(), url);
    // The URL authenticates over TLS, and db-test agrees.
    connect_app(&db, &password_of(&url));
    let t = run(dir.path(), &["db-test", "--quick", "--json"], &m.env());
    assert_eq!(t.code, 0, "{}", t.all());
    assert_no_secret(&t.all(), HARD);
    // The fetched secret was never written elsewhere.
    assert_no_secret_in_files(dir.path(), HARD, &[".env.local", ".env.local.bak.local"]);
}

#[test]
fn the_rds_managed_secret_is_found_from_the_instance_and_its_user_checked() {
    let m = Moto::start();
    let ids = m.fixture(json!({"managed": ["summitly-prod"]}));
    let host = ids["endpoint"].as_str().unwrap();
    // moto's managed secret is always the master user `admin`'s.
    let (dir, text) = project(&format!(
        "postgresql://summitly_admin:[YOUR-PASSWORD]@{host}:5432/summitly?sslmode=require"
    ));
    let r = run(
        dir.path(),
        &["env-fix", "--password-from", "aws-rds-managed"],
        &m.env(),
    );
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains("is the master user `admin`'s, but the URL's user is `summitly_admin`"),
        "{}",
        r.stderr
    );
    assert_no_secret(&r.all(), MOTO_MANAGED);
    assert_untouched(dir.path(), &text);

    let (dir, _) = project(&format!(
        "postgresql://admin:[YOUR-PASSWORD]@{host}:5432/summitly?sslmode=require"
    ));
    let r = run(
        dir.path(),
        &["env-fix", "--password-from", "aws-rds-managed", "--json"],
        &m.env(),
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_no_secret(&r.all(), MOTO_MANAGED);
    let v = last_json(&r.stdout);
    assert_eq!(v["changes"][0]["kind"], "password", "{v}");
    assert_eq!(password_of(&file_url(dir.path())), MOTO_MANAGED);
}

/// A token the real CLI signs offline with the emulator's fixed dummy keys.
fn real_token(m: &Moto, port: u16) -> String {
    let mut cmd = Command::new(m.venv.join("bin/aws"));
    cmd.args(["rds", "generate-db-auth-token", "--hostname", "127.0.0.1"])
        .args(["--port", &port.to_string(), "--username", "app"])
        .args(["--region", REGION]);
    clean_env(&mut cmd, &m.env());
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!((250..1500).contains(&token.len()), "{}", token.len());
    for c in ['%', '&', '/', ':', '=', '?'] {
        assert!(token.contains(c), "a token has {c}");
    }
    token
}

#[test]
fn an_iam_token_authenticates_db_test_and_migrate_through_the_environment_only() {
    let m = Moto::start();
    let db = DevDb::start(&[]);
    let token = real_token(&m, db.port);
    set_app_password(&db, &token);
    // The token is signed over the current second, so the one set as the
    // role's password is replayed to the xtask by a stand-in for this one
    // call; every other call goes to the real CLI.
    let (bin, mut env) =
        m.env_with_stand_in(json!({"rds generate-db-auth-token": {"text": token}}));
    // Through a proxy that passes db-test's connection and migrate's
    // preflight, then closes Prisma's first connection check (P1017).
    let proxy = Proxy::start_plan(
        db.port,
        vec![Fault::Pass, Fault::Pass, Fault::CloseOnAccept],
    );
    // No password and no sslmode: --iam adds the token and sslmode=require.
    let app = App::new(Some(&format!(
        "DATABASE_URL=postgresql://app@127.0.0.1:{}/summitly\n",
        proxy.port
    )));
    let before = std::fs::read_to_string(app.path().join(".env.local")).unwrap();

    let t = run(app.path(), &["db-test", "--iam", "--quick", "--json"], &env);
    assert_eq!(t.code, 0, "{}", t.all());
    assert_no_secret(&t.all(), &token);
    let v = last_json(&t.stdout);
    assert_eq!(v["targets"][0]["sslmode"], "require", "{v}");
    assert!(t
        .stderr
        .contains("sslmode=require: IAM authentication needs TLS"));

    // P1017 on the first attempt: the retry gets a token of its own.
    env.extend(app.spied_engine_env());
    let r = run(
        app.path(),
        &["migrate", "--iam", "--deploy", "--retry-delay", "0.1"],
        &env,
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_no_secret(&r.all(), &token);
    assert!(
        r.stderr
            .contains("P1017 (the server closed the connection); retrying"),
        "{}",
        r.stderr
    );
    assert_eq!(app.attempts(), 2);
    // The token authenticated Prisma's engine: the migrations are in.
    assert_eq!(db.finished(), MIGRATIONS);
    assert!(
        r.stderr
            .contains("password from an IAM authentication token ("),
        "{}",
        r.stderr
    );
    let call = app.engine_call("can-connect-to-database");
    let ancestors = call["ancestors"].as_array().unwrap();
    let cli = app.prisma_cli_process();
    let url = cli["DATABASE_URL"].as_str().unwrap();
    assert_eq!(
        password_of(url),
        token,
        "encoded so it decodes back exactly"
    );
    assert!(url.contains("%25"), "`%` is sent as %25");
    for a in ancestors {
        let cmdline = a["cmdline"].to_string();
        if cmdline.contains("xtask") {
            break;
        }
        assert_no_secret(&cmdline, &token);
    }
    connect_app(&db, &password_of(url));
    assert_eq!(
        m.stand_in_calls()
            .iter()
            .filter(|c| *c == "rds generate-db-auth-token")
            .count(),
        3,
        "one token for db-test, one per migrate attempt"
    );
    // The aws CLI's own argv holds only IDs.
    let argv = std::fs::read_to_string(bin.join("argv.log")).unwrap();
    assert!(argv.contains("\"--hostname\", \"127.0.0.1\""), "{argv}");
    assert_no_secret(&argv, &token);
    assert_eq!(
        std::fs::read_to_string(app.path().join(".env.local")).unwrap(),
        before
    );
    assert_no_secret_in_files(app.path(), &token, &[]);
}

/// One failure: exit code, a phrase of the message, nothing written.
fn fails(dir: &Path, text: &str, args: &[&str], env: &[(String, String)], code: i32, says: &str) {
    let r = run(dir, args, env);
    assert_eq!(r.code, code, "{args:?}: {}", r.all());
    assert!(
        r.stderr.contains(says),
        "{args:?}: wanted `{says}` in\n{}",
        r.all()
    );
    assert_no_secret(&r.all(), HARD);
    assert_untouched(dir, text);
}

#[test]
fn every_failure_path_says_what_to_do_and_writes_nothing() {
    let m = Moto::start();
    let ids = m.fixture_with_secrets(
        json!({"extra_instances": ["summitly-iam"]}),
        json!({"no-key": json!({"username": "app", "pw": HARD}).to_string(), "ok": HARD}),
    );
    let host = ids["endpoint"].as_str().unwrap();
    let url = format!("postgresql://summitly_admin:[YOUR-PASSWORD]@{host}:5432/summitly");
    let (dir, text) = project(&url);
    let d = dir.path();
    let env = m.env();
    let secret = |id: &str| {
        vec![
            "env-fix".to_string(),
            "--password-from".into(),
            format!("aws-secret:{id}"),
        ]
    };
    fn a(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    let mut no_aws = env.clone();
    no_aws[0].1 = "/usr/bin:/bin".into();
    fails(
        d,
        &text,
        &a(&secret("ok")),
        &no_aws,
        1,
        "no `aws` command on PATH",
    );
    let no_creds: Vec<_> = env
        .iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"))
        .cloned()
        .collect();
    fails(
        d,
        &text,
        &a(&secret("ok")),
        &no_creds,
        1,
        "found no usable credentials",
    );
    fails(
        d,
        &text,
        &a(&secret("missing")),
        &env,
        2,
        "secret missing not found in region ca-central-1",
    );
    fails(
        d,
        &text,
        &a(&secret("no-key")),
        &env,
        2,
        "has no `password` key (its keys: pw, username)",
    );
    fails(
        d,
        &text,
        &a(&secret("ok#password")),
        &env,
        2,
        "is a plain string, not JSON",
    );
    fails(
        d,
        &text,
        &["env-fix", "--password-from", "aws-rds-managed"],
        &env,
        2,
        "keeps no managed master user secret",
    );
    fails(
        d,
        &text,
        &["env-fix", "--iam"],
        &env,
        2,
        "never belongs in .env.local",
    );
    fails(
        d,
        &text,
        &["env-fix", "--password-from", "vault:x"],
        &env,
        2,
        "--password-from takes aws-secret:ID[#key] or aws-rds-managed",
    );
    fails(
        d,
        &text,
        &["db-test", "--iam"],
        &env,
        2,
        "has IAM database authentication disabled",
    );
    fails(
        d,
        &text,
        &["migrate", "--deploy", "--iam"],
        &env,
        2,
        "has IAM database authentication disabled",
    );
    fails(
        d,
        &text,
        &["onboard", "--iam"],
        &env,
        2,
        "an IAM token expires 15 minutes",
    );

    // Last: moto checks IAM policies from here on.
    let keys = m
        .fixture(json!({"deny_action": "secretsmanager:GetSecretValue", "identifier": "other"}))
        ["keys"]
        .clone();
    let denied: Vec<_> = env
        .iter()
        .map(|(k, v)| match k.as_str() {
            "AWS_ACCESS_KEY_ID" => (k.clone(), keys["id"].as_str().unwrap().to_string()),
            "AWS_SECRET_ACCESS_KEY" => (k.clone(), keys["secret"].as_str().unwrap().to_string()),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    fails(
        d,
        &text,
        &a(&secret("ok")),
        &denied,
        1,
        "access denied: your AWS identity may not call secretsmanager:GetSecretValue",
    );
}

#[test]
fn onboard_fills_the_example_from_a_secret() {
    let m = Moto::start();
    m.fixture_with_secrets(json!({}), json!({"dev/db": HARD}));
    let db = DevDb::start(&[]);
    set_app_password(&db, HARD);
    let app = App::new(None);
    std::fs::write(
        app.path().join(".env.example"),
        format!("DATABASE_URL=\"postgresql://app:[YOUR-PASSWORD]@127.0.0.1:{}/summitly?sslmode=require\"\n", db.port),
    )
    .unwrap();
    let r = run(
        app.path(),
        &[
            "onboard",
            "--password-from",
            "aws-secret:dev/db",
            "--yes",
            "--engine",
            "wasm",
            "--json",
        ],
        &m.env(),
    );
    assert_no_secret(&r.all(), HARD);
    let v = last_json(&r.stdout);
    assert_eq!(r.code, 0, "{}", r.all());
    // Prisma's engine authenticated with the secret as written: migrated.
    assert_eq!(db.finished(), MIGRATIONS);
    let env_step = &v["steps"][1];
    assert_eq!(
        env_step["detail"],
        ".env.local created from .env.example with AWS Secrets Manager secret dev/db"
    );
    assert_eq!(password_of(&file_url(app.path())), HARD);
}

#[test]
fn the_aws_clis_answer_is_never_quoted_in_an_error() {
    let m = Moto::start();
    let (_, env) = m.env_with_stand_in(
        json!({"secretsmanager get-secret-value": {"text": format!("not json: {HARD}")}}),
    );
    let (dir, text) = project("postgresql://app:[YOUR-PASSWORD]@127.0.0.1:5432/summitly");
    let r = run(
        dir.path(),
        &["env-fix", "--password-from", "aws-secret:x"],
        &env,
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("printed something that is not JSON"),
        "{}",
        r.stderr
    );
    assert!(!r.all().contains("not json"), "{}", r.all());
    assert_no_secret(&r.all(), HARD);
    assert_untouched(dir.path(), &text);
}

#[test]
fn onboard_sets_a_rotated_password_in_an_existing_env_local() {
    let m = Moto::start();
    let (bin, env) = m.env_with_stand_in(json!({}));
    m.fixture_with_secrets(json!({}), json!({"dev/db": HARD}));
    let db = DevDb::start(&[]);
    set_app_password(&db, HARD);
    let app = App::new(Some(&format!("DATABASE_URL={}\n", db.url)));
    let r = run(
        app.path(),
        &[
            "onboard",
            "--password-from",
            "aws-secret:dev/db",
            "--yes",
            "--engine",
            "wasm",
            "--json",
        ],
        &env,
    );
    assert_no_secret(&r.all(), HARD);
    assert_eq!(r.code, 0, "{}", r.all());
    // Prisma's engine authenticated with the rotated password: migrated.
    assert_eq!(db.finished(), MIGRATIONS);
    let v = last_json(&r.stdout);
    assert!(
        v["steps"][2]["detail"]
            .as_str()
            .unwrap()
            .contains("repaired password"),
        "{v}"
    );
    assert_eq!(password_of(&file_url(app.path())), HARD);
    let argv = std::fs::read_to_string(bin.join("argv.log")).unwrap();
    assert_eq!(argv.lines().count(), 1, "one fetch: {argv}");
    assert!(argv.contains("\"--secret-id\", \"dev/db\""), "{argv}");
    assert_no_secret(&argv, HARD);
}
