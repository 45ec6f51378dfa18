//! The engine host (xtask/engine/schema-engine.mjs) on its own: Prisma's
//! real schema engine (the WebAssembly build in node_modules/prisma), driven
//! by the real Prisma 7.10.1 CLI or through the protocol directly, against a
//! real dev-db with TLS and a password. Nothing here is a stand-in: each
//! difference from the native engine that the host handles (engine.md) has a
//! test that fails without its handling.

// The host needs /proc, signals and a Unix shebang: Prisma cannot start it
// on Windows, where `--engine wasm` is refused.
#![cfg(unix)]

use crate::support::*;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The host in `cli` mode, as the CLI runs it before every migrate command.
fn can_connect(url: &str, cwd: &Path) -> Run {
    run(clean(&mut Command::new(engine_host()))
        .args(["--datasource", &datasource(url, None), "cli"])
        .arg("can-connect-to-database")
        .current_dir(cwd))
}

/// A command for the host or the CLI with none of the caller's variables
/// that would change what they do.
fn clean(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("PG") || k.starts_with("PRISMA_") || k.starts_with("XTASK_") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("DATABASE_URL")
        .env_remove("SHADOW_DATABASE_URL")
}

fn datasource(url: &str, shadow: Option<&str>) -> String {
    let mut v = serde_json::json!({ "url": url });
    if let Some(s) = shadow {
        v["shadowDatabaseUrl"] = s.into();
    }
    v.to_string()
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .expect("start the engine host");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The pinned Prisma CLI in `app`, with the host as its schema engine.
fn prisma(app: &Path, args: &[&str], url: &str, env: &[(&str, &str)]) -> Run {
    let mut cmd = prisma_command(app, args, url, env);
    run(&mut cmd)
}

fn prisma_command(app: &Path, args: &[&str], url: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("node");
    clean(&mut cmd);
    cmd.arg(node_modules().join("prisma/build/index.js"))
        .args(args)
        .current_dir(app)
        .env("PRISMA_SCHEMA_ENGINE_BINARY", engine_host())
        .env("DATABASE_URL", url)
        .env_remove("SHADOW_DATABASE_URL")
        .env("NO_COLOR", "1")
        .env("CI", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// An app with the repository's schema and migrations and no .env.local.
fn app() -> App {
    App::new(None)
}

/// Adds a field to SavedComparable, so `migrate dev` has a migration to create.
fn change_schema(app: &App, field: &str) {
    let path = app.path().join("prisma/schema.prisma");
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = text.replacen(
        "  note         String?\n",
        &format!("  note         String?\n  {field} Int?\n"),
        1,
    );
    assert_ne!(text, changed, "the schema has SavedComparable.note");
    std::fs::write(path, changed).unwrap();
}

#[test]
fn version_is_the_pinned_clis_engines_hash() {
    let dir = TempDir::new("host");
    let r = run(Command::new(engine_host())
        .arg("--version")
        .current_dir(dir.path()));
    assert_eq!(r.code, 0, "{}", r.all());
    let pkg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(node_modules().join("@prisma/engines-version/package.json"))
            .unwrap(),
    )
    .unwrap();
    let hash = pkg["prisma"]["enginesVersion"].as_str().unwrap();
    assert_eq!(r.stdout.trim(), format!("schema-engine-cli {hash}"));
}

#[test]
fn tls_modes_mean_what_libpq_means() {
    // The dev-db requires TLS and has a self-signed CA, like RDS without the bundle.
    let db = DevDb::start(&[]);
    let dir = TempDir::new("host");
    let ca = db.ca_cert();
    let ca = ca.to_str().unwrap();
    let ok = |mode: &str| {
        let url = db.url_with("sslmode=require", mode);
        let r = can_connect(&url, dir.path());
        assert_eq!(r.code, 0, "{mode}: {}", r.all());
        assert_no_secret(&r.all(), &db.password);
    };
    let fails = |mode: &str, code: &str| {
        let url = db.url_with("sslmode=require", mode);
        let r = can_connect(&url, dir.path());
        assert_eq!(r.code, 1, "{mode}: {}", r.all());
        assert!(
            r.stderr.contains(&format!("\"error_code\":\"{code}\"")),
            "{mode}: expected {code}: {}",
            r.stderr
        );
        assert_no_secret(&r.all(), &db.password);
    };
    // require encrypts without checking the certificate (node-postgres alone
    // would verify it and fail with DEPTH_ZERO_SELF_SIGNED_CERT).
    ok("sslmode=require");
    ok("sslmode=prefer");
    ok(&format!("sslmode=verify-full&sslrootcert={ca}"));
    ok(&format!("sslmode=verify-ca&sslrootcert={ca}"));
    // Prisma's own parameters never reach the server as startup parameters.
    ok("sslmode=require&schema=public&connection_limit=1&pool_timeout=30&pgbouncer=false&socket_timeout=5&statement_cache_size=0&connect_timeout=10");
    fails("sslmode=verify-full", "P1011");
    // libpq: require with a root certificate verifies the chain (verify-ca).
    let other = TempDir::new("ca");
    let wrong = other.path().join("other-ca.crt");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=other"])
        .arg("-keyout")
        .arg(other.path().join("k.pem"))
        .arg("-out")
        .arg(&wrong)
        .output()
        .unwrap();
    assert!(made.status.success());
    fails(
        &format!("sslmode=require&sslrootcert={}", wrong.display()),
        "P1011",
    );
    // The dev-db's pg_hba.conf has only hostssl lines: a plain connection is refused (28000).
    fails("sslmode=disable", "P1010");
    // An sslrootcert that cannot be read names the file.
    let r = can_connect(
        &db.url_with(
            "sslmode=require",
            "sslmode=verify-full&sslrootcert=missing.crt",
        ),
        dir.path(),
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("missing.crt"), "{}", r.stderr);
    assert!(
        r.stderr.contains("\"error_code\":\"P1011\""),
        "{}",
        r.stderr
    );
    // Prisma's own `sslcert` is the server's root certificate: with it,
    // require verifies (against the wrong CA: refused; the right one: ok).
    fails(
        &format!("sslmode=require&sslcert={}", wrong.display()),
        "P1011",
    );
    ok(&format!("sslmode=require&sslcert={ca}"));
    // libpq's `sslrootcert=system` means verify-full against the system roots.
    fails("sslmode=require&sslrootcert=system", "P1011");
    // The caller's PG* variables are not the URL: node-postgres would read
    // them; the native engine reads only the URL, and so does the host.
    let r = run(clean(&mut Command::new(engine_host()))
        .args(["--datasource", &datasource(&db.url, None), "cli"])
        .arg("can-connect-to-database")
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", wrong.to_str().unwrap())
        .current_dir(dir.path()));
    assert_eq!(r.code, 0, "PGSSLMODE changed the connection: {}", r.all());
}

#[test]
fn a_connect_timeout_is_p1001_as_the_native_engine_says() {
    // A listener that never answers (a security group dropping packets).
    let db = DevDb::start(&[]);
    let dir = TempDir::new("host");
    let proxy = proxy::Proxy::start(db.port, proxy::Fault::Stall);
    let url = db
        .url
        .replace(&db.port.to_string(), &proxy.port.to_string())
        + "&connect_timeout=2";
    let r = can_connect(&url, dir.path());
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("\"error_code\":\"P1001\""),
        "{}",
        r.stderr
    );
    assert_no_secret(&r.all(), &db.password);
}

#[test]
fn a_shadow_database_that_is_the_main_one_is_refused_and_nothing_is_dropped() {
    // The shadow database is emptied before use: the main one must never be it.
    let db = DevDb::start(&[]);
    let app = app();
    let r = prisma(app.path(), &["migrate", "deploy"], &db.url, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    change_schema(&app, "score");
    for shadow in [
        db.url.clone(),
        db.url
            .replace("sslmode=require", "sslmode=require&connect_timeout=9"),
    ] {
        let r = prisma(
            app.path(),
            &["migrate", "dev", "--name", "add_score"],
            &db.url,
            &[("SHADOW_DATABASE_URL", &shadow)],
        );
        assert_ne!(r.code, 0, "{}", r.all());
        assert!(
            r.all()
                .contains("appears to be the same as the main database"),
            "{}",
            r.all()
        );
        assert_eq!(
            db.finished().len(),
            2,
            "the main database keeps its history"
        );
    }
}

/// The CLI's output for each code, next to what the native engine made it
/// print (xtask/tests/fixtures/prisma-7.10.1, captured with Prisma 7.10.1):
/// the same code, in the same framing and words.
#[test]
fn error_codes_render_as_the_native_engines() {
    let db = DevDb::start(&[]);
    let app = app();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prisma-7.10.1");
    let port = db.port.to_string();
    let check = |name: &str, r: &Run, skip_from: Option<&str>| {
        // The fixtures' bodies were written by a stand-in that put host and
        // port in one pair of backticks; the native engine's own text
        // (prisma-engines common.rs, facts.md) has `HOST`:`PORT`, as here.
        let normal = |s: &str| {
            s.replace(&port, "55432")
                .replace("`127.0.0.1`:`55432`", "`127.0.0.1:55432`")
                .replace("\r\n", "\n")
        };
        let mut want = std::fs::read_to_string(fixtures.join(format!("{name}.stderr"))).unwrap();
        if let Some(cut) = skip_from {
            // The native engine appends its span trace; the WebAssembly one has none.
            want.truncate(want.find(cut).expect("fixture has the span trace"));
        }
        let got = normal(&r.stderr);
        assert!(
            got.trim_end().starts_with(want.trim_end()),
            "{name}\n--- native:\n{want}\n--- wasm:\n{got}"
        );
        let stdout = std::fs::read_to_string(fixtures.join(format!("{name}.stdout"))).unwrap();
        assert_eq!(normal(&r.stdout).trim(), stdout.trim(), "{name} stdout");
        assert_no_secret(&r.all(), &db.password);
    };
    let dev = ["migrate", "dev", "--name", "add_saved_comparables"];

    let wrong = db
        .url
        .replacen("app:", "postgres:", 1)
        .replace(&db.password_encoded(), "wrong-password");
    let r = prisma(app.path(), &dev, &wrong, &[]);
    check("migrate-dev-P1000", &r, None);

    let closed = free_port().to_string();
    let r = prisma(app.path(), &dev, &db.url.replace(&port, &closed), &[]);
    check(
        "migrate-dev-P1001",
        &Run {
            stderr: r.stderr.replace(&closed, "55432"),
            stdout: r.stdout.replace(&closed, "55432"),
            code: r.code,
        },
        None,
    );

    let proxy = proxy::Proxy::start(db.port, proxy::Fault::CloseOnAccept);
    let via = db.url.replace(&port, &proxy.port.to_string());
    let r = prisma(app.path(), &dev, &via, &[]);
    let r = Run {
        stderr: r.stderr.replace(&proxy.port.to_string(), &port),
        stdout: r.stdout.replace(&proxy.port.to_string(), &port),
        code: r.code,
    };
    check("migrate-dev-P1017", &r, None);

    let mut holder = db.app();
    holder
        .batch_execute("SELECT pg_advisory_lock(72707369)")
        .unwrap();
    let t0 = Instant::now();
    let r = prisma(app.path(), &dev, &db.url, &[]);
    assert!(
        t0.elapsed() >= Duration::from_secs(10),
        "Prisma's 10 s limit"
    );
    check("migrate-dev-rpc-P1002", &r, None);
    drop(holder);

    db.admin()
        .batch_execute(
            "CREATE ROLE nocreate LOGIN PASSWORD 'nocreate-pw-1' NOCREATEDB; GRANT ALL ON DATABASE summitly TO nocreate;",
        )
        .unwrap();
    db.app()
        .batch_execute("GRANT ALL ON SCHEMA public TO nocreate")
        .unwrap();
    let limited = db
        .url
        .replacen("app:", "nocreate:", 1)
        .replace(&db.password_encoded(), "nocreate-pw-1");
    let r = prisma(app.path(), &dev, &limited, &[]);
    check("migrate-dev-rpc-P3014", &r, Some("   0: schema_core"));
    assert!(db.shadow_databases().is_empty());
}

#[test]
fn migrate_dev_creates_applies_and_drops_its_shadow_database() {
    let db = DevDb::start(&[]);
    let app = app();
    let r = prisma(app.path(), &["migrate", "deploy"], &db.url, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(db.finished().len(), 2, "{}", r.all());
    // The engine reads catalog columns of PostgreSQL's one-byte "char" type
    // (relkind, contype) on every migrate dev; adapter-pg alone fails them
    // with "Column type 'char' could not be deserialized".
    change_schema(&app, "score");
    let r = prisma(
        app.path(),
        &["migrate", "dev", "--name", "add_score"],
        &db.url,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let names = db.finished();
    let created = names.iter().find(|n| n.ends_with("_add_score")).unwrap();
    let sql = std::fs::read_to_string(
        app.path()
            .join("prisma/migrations")
            .join(created)
            .join("migration.sql"),
    )
    .unwrap();
    assert!(sql.contains("ADD COLUMN     \"score\" INTEGER"), "{sql}");
    let col: i64 = db
        .app()
        .query_one(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'SavedComparable' AND column_name = 'score'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(col, 1);
    assert!(db.shadow_databases().is_empty(), "shadow database dropped");
    let r = prisma(app.path(), &["migrate", "status"], &db.url, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("Database schema is up to date!"),
        "{}",
        r.all()
    );
}

#[test]
fn a_named_shadow_database_is_emptied_first_and_kept() {
    let db = DevDb::start(&[]);
    let app = app();
    db.admin()
        .batch_execute("CREATE DATABASE shadow OWNER app")
        .unwrap();
    let shadow_url = db.url.replace("/summitly?", "/shadow?");
    let mut c = db.app_config();
    c.dbname("shadow");
    connect(c, db.tls)
        .batch_execute("CREATE TABLE leftover (id int)")
        .unwrap();
    change_schema(&app, "score");
    let r = prisma(
        app.path(),
        &["migrate", "dev", "--name", "add_score"],
        &db.url,
        &[("SHADOW_DATABASE_URL", &shadow_url)],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let mut c = db.app_config();
    c.dbname("shadow");
    let left: i64 = connect(c, db.tls)
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'leftover'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the named shadow database was reset before use");
    assert!(
        db.shadow_databases().is_empty(),
        "no database of our own was made"
    );
}

#[test]
fn one_connection_holds_the_lock_and_runs_the_migration() {
    let db = DevDb::start(&[]);
    let app = app();
    let dir = app.path().join("prisma/migrations/20261201000000_slow");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("migration.sql"), "SELECT pg_sleep(4);\n").unwrap();
    let mut child = prisma_command(app.path(), &["migrate", "deploy"], &db.url, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut watcher = db.admin();
    let t0 = Instant::now();
    let (mut holder, mut sleeper) = (None, None);
    while t0.elapsed() < Duration::from_secs(20) && sleeper.is_none() {
        holder = watcher
            .query_opt(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 72707369 AND granted",
                &[],
            )
            .unwrap()
            .map(|r| r.get::<_, i32>(0));
        sleeper = watcher
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(4)%' AND state = 'active'",
                &[],
            )
            .unwrap()
            .map(|r| r.get::<_, i32>(0));
        std::thread::sleep(Duration::from_millis(100));
    }
    let sessions: i64 = watcher
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND datname = 'summitly'",
            &[],
        )
        .unwrap()
        .get(0);
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(sleeper.is_some(), "the migration ran");
    assert_eq!(
        holder, sleeper,
        "the lock holder is the session that migrates"
    );
    assert_eq!(sessions, 1, "one connection to the database");
}

#[test]
fn a_failed_script_is_rolled_back_whole_and_reported_with_its_sqlstate() {
    let db = DevDb::start(&[]);
    let app = app();
    let dir = app.path().join("prisma/migrations/20261201000000_bad");
    std::fs::create_dir_all(&dir).unwrap();
    // One script, two statements: PostgreSQL runs it as one implicit
    // transaction, as the native engine sends it. adapter-pg alone splits it
    // at ";" and would leave "Half" behind.
    std::fs::write(
        dir.join("migration.sql"),
        "CREATE TABLE \"Half\" (id int);\nSELECT 1/0;\n",
    )
    .unwrap();
    let r = prisma(app.path(), &["migrate", "deploy"], &db.url, &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("Error: P3018"), "{}", r.stderr);
    assert!(
        r.stderr.contains("Migration name: 20261201000000_bad"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("Database error code: 22012"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("ERROR: division by zero"), "{}", r.stderr);
    let half: i64 = db
        .app()
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'Half'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(half, 0);
    let r = prisma(app.path(), &["migrate", "deploy"], &db.url, &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("Error: P3009"), "{}", r.stderr);
    assert!(
        r.stderr.contains("`20261201000000_bad` migration"),
        "{}",
        r.stderr
    );
}

/// The host in RPC mode, spoken to directly.
struct Rpc {
    child: Child,
    /// Lines from the host's stdout, read on a thread so that a host that
    /// never answers fails the test instead of hanging it.
    lines: std::sync::mpsc::Receiver<String>,
}

impl Rpc {
    fn start(app: &App, url: &str) -> Rpc {
        let mut child = clean(&mut Command::new(engine_host()))
            .arg("--datamodels")
            .arg(app.path().join("prisma/schema.prisma"))
            .args(["--datasource", &datasource(url, None)])
            .current_dir(app.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Rpc { child, lines }
    }

    fn send(&mut self, text: &str) {
        self.child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    fn answer(&mut self) -> serde_json::Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the host answers within 60 s");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    }

    /// Waits up to `limit` for the process to end.
    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Rpc {
    /// A failed test leaves no host behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn our_sessions(db: &DevDb) -> i64 {
    db.admin()
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app' AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn requests_are_answered_in_order_and_closing_stdin_ends_cleanly() {
    let db = DevDb::start(&[]);
    let app = app();
    let mut rpc = Rpc::start(&app, &db.url);
    // Three requests in one write: each waits for the one before.
    rpc.send(concat!(
        r#"{"jsonrpc":"2.0","id":1,"method":"version"}"#,
        "\n",
        r#"{"jsonrpc":"2.0","id":2,"method":"noSuchMethod","params":{}}"#,
        "\n",
        r#"{"jsonrpc":"2.0","id":3,"method":"version"}"#,
        "\n"
    ));
    let (a, b, c) = (rpc.answer(), rpc.answer(), rpc.answer());
    assert_eq!(a["id"], 1, "{a}");
    assert!(
        a["result"].as_str().unwrap().starts_with("PostgreSQL 15"),
        "{a}"
    );
    assert_eq!(b["error"]["code"], -32601, "{b}");
    assert_eq!(c["id"], 3, "{c}");
    assert_eq!(our_sessions(&db), 1, "one main connection while it runs");
    drop(rpc.child.stdin.take());
    let status = rpc.wait(Duration::from_secs(10)).expect("exits");
    assert!(status.success());
    let t0 = Instant::now();
    while our_sessions(&db) > 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(our_sessions(&db), 0, "its connection is closed");
}

#[test]
fn params_the_engine_cannot_read_get_an_answer_not_a_crash() {
    let db = DevDb::start(&[]);
    let app = app();
    let mut rpc = Rpc::start(&app, &db.url);
    // The glue throws this outside the call's promise (`missing field files`).
    rpc.send("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ensureConnectionValidity\",\"params\":{\"datasource\":{\"tag\":\"Schema\"}}}\n");
    let a = rpc.answer();
    assert_eq!(a["id"], 7, "{a}");
    assert!(
        a["error"]["data"]["message"]
            .as_str()
            .unwrap()
            .contains("missing field"),
        "{a}"
    );
    // The engine is not safe to call after that: the host ends, cleanly.
    let status = rpc.wait(Duration::from_secs(10)).expect("ends");
    assert_eq!(status.code(), Some(1));
    let t0 = Instant::now();
    while our_sessions(&db) > 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(our_sessions(&db), 0);
}

/// `migrate dev` stopped while its shadow database is in use: the CLI and
/// the engine host it started.
fn dev_with_the_shadow_database_in_use(db: &DevDb, app: &App) -> (Child, i32) {
    let r = prisma(app.path(), &["migrate", "deploy"], &db.url, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    // migrate dev first replays the history into a shadow database (its
    // devDiagnostic); this migration makes that replay take a while.
    let dir = app.path().join("prisma/migrations/20261201000000_slow");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("migration.sql"), "SELECT pg_sleep(30);\n").unwrap();
    change_schema(app, "score");
    let mut cli = prisma_command(
        app.path(),
        &["migrate", "dev", "--name", "add_score"],
        &db.url,
        &[],
    )
    .stdout(std::fs::File::create(app.path().join("cli.out")).unwrap())
    .stderr(std::fs::File::create(app.path().join("cli.err")).unwrap())
    .spawn()
    .unwrap();
    let replaying = || -> i64 {
        db.admin()
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'prisma_migrate_shadow_db_%' AND query LIKE 'SELECT pg_sleep(30)%'",
                &[],
            )
            .unwrap()
            .get(0)
    };
    let t0 = Instant::now();
    while replaying() == 0 && t0.elapsed() < Duration::from_secs(40) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if replaying() == 0 {
        let _ = cli.kill();
        let _ = cli.wait();
        panic!(
            "no shadow database in use:\n{}\n{}",
            std::fs::read_to_string(app.path().join("cli.out")).unwrap(),
            std::fs::read_to_string(app.path().join("cli.err")).unwrap()
        );
    }
    assert_eq!(db.shadow_databases().len(), 1);
    let engine = engine_host_of(app.path()).expect("the engine host runs");
    (cli, engine)
}

fn wait_gone(pid: i32) -> bool {
    let t0 = Instant::now();
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    };
    while alive() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive()
}

fn wait_no_sessions(db: &DevDb) {
    let t0 = Instant::now();
    while our_sessions(db) > 0 && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(our_sessions(db), 0, "no session left on the server");
}

#[test]
fn sigterm_while_the_shadow_database_is_in_use_drops_it() {
    let db = DevDb::start(&[]);
    let app = app();
    let (mut cli, engine) = dev_with_the_shadow_database_in_use(&db, &app);
    signal(engine, "TERM");
    assert!(wait_gone(engine), "the host ended");
    let _ = cli.kill();
    let _ = cli.wait();
    assert!(db.shadow_databases().is_empty(), "no shadow database left");
    wait_no_sessions(&db);
}

#[test]
fn a_killed_hosts_shadow_database_is_dropped_by_the_next_run() {
    let db = DevDb::start(&[]);
    let app = app();
    let (mut cli, engine) = dev_with_the_shadow_database_in_use(&db, &app);
    // SIGKILL: nothing can clean up; the server ends the session itself.
    signal(engine, "KILL");
    assert!(wait_gone(engine));
    let _ = cli.kill();
    let _ = cli.wait();
    // Our own connection to the shadow database may linger a moment.
    let left = db.shadow_databases();
    assert_eq!(left.len(), 1, "SIGKILL leaves it behind");
    std::fs::remove_dir_all(app.path().join("prisma/migrations/20261201000000_slow")).unwrap();
    let r = prisma(app.path(), &["migrate", "status"], &db.url, &[]);
    assert!(
        r.stdout.contains("Database schema is up to date"),
        "{}",
        r.all()
    );
    assert!(
        db.shadow_databases().is_empty(),
        "the next run dropped {left:?}"
    );
    assert!(!app
        .path()
        .join(".xtask/engine-shadow-databases.json")
        .exists());
    // Another developer's shadow database on the same server is not ours to drop.
    db.admin()
        .batch_execute("CREATE DATABASE \"prisma_migrate_shadow_db_someone-else\"")
        .unwrap();
    let r = prisma(app.path(), &["migrate", "status"], &db.url, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(db.shadow_databases().len(), 1);
}

fn signal(pid: i32, name: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn a_missing_wasm_is_named_with_what_to_do() {
    let dir = TempDir::new("host");
    let r = run(Command::new(engine_host())
        .arg("--version")
        .current_dir(dir.path())
        .env("XTASK_SCHEMA_ENGINE_WASM", dir.path().join("nope.wasm")));
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("nope.wasm"), "{}", r.stderr);
    assert!(r.stderr.contains("npm ci"), "{}", r.stderr);
}

#[test]
fn a_connection_that_fails_at_start_is_the_first_requests_answer() {
    // The native engine connects on the first request; an early exit here
    // would reach the CLI before it waits on anything.
    let app = app();
    let closed = free_port();
    let url = format!("postgresql://app:s3cret-pw@127.0.0.1:{closed}/summitly");
    let mut rpc = Rpc::start(&app, &url);
    rpc.send("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"applyMigrations\",\"params\":{}}\n");
    let a = rpc.answer();
    assert_eq!(a["error"]["data"]["error_code"], "P1001", "{a}");
    assert!(!a.to_string().contains("s3cret-pw"));
    drop(rpc.child.stdin.take());
    let status = rpc.wait(Duration::from_secs(10)).expect("exits");
    assert!(status.success());
}

#[test]
fn prisma_schema_disable_advisory_lock_is_honoured() {
    // The native engine reads this variable; the WebAssembly engine has no
    // environment of its own, so the host applies it.
    let db = DevDb::start(&[]);
    let app = app();
    let mut holder = db.app();
    holder
        .batch_execute("SELECT pg_advisory_lock(72707369)")
        .unwrap();
    let r = prisma(
        app.path(),
        &["migrate", "deploy"],
        &db.url,
        &[("PRISMA_SCHEMA_DISABLE_ADVISORY_LOCK", "1")],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(db.finished().len(), 2);
    drop(holder);
}

#[test]
fn migrate_diff_prints_through_the_clis_print_request() {
    // The WebAssembly engine returns a diff's text; the CLI, written for the
    // native engine, prints only what arrives as a `print` request.
    let db = DevDb::start(&[]);
    let app = app();
    let r = prisma(
        app.path(),
        &[
            "migrate",
            "diff",
            "--from-empty",
            "--to-schema",
            "prisma/schema.prisma",
            "--script",
        ],
        &db.url,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stdout.contains("CREATE TABLE \"SavedComparable\""),
        "{}",
        r.all()
    );
}
