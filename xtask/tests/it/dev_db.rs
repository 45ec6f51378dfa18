//! dev-db: the local RDS-like server the other tests and newcomers use.

use crate::support::*;
use std::path::Path;

#[test]
fn lifecycle_up_twice_status_down_purge() {
    let db = DevDb::start(&[]);
    let d = db.data_dir();
    let cwd = db.dir.path();

    let again = xtask(&["dev-db", "up", "--data-dir", &d], cwd, &[], None);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(again.stdout.contains("already running"), "{}", again.stdout);

    let status = xtask(&["dev-db", "status", "--data-dir", &d], cwd, &[], None);
    assert_eq!(status.code, 0, "{}", status.all());
    assert!(status.stdout.contains("running"));
    assert!(status.stdout.contains(&format!("port:      {}", db.port)));
    assert!(status.stdout.contains("TLS:       required"));
    assert!(
        status.stdout.contains("postgresql://app:****@127.0.0.1:"),
        "{}",
        status.stdout
    );
    assert_no_secret(&status.all(), &db.password);

    // Flags before the subcommand: `--data-dir DIR status` once read DIR as
    // the subcommand ("--data-dir needs a value").
    let before = xtask(&["dev-db", "--data-dir", &d, "status"], cwd, &[], None);
    assert_eq!(before.code, 0, "{}", before.all());
    assert_eq!(before.stdout, status.stdout);

    let json = xtask(
        &["dev-db", "status", "--json", "--data-dir", &d],
        cwd,
        &[],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(v["running"], true);
    assert_no_secret(&json.all(), &db.password);

    let down = xtask(&["dev-db", "down", "--data-dir", &d], cwd, &[], None);
    assert_eq!(down.code, 0, "{}", down.all());
    let status = xtask(&["dev-db", "status", "--data-dir", &d], cwd, &[], None);
    assert_eq!(
        status.code,
        1,
        "stopped is reported with exit 1: {}",
        status.all()
    );
    assert!(status.stdout.contains("stopped"));

    // Starting again keeps the port and password, so .env.local stays valid.
    let up = xtask(&["dev-db", "up", "--data-dir", &d], cwd, &[], None);
    assert_eq!(up.code, 0, "{}", up.all());
    let url = xtask(&["dev-db", "url", "--data-dir", &d], cwd, &[], None);
    assert_eq!(url.stdout.trim(), db.url);
    db.app().simple_query("select 1").unwrap();

    let purge = xtask(
        &["dev-db", "down", "--purge", "--data-dir", &d],
        cwd,
        &[],
        None,
    );
    assert_eq!(purge.code, 0, "{}", purge.all());
    assert!(!std::path::Path::new(&d).exists());
}

#[test]
fn plain_connection_is_refused_like_rds() {
    let db = DevDb::start(&[]);
    let mut c = db.app_config();
    c.ssl_mode(postgres::config::SslMode::Disable);
    let err = c
        .connect(postgres::NoTls)
        .err()
        .expect("a plain connection must be refused");
    let msg = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("no encryption"), "{err}");
}

#[test]
fn generated_password_is_awkward_and_authenticates_over_tls() {
    let db = DevDb::start(&[]);
    for c in ['@', '#', '$', '&', '/', ':', '%'] {
        assert!(db.password.contains(c), "password lacks {c}");
    }
    assert!(db.url.contains("sslmode=require"));
    let mut client = db.app();
    let row = client
        .query_one(
            "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
            &[],
        )
        .unwrap();
    assert!(row.get::<_, bool>(0), "the session must be encrypted");
    let enc: String = client
        .query_one("select current_setting('password_encryption')", &[])
        .unwrap()
        .get(0);
    assert_eq!(enc, "scram-sha-256");
}

#[test]
fn no_tls_option_serves_plain_connections() {
    let db = DevDb::start(&["--no-tls"]);
    assert!(!db.tls);
    assert!(!db.url.contains("sslmode"));
    db.app().simple_query("select 1").unwrap();
}

#[test]
fn max_connections_and_idle_session_timeout_take_effect() {
    let db = DevDb::start(&["--max-connections", "6", "--idle-session-timeout", "1"]);
    let mut admin = db.admin();
    let max: String = admin.query_one("show max_connections", &[]).unwrap().get(0);
    assert_eq!(max, "6");
    drop(admin);

    // 6 slots, 3 reserved for superusers: the fourth app connection is refused.
    let mut held = Vec::new();
    let mut refused = None;
    for _ in 0..4 {
        let mut c = db.app_config();
        c.ssl_mode(postgres::config::SslMode::Require);
        let tls = postgres_native_tls::MakeTlsConnector::new(
            native_tls::TlsConnector::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .unwrap(),
        );
        match c.connect(tls) {
            Ok(client) => held.push(client),
            Err(e) => refused = Some(e),
        }
    }
    assert_eq!(held.len(), 3);
    let e = refused.expect("the fourth connection must be refused");
    assert_eq!(e.code().map(|c| c.code()), Some("53300"), "{e}");
    drop(held);

    let mut c = db.app();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert!(
        c.simple_query("select 1").is_err(),
        "an idle session must be closed by the server"
    );
}

