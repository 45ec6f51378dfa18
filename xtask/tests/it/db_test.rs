//! db-test against real servers started by the test: each failure lands on
//! the right layer with the right code, within its time bound, and the
//! password appears in no output.

use crate::support::*;
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn db_test(db_pw: &str, url: &str, extra: &[&str]) -> (Run, serde_json::Value) {
    db_test_json(db_pw, url, extra)
}

fn code(v: &serde_json::Value) -> String {
    v["targets"][0]["diagnosis"]["code"]
        .as_str()
        .unwrap()
        .to_string()
}

fn check<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["targets"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
}

#[test]
fn healthy_tls_server_with_prisma_parameters_passes() {
    let db = DevDb::start(&[]);
    let url = format!(
        "{}&pool_timeout=20&schema=public&statement_timeout=5000&connection_limit=5",
        db.url
    );
    let (r, v) = db_test(&db.password, &url, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(v["ok"], true);
    assert_eq!(code(&v), "ok");
    let t = &v["targets"][0];
    assert_eq!(t["source"], "environment");
    assert_eq!(t["sslmode"], "require");
    assert_eq!(t["user"], "app");
    for name in [
        "url",
        "dns",
        "tcp",
        "tls",
        "auth",
        "query",
        "server",
        "migrations",
    ] {
        assert_ne!(check(&v, name)["status"], "fail", "{name}: {}", r.stdout);
        assert_ne!(check(&v, name)["status"], "skip", "{name}: {}", r.stdout);
    }
    assert!(check(&v, "url")["detail"].as_str().unwrap().contains(
        "set aside for the driver: pool_timeout, schema, statement_timeout, connection_limit"
    ));
    assert!(check(&v, "query")["detail"]
        .as_str()
        .unwrap()
        .starts_with("PostgreSQL 1"));
    assert!(check(&v, "server")["detail"]
        .as_str()
        .unwrap()
        .contains("session encrypted"));

    // The human checklist says the same, without colour when not at a terminal.
    let dir = TempDir::new("human");
    let h = xtask(
        &["--project-dir", dir.path().to_str().unwrap(), "db-test"],
        dir.path(),
        &[("DATABASE_URL", &url)],
        None,
    );
    assert_eq!(h.code, 0, "{}", h.all());
    assert!(
        h.stdout
            .contains("DATABASE_URL from environment: postgresql://app:****@127.0.0.1:"),
        "{}",
        h.stdout
    );
    assert!(h.stdout.contains("verdict: ok"));
    assert!(!h.stdout.contains('\x1b'));
    assert_no_secret(&h.all(), &db.password);
}

#[test]
fn each_failure_names_its_layer() {
    let db = DevDb::start(&[]);
    let port = db.port.to_string();
    let cases: Vec<(String, &str, &str, &str)> = vec![
        // (url, code, layer, words in the hint)
        (
            db.url.replacen("app:", "app:wrong", 1),
            "auth_failed",
            "auth",
            "percent-encoded",
        ),
        (
            db.url.replace("/summitly", "/nosuchdb"),
            "database_missing",
            "auth",
            "database name",
        ),
        (
            db.url.replace("sslmode=require", "sslmode=disable"),
            "tls_required",
            "auth",
            "sslmode=require",
        ),
        (
            db.url
                .replace(&format!(":{port}/"), &format!(":{}/", free_port())),
            "tcp_refused",
            "tcp",
            "instance is running",
        ),
        // dns_failed: in `a_dns_failure_says_what_the_resolver_said`, in a
        // network namespace of its own, so that no lookup leaves the machine.
        (
            db.url.replace(&db.password_encoded(), "[YOUR-PASSWORD]"),
            "password_placeholder",
            "url",
            "--password-stdin",
        ),
        (
            "mysql://u:p@h/db".to_string(),
            "url_invalid",
            "url",
            "postgresql://",
        ),
    ];
    for (url, want, layer, hint) in cases {
        let (r, v) = db_test(&db.password, &url, &["--timeout", "5"]);
        assert_eq!(code(&v), want, "{url}: {}", r.stdout);
        assert_eq!(v["targets"][0]["diagnosis"]["layer"], layer, "{want}");
        assert!(
            v["targets"][0]["diagnosis"]["hint"]
                .as_str()
                .unwrap()
                .contains(hint),
            "{want}: {}",
            r.stdout
        );
        let expected_exit = if layer == "url" { 2 } else { 1 };
        assert_eq!(r.code, expected_exit, "{want}");
        assert_eq!(v["ok"], false);
    }
}

#[test]
fn verify_full_checks_the_root_certificate() {
    let db = DevDb::start(&[]);
    let right = db.ca_cert();
    let ok_url = db.url_with(
        "sslmode=require",
        &format!("sslmode=verify-full&sslrootcert={}", right.display()),
    );
    let (r, v) = db_test(&db.password, &ok_url, &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(check(&v, "tls")["detail"]
        .as_str()
        .unwrap()
        .contains("certificate verified"));

    let other = TempDir::new("otherca");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=someone else",
        ])
        .arg("-keyout")
        .arg(other.path().join("k.pem"))
        .arg("-out")
        .arg(other.path().join("ca.pem"))
        .output()
        .unwrap();
    assert!(status.status.success());
    let bad_url = db.url_with(
        "sslmode=require",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            other.path().join("ca.pem").display()
        ),
    );
    let (r, v) = db_test(&db.password, &bad_url, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(code(&v), "tls_failed", "{}", r.stdout);
    assert!(check(&v, "tls")["detail"]
        .as_str()
        .unwrap()
        .contains("certificate"));

    // verify-full checks the host name too: "localhost" is in the certificate, a wrong name is not.
    let by_name = ok_url.replace("127.0.0.1", "localhost");
    let (r, _) = db_test(&db.password, &by_name, &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn require_against_a_server_without_tls() {
    let db = DevDb::start(&["--no-tls"]);
    let (r, v) = db_test(&db.password, &format!("{}?sslmode=require", db.url), &[]);
    assert_eq!(r.code, 1);
    assert_eq!(code(&v), "tls_unavailable", "{}", r.stdout);
    let (r, v) = db_test(&db.password, &db.url, &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        check(&v, "tls")["status"],
        "warn",
        "prefer against no TLS continues, with a warning"
    );
}

#[test]
fn silent_listener_gets_a_verdict_within_the_bound() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and say nothing, holding the connections open.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    for mode in ["require", "disable"] {
        let url = format!(
            "postgresql://app:s1lent%40pw@127.0.0.1:{port}/db?sslmode={mode}&connect_timeout=2"
        );
        let start = Instant::now();
        let (r, v) = db_test("s1lent@pw", &url, &[]);
        let took = start.elapsed();
        assert_eq!(r.code, 1);
        assert_eq!(code(&v), "startup_timeout", "{mode}: {}", r.stdout);
        // A hang guard, not a speed test: the bound is connect_timeout + 1 s.
        assert!(took < Duration::from_secs(5), "{mode}: took {took:?}");
    }
}

#[test]
fn connection_exhaustion_is_named() {
    let db = DevDb::start(&["--max-connections", "5"]);
    // 5 slots, 3 reserved: two app sessions fill it.
    let _a = db.app();
    let _b = db.app();
    let (r, v) = db_test(&db.password, &db.url, &[]);
    assert_eq!(r.code, 1);
    assert_eq!(code(&v), "too_many_connections", "{}", r.stdout);
}

#[test]
fn idle_probe_reports_the_p1017_pattern() {
    let db = DevDb::start(&["--idle-session-timeout", "1"]);
    let (r, v) = db_test(&db.password, &db.url, &["--idle-probe", "2"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(code(&v), "idle_closed", "{}", r.stdout);
    let idle = check(&v, "idle");
    assert!(
        idle["detail"]
            .as_str()
            .unwrap()
            .contains("a fresh connection works"),
        "{idle}"
    );
    assert!(idle["hint"].as_str().unwrap().contains("P1017"));
    assert!(
        check(&v, "server")["hint"]
            .as_str()
            .unwrap()
            .contains("idle"),
        "the server check warns first"
    );
}

#[test]
fn advisory_lock_holder_and_failed_migrations_are_shown() {
    let db = DevDb::start(&[]);
    let mut holder = db.app();
    holder
        .batch_execute("SET application_name = 'other-migrate'; SELECT pg_advisory_lock(72707369)")
        .unwrap();
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let (r, v) = db_test(&db.password, &db.url, &[]);
    assert_eq!(r.code, 0, "a held lock is a warning: {}", r.stdout);
    let m = check(&v, "migrations");
    assert_eq!(m["status"], "warn");
    assert!(
        m["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("held by pid {pid} (other-migrate)")),
        "{m}"
    );

    holder.batch_execute(
        "SELECT pg_advisory_unlock(72707369);
         CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz,
           migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz, started_at timestamptz NOT NULL DEFAULT now(),
           applied_steps_count integer NOT NULL DEFAULT 0);
         INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name) VALUES ('a', 'x', now(), '20260101000000_init');
         INSERT INTO _prisma_migrations (id, checksum, migration_name, logs) VALUES ('b', 'y', '20261124000001_add_saved_comparables', 'boom');",
    ).unwrap();
    let (r, v) = db_test(&db.password, &db.url, &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(code(&v), "migration_failed");
    let hint = v["targets"][0]["diagnosis"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("migrate resolve --rolled-back 20261124000001_add_saved_comparables"),
        "{hint}"
    );
}

#[test]
fn shell_value_overriding_the_file_is_warned_about() {
    let db = DevDb::start(&[]);
    let dir = TempDir::new("conflict");
    std::fs::write(
        dir.path().join(".env.local"),
        format!("DATABASE_URL={}\n", db.url.replace("summitly", "fromfile")),
    )
    .unwrap();
    let r = xtask(
        &["--project-dir", dir.path().to_str().unwrap(), "db-test"],
        dir.path(),
        &[("DATABASE_URL", &db.url)],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout
            .contains("DATABASE_URL is set in your shell and overrides .env.local:1"),
        "{}",
        r.stdout
    );
    assert_no_secret(&r.all(), &db.password);

    // Without the shell variable the file is used, and its source is named.
    let r = xtask(
        &[
            "--project-dir",
            dir.path().to_str().unwrap(),
            "db-test",
            "--json",
        ],
        dir.path(),
        &[],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["targets"][0]["source"], ".env.local:1");
    assert_eq!(code(&v), "database_missing");
    assert_no_secret(&r.all(), &db.password);
}

#[test]
fn missing_url_is_bad_input() {
    let dir = TempDir::new("nourl");
    let r = xtask(
        &[
            "--project-dir",
            dir.path().to_str().unwrap(),
            "db-test",
            "--json",
        ],
        dir.path(),
        &[],
        None,
    );
    assert_eq!(r.code, 2, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(code(&v), "url_missing");
}

#[test]
fn masking_hides_only_the_password_even_when_it_is_a_common_word() {
    // Nothing listens on port 1: the verdict comes at once, after the url
    // layer has shown the URL. Before masking by position, user `postgres`
    // with password `postgres` printed `****ql://****:****@...` and JSON
    // said `"user":"****"`; a password `a` turned `prefer` into `****refer`.
    let dir = TempDir::new("mask");
    for (pw, url, shown) in [
        (
            "postgres",
            "postgresql://postgres:postgres@127.0.0.1:1/postgres",
            "postgresql://postgres:****@127.0.0.1:1/postgres",
        ),
        (
            "a",
            "postgresql://app:a@127.0.0.1:1/app?sslmode=prefer&application_name=a",
            "postgresql://app:****@127.0.0.1:1/app?sslmode=prefer&application_name=a",
        ),
    ] {
        let r = xtask(&["db-test"], &dir.0, &[("DATABASE_URL", url)], None);
        assert_eq!(r.code, 1, "{}", r.all());
        assert!(
            r.stdout
                .contains(&format!("DATABASE_URL from environment: {shown}")),
            "{}",
            r.stdout
        );
        assert_no_secret_in_urls(&r.all(), pw);
        let j = xtask(
            &["db-test", "--json"],
            &dir.0,
            &[("DATABASE_URL", url)],
            None,
        );
        let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
        let t = &v["targets"][0];
        assert_eq!(t["host"], "127.0.0.1");
        assert_eq!(t["diagnosis"]["code"], "tcp_refused");
        assert_no_secret_in_urls(&j.stdout, pw);
        if pw == "postgres" {
            assert_eq!(t["user"], "postgres");
            assert_eq!(t["database"], "postgres");
        } else {
            assert_eq!(t["sslmode"], "prefer");
        }
    }
}

/// db-test tests the host libpq would use: a `host=` parameter replaces the
/// URL's host (issue 12 item 13), and the report names that host. A host
/// list is warned about, naming the readers that do not support it.
#[test]
fn host_parameter_and_host_lists_are_read_as_libpq_reads_them() {
    let db = DevDb::start(&[]);
    let elsewhere = db.url.replace("127.0.0.1", "db.does-not-exist.invalid");
    let url = format!("{elsewhere}&host=127.0.0.1");
    let (r, v) = db_test(&db.password, &url, &["--timeout", "5"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(v["targets"][0]["host"], "127.0.0.1", "{}", r.stdout);
    let port = db.port.to_string();
    let list = db.url.replace(
        &format!("127.0.0.1:{port}"),
        &format!("127.0.0.1:{port},127.0.0.1:{port}"),
    );
    let (r, v) = db_test(&db.password, &list, &["--timeout", "5"]);
    let url_check = check(&v, "url");
    assert_eq!(url_check["status"], "warn", "{}", r.stdout);
    assert!(
        r.stdout.contains("Prisma Migrate and node-postgres"),
        "{}",
        r.stdout
    );
}

#[test]
fn idle_in_transaction_timeouts_are_warned_like_the_other_session_timeouts() {
    // The session's setting, through the URL's options (the form every
    // reader honours), as an RDS parameter group would set it for all.
    let db = DevDb::start(&[]);
    let url = format!(
        "{}&options=-c%20idle_in_transaction_session_timeout%3D30000",
        db.url
    );
    let (r, v) = db_test(&db.password, &url, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let server = check(&v, "server");
    assert_eq!(server["status"], "warn", "{server}");
    let hint = server["hint"].as_str().unwrap();
    assert!(
        hint.contains("idle_in_transaction_session_timeout is 30s (set by the connection")
            && hint.contains("loses its connection (P1017)"),
        "{hint}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_dns_failure_says_what_the_resolver_said() {
    // In a network namespace of its own (loopback only, down) the lookup
    // fails on this machine without a packet leaving it.
    let dir = TempDir::new("dns");
    let mut cmd = std::process::Command::new("unshare");
    if is_root() {
        cmd.arg("--net");
    } else {
        cmd.args(["--map-root-user", "--net"]);
    }
    let works = std::process::Command::new("unshare")
        .args(if is_root() {
            &["--net", "true"][..]
        } else {
            &["--map-root-user", "--net", "true"][..]
        })
        .status()
        .is_ok_and(|s| s.success());
    assert!(works, "this test needs `unshare --net` (util-linux) and the right to make a network namespace (root, or user namespaces enabled)");
    let out = cmd
        .arg(xtask_bin())
        .args(["db-test", "--json", "--timeout", "3"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env(
            "DATABASE_URL",
            "postgresql://app:pw-x1@db.example.com:5432/app?sslmode=require",
        )
        .output()
        .expect("unshare (util-linux) runs the xtask in a namespace of its own");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(v["targets"][0]["diagnosis"]["code"], "dns_failed", "{v}");
    assert_eq!(v["targets"][0]["diagnosis"]["layer"], "dns", "{v}");
    assert!(
        v["targets"][0]["diagnosis"]["hint"]
            .as_str()
            .unwrap()
            .contains("host name"),
        "{v}"
    );
    let detail = check(&v, "dns")["detail"].as_str().unwrap().to_string();
    // `db.example.com does not resolve: <the resolver's message>`
    let said = detail
        .strip_prefix("db.example.com does not resolve: ")
        .unwrap_or_else(|| panic!("{detail}"));
    assert!(!said.trim().is_empty(), "{detail}");
    assert!(!stdout.contains("pw-x1"));
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[cfg(target_os = "linux")]
#[test]
fn at_a_terminal_a_long_wait_says_how_long_it_may_take() {
    // A listener that accepts and never answers: the wait that looks like
    // a hang. `script` (util-linux) gives the xtask a terminal.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _held = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(5));
        drop(conns);
    });
    let dir = TempDir::new("tty");
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} db-test --timeout 2 --quick", xtask_bin().display()),
            "/dev/null",
        ])
        .current_dir(dir.path())
        .env(
            "DATABASE_URL",
            format!("postgresql://app:pw-x1@127.0.0.1:{port}/app?sslmode=require"),
        )
        .output()
        .expect("script (util-linux) gives the xtask a terminal");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "connecting to 127.0.0.1:{port} (each step waits up to 2 s)"
        )),
        "{text}"
    );
    assert!(text.contains("startup_timeout"), "{text}");
    assert!(!text.contains("pw-x1"), "{text}");
}

#[test]
fn a_password_that_is_an_ordinary_word_does_not_garble_our_own_lines() {
    // The password `require` once turned `sslmode=require` into `sslmode=****`.
    let dir = TempDir::new("word");
    let url = "postgresql://app:require@127.0.0.1:1/app?sslmode=require";
    let r = xtask(&["db-test"], &dir.0, &[("DATABASE_URL", url)], None);
    assert!(
        r.stdout
            .contains("sslmode=require (encrypt, do not verify)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("postgresql://app:****@127.0.0.1:1/app?sslmode=require"),
        "{}",
        r.stdout
    );
    assert_no_secret_in_urls(&r.all(), "require");
}

/// `postgres://host?dbname=%XXfoo`: libpq and node-postgres refuse the
/// bad escape; db-test read the database as `%XXfoo` and said nothing.
/// Now it is bad input (exit 2), said as libpq says it.
#[test]
fn a_bad_percent_escape_is_refused_as_libpq_refuses_it() {
    let (r, v) = db_test("unused", "postgres://app@127.0.0.1:1?dbname=%XXfoo", &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert_eq!(code(&v), "url_invalid", "{v}");
    let url = check(&v, "url");
    assert!(
        url["detail"]
            .as_str()
            .unwrap()
            .contains("invalid percent-encoded token `%XX` in parameter `dbname`"),
        "{url}"
    );
}

/// No `_prisma_migrations` yet: each db-test wrote an ERROR line
/// ("relation does not exist") into the server's log, which on RDS lands
/// in CloudWatch where log-based alarms read it. Now it leaves nothing
/// there, and still says the table is not there yet; once it is, its rows
/// are read as before.
#[test]
fn the_migrations_check_leaves_nothing_in_the_servers_log() {
    let db = DevDb::start(&[]);
    let log = std::path::Path::new(&db.data_dir()).join("server.log");
    let before = std::fs::read_to_string(&log).unwrap().len();
    let (r, v) = db_test(&db.password, &db.url, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let m = check(&v, "migrations");
    assert!(
        m["detail"]
            .as_str()
            .unwrap()
            .contains("no _prisma_migrations table in schema public yet"),
        "{m}"
    );
    let after = std::fs::read_to_string(&log).unwrap();
    assert!(!after[before..].contains("ERROR"), "{}", &after[before..]);
    db.superuser_on("summitly")
        .batch_execute("CREATE TABLE _prisma_migrations (id text, migration_name text, started_at timestamptz DEFAULT now(), finished_at timestamptz, rolled_back_at timestamptz); INSERT INTO _prisma_migrations (migration_name, finished_at) VALUES ('20260101000000_a&b', now()); GRANT SELECT ON _prisma_migrations TO app")
        .unwrap();
    let (_, v) = db_test(&db.password, &db.url, &[]);
    let m = check(&v, "migrations");
    assert!(
        m["detail"]
            .as_str()
            .unwrap()
            .contains("1 migration(s) applied"),
        "{m}"
    );
}

/// A host list (`host1,host2`), as libpq reads it: hosts are tried in
/// order, and the verdict says which answered. The first host here is a
/// closed port, the second the dev-db; then both closed.
#[test]
fn a_host_list_is_checked_host_by_host() {
    let db = DevDb::start(&[]);
    let closed = free_port();
    let url = db.url.replace(
        &format!("127.0.0.1:{}", db.port),
        &format!("127.0.0.1:{closed},127.0.0.1:{}", db.port),
    );
    let (r, v) = db_test(&db.password, &url, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let dns = check(&v, "dns")["detail"].as_str().unwrap().to_string();
    assert!(
        dns.starts_with(&format!("host 2 of 2, 127.0.0.1:{}", db.port)),
        "{dns}"
    );
    assert!(
        dns.contains(&format!(
            "tried before it: 127.0.0.1:{closed} (tcp_refused at tcp)"
        )),
        "{dns}"
    );
    let other = free_port();
    let url = db.url.replace(
        &format!("127.0.0.1:{}", db.port),
        &format!("127.0.0.1:{closed},127.0.0.1:{other}"),
    );
    let (r, v) = db_test(&db.password, &url, &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(code(&v), "tcp_refused", "{v}");
    let dns = check(&v, "dns")["detail"].as_str().unwrap().to_string();
    assert!(
        dns.starts_with(&format!("host 2 of 2, 127.0.0.1:{other}")),
        "{dns}"
    );
}