#[test]
fn bad_usage_exits_2_with_a_hint() {
    let dir = TempDir::new("usage");
    let r = xtask(&["dev-db", "sideways"], dir.path(), &[], None);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unknown dev-db command `sideways`") && r.stderr.contains("--help"),
        "{}",
        r.stderr
    );
    let r = xtask(
        &["dev-db", "up", "--max-connections", "2"],
        dir.path(),
        &[],
        None,
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("at least 5"), "{}", r.stderr);
    let r = xtask(&["dev-db", "up", "--bogus"], dir.path(), &[], None);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unknown option `--bogus` for `dev-db`"),
        "{}",
        r.stderr
    );
    let r = xtask(
        &["dev-db", "status", "--data-dri", "x"],
        dir.path(),
        &[],
        None,
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("unknown option `--data-dri` for `dev-db`; did you mean `--data-dir`?"),
        "{}",
        r.stderr
    );
    let r = xtask(&["nonsense"], dir.path(), &[], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown command `nonsense`"));
    let r = xtask(&[], dir.path(), &[], None);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("dev-db"));
    let r = xtask(&["dev-db", "--help"], dir.path(), &[], None);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Example:"));
}

#[test]
fn missing_server_binaries_exit_2_with_install_hints() {
    let dir = TempDir::new("nobin");
    let d = dir.path().join("c");
    let r = xtask(
        &["dev-db", "up", "--data-dir", d.to_str().unwrap()],
        dir.path(),
        &[("PG_BIN", "/nonexistent")],
        None,
    );
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("PG_BIN=/nonexistent"), "{}", r.stderr);
}

#[test]
fn write_env_keeps_other_lines() {
    let project = TempDir::new("proj");
    let env = project.path().join(".env.local");
    std::fs::write(&env, "# mine\r\nAPI_KEY='k $x'\r\nDATABASE_URL=old\r\nZ=1").unwrap();
    let data = project.path().join("cluster");
    let r = xtask(
        &[
            "--project-dir",
            project.path().to_str().unwrap(),
            "dev-db",
            "up",
            "--write-env",
            "--port",
            "0",
            "--stop-after",
            "600",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        project.path(),
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let url = xtask(
        &["dev-db", "url", "--data-dir", data.to_str().unwrap()],
        project.path(),
        &[],
        None,
    )
    .stdout
    .trim()
    .to_string();
    let text = std::fs::read_to_string(&env).unwrap();
    assert_eq!(
        text,
        format!("# mine\r\nAPI_KEY='k $x'\r\nDATABASE_URL={url}&connect_timeout=30&pool_timeout=30\r\nZ=1")
    );
    assert_no_secret(&r.all(), &password_of(&url));
    xtask(
        &[
            "dev-db",
            "down",
            "--purge",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        project.path(),
        &[],
        None,
    );
}

#[test]
fn write_env_never_loses_a_url_of_another_database_and_creates_private_files() {
    // An RDS URL in .env.local used to be replaced without a backup or a word.
    let project = TempDir::new("proj");
    let env = project.path().join(".env.local");
    let rds = "postgresql://summitly_admin:Tr0ub%40dor-2024@summitly-prod.c9akciq32.us-east-1.rds.amazonaws.com:5432/summitly?sslmode=require";
    let before = format!("# team\nDATABASE_URL={rds}\n");
    std::fs::write(&env, &before).unwrap();
    let data = project.path().join("cluster");
    let up = |dir: &Path| {
        xtask(
            &[
                "--project-dir",
                dir.to_str().unwrap(),
                "dev-db",
                "up",
                "--write-env",
                "--port",
                "0",
                "--stop-after",
                "600",
                "--data-dir",
                data.to_str().unwrap(),
            ],
            dir,
            &[],
            None,
        )
    };
    let r = up(project.path());
    assert_eq!(r.code, 0, "{}", r.all());
    let backup = project.path().join(".env.local.bak.local");
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), before);
    assert!(
        r.stderr.contains("DATABASE_URL was postgresql://summitly_admin:****@summitly-prod.c9akciq32.us-east-1.rds.amazonaws.com:5432/summitly?sslmode=require"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(".env.local.bak.local"), "{}", r.stderr);
    assert_no_secret(&r.all(), "Tr0ub@dor-2024");
    // A second run replaces only its own URL: no new backup, no word.
    std::fs::remove_file(&backup).unwrap();
    let r = up(project.path());
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!backup.exists());
    assert!(!r.stderr.contains("DATABASE_URL was"), "{}", r.stderr);

    // A .env.local the command creates is private.
    let fresh = TempDir::new("fresh");
    let r = up(fresh.path());
    assert_eq!(r.code, 0, "{}", r.all());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(fresh.path().join(".env.local"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    xtask(
        &[
            "dev-db",
            "down",
            "--purge",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        project.path(),
        &[],
        None,
    );
}
