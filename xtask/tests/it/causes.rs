//! The causes users report (`../shared/reference/causes.md`), each
//! reproduced with real parts and named after its entry there: a real
//! PostgreSQL (the dev-db), Debian's real PgBouncer, the real Prisma CLI
//! with its real schema engine (the WebAssembly build), and the fault
//! proxy where a network or a managed proxy (RDS Proxy, Supavisor) is
//! imitated at its boundary.

use crate::support::pgbouncer::{PgBouncer, PoolMode};
use crate::support::*;

fn check<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["targets"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {v}"))
}

fn code(v: &serde_json::Value) -> &str {
    v["targets"][0]["diagnosis"]["code"].as_str().unwrap()
}

/// Cause 1: migrations pointed at a transaction-mode pooler. db-test saw
/// "ok" through Debian's PgBouncer in transaction mode; now the pooler
/// layer names it by behaviour (PgBouncer's made-up startup pid, then a
/// second session on the same backend), on a port that names nothing.
#[test]
fn cause_01_transaction_mode_pooler_is_named_by_db_test() {
    let db = DevDb::start(&[]);
    let pgb = PgBouncer::start(&db, PoolMode::Transaction, &[]);
    let (r, v) = db_test_json(&db.password, &pgb.url(&db, "sslmode=require"), &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(code(&v), "pooler_transaction", "{v}");
    let p = check(&v, "pooler");
    assert_eq!(p["status"], "fail", "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("transaction pooling"), "{detail}");
    let hint = p["hint"].as_str().unwrap();
    assert!(hint.contains("env(\"DIRECT_URL\")"), "{hint}");
    assert!(hint.contains("advisory lock"), "{hint}");
    // The same server directly: nothing in between.
    let (r, v) = db_test_json(&db.password, &db.url, &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let p = check(&v, "pooler");
    assert_eq!(p["status"], "pass", "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("none: PostgreSQL itself"),
        "{p}"
    );
}

/// The same PgBouncer in session mode keeps a session per client: the
/// pooler is seen (on a port that names nothing), and the check passes.
#[test]
fn session_mode_pooler_is_named_and_passes() {
    let db = DevDb::start(&[]);
    let pgb = PgBouncer::start(&db, PoolMode::Session, &[]);
    let (r, v) = db_test_json(&db.password, &pgb.url(&db, "sslmode=require"), &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let p = check(&v, "pooler");
    assert_eq!(p["status"], "pass", "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("session pooling"),
        "{p}"
    );
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .starts_with("a pooler or proxy"),
        "{p}"
    );
}

/// Cause 27: PgBouncer refuses the `options` startup parameter, the form
/// `env-fix --statement-timeout` writes. The refusal is named with the
/// SQL that sets the same on the role.
#[test]
fn cause_27_pgbouncer_refuses_options() {
    let db = DevDb::start(&[]);
    let pgb = PgBouncer::start(&db, PoolMode::Transaction, &[]);
    let url = pgb.url(&db, "sslmode=require&options=-c%20statement_timeout%3D0");
    let (r, v) = db_test_json(&db.password, &url, &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(code(&v), "startup_param_refused", "{v}");
    let a = check(&v, "auth");
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .contains("unsupported startup parameter: options"),
        "{a}"
    );
    let hint = a["hint"].as_str().unwrap();
    assert!(
        hint.contains("ALTER ROLE \"app\" SET statement_timeout = '0'"),
        "{hint}"
    );
}

/// Causes 1 and 2 through `migrate`: prisma.config.ts reads DATABASE_URL,
/// which points at a transaction pooler. The preflight names the pooler
/// and Prisma is not started. Then its hint, followed to the letter (the
/// direct URL in DIRECT_URL, `env("DIRECT_URL")` in prisma.config.ts),
/// makes the same deploy apply every migration on the real engine, with
/// DATABASE_URL still pooled.
#[test]
fn cause_02_config_on_the_pooled_url_is_stopped_and_direct_url_fixes_it() {
    let db = DevDb::start(&[]);
    let pgb = PgBouncer::start(&db, PoolMode::Transaction, &[]);
    let pooled = pgb.url(&db, "sslmode=require");
    let app = App::new(Some(&format!("DATABASE_URL=\"{pooled}\"\n")));
    let r = app.migrate_wasm(&["--deploy"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("Prisma was not started"), "{}", r.all());
    assert!(r.stderr.contains("pooler_transaction"), "{}", r.all());
    assert!(r.stderr.contains("env(\"DIRECT_URL\")"), "{}", r.all());
    assert!(db.recorded().is_none(), "nothing ran");
    let migrate_url = || {
        let (_, v) = db_test_in(app.path(), &db.password, &[], &[]);
        v["migrate_url"].as_str().unwrap().to_string()
    };
    assert_eq!(migrate_url(), "DATABASE_URL");

    std::fs::write(
        app.path().join(".env.local"),
        format!("DATABASE_URL=\"{pooled}\"\nDIRECT_URL=\"{}\"\n", db.url),
    )
    .unwrap();
    let config = app.path().join("prisma.config.ts");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("env(\"DATABASE_URL\")"));
    std::fs::write(
        &config,
        text.replace("env(\"DATABASE_URL\")", "env(\"DIRECT_URL\")"),
    )
    .unwrap();
    // db-test remembered the config's answer; an edited config is read again.
    assert_eq!(migrate_url(), "DIRECT_URL");
    let r = app.migrate_wasm(&["--deploy", "--json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("datasource.url reads DIRECT_URL"),
        "{}",
        r.all()
    );
    assert_eq!(db.finished().len(), 2, "{}", r.all());
    assert_no_secret(&r.all(), &db.password);
}

/// A prisma.config.ts whose datasource reads a variable set nowhere:
/// exit 2, naming the file and the variable, before anything connects.
#[test]
fn config_reading_a_missing_variable_is_bad_input() {
    let app = App::new(Some(
        "DATABASE_URL=\"postgresql://app:pw@127.0.0.1:1/db\"\n",
    ));
    let config = app.path().join("prisma.config.ts");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("env(\"DATABASE_URL\")", "env(\"DIRECT_URL\")"),
    )
    .unwrap();
    let r = app.migrate_wasm(&["--deploy"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("prisma.config.ts"), "{}", r.all());
    assert!(r.stderr.contains("DIRECT_URL"), "{}", r.all());
    std::fs::write(&config, "export default {{{").unwrap();
    let r = app.migrate_wasm(&["--deploy"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("prisma.config.ts does not evaluate"),
        "{}",
        r.all()
    );
}

/// db-test's JSON for `url`, with the password checked absent.
fn db_test(db: &DevDb, url: &str) -> (Run, serde_json::Value) {
    db_test_json(&db.password, url, &[])
}

/// Cause 14: a statement_timeout set on the role cancels a long
/// migration (P3018, 57014). db-test and the preflight name it before
/// Prisma starts, with where it comes from and the SQL; that SQL, run as
/// the hint says, lets the same migration apply on the real engine.
#[test]
fn cause_14_role_statement_timeout_is_named_before_the_run() {
    let db = DevDb::start(&[]);
    db.admin()
        .batch_execute("ALTER ROLE app SET statement_timeout = '1s'")
        .unwrap();
    let (r, v) = db_test(&db, &db.url);
    assert_eq!(r.code, 0, "a warning, not a failure: {}", r.all());
    let server = check(&v, "server");
    assert_eq!(server["status"], "warn", "{server}");
    let hint = server["hint"].as_str().unwrap();
    assert!(
        hint.contains("statement_timeout is 1s (set on role app)"),
        "{hint}"
    );
    assert!(
        hint.contains("`ALTER ROLE \"app\" SET statement_timeout = 0`"),
        "{hint}"
    );

    let app = App::new(Some(&format!("DATABASE_URL=\"{}\"\n", db.url)));
    app.add_migration("20261201000000_slow", "SELECT pg_sleep(2);\n");
    let r = app.migrate_wasm(&["--deploy", "--retry-delay", "0.1"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    let preflight = r.stderr.find("preflight ok").expect("preflight ran");
    let named = r
        .stderr
        .find("statement_timeout is 1s (set on role app)")
        .expect("named");
    let prisma = r.stderr.find("running ").expect("Prisma ran");
    assert!(
        preflight < named && named < prisma,
        "named before Prisma started: {}",
        r.all()
    );
    assert!(r.stderr.contains("P3018"), "{}", r.all());

    // The hint's SQL, as written there.
    db.admin()
        .batch_execute("ALTER ROLE \"app\" SET statement_timeout = 0")
        .unwrap();
    db.superuser_on("summitly")
        .batch_execute("DELETE FROM _prisma_migrations WHERE finished_at IS NULL")
        .unwrap();
    let r = app.migrate_wasm(&["--deploy"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(db.finished().contains(&"20261201000000_slow".to_string()));
}

/// Cause 38: `?schema=` names a schema that does not exist, and the role
/// may not create it (Prisma's CREATE SCHEMA fails). Named with the GRANT;
/// after it, the real engine migrates into the new schema.
#[test]
fn cause_38_missing_schema_the_role_cannot_create() {
    let db = DevDb::start(&[]);
    db.admin()
        .batch_execute(
            "ALTER DATABASE summitly OWNER TO postgres; REVOKE CREATE ON DATABASE summitly FROM PUBLIC, app",
        )
        .unwrap();
    let url = format!("{}&schema=app2", db.url);
    let (r, v) = db_test(&db, &url);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(code(&v), "migration_role_lacks", "{v}");
    let m = check(&v, "migrations");
    assert!(
        m["detail"]
            .as_str()
            .unwrap()
            .contains("schema app2 does not exist and app may not create it"),
        "{m}"
    );
    let hint = m["hint"].as_str().unwrap();
    assert!(
        hint.contains("`GRANT CREATE ON DATABASE \"summitly\" TO \"app\"`"),
        "{hint}"
    );
    // migrate's preflight names it and does not start Prisma.
    let app = App::new(Some(&format!("DATABASE_URL=\"{url}\"\n")));
    let r = app.migrate_wasm(&["--deploy"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("Prisma was not started"), "{}", r.all());
    assert!(r.stderr.contains("migration_role_lacks"), "{}", r.all());
    // The migration fails the same way without the check (Prisma's own words).
    let r = app.migrate_wasm(&["--deploy", "--no-preflight"], &[]);
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(r.all().contains("permission denied"), "{}", r.all());

    db.admin()
        .batch_execute("GRANT CREATE ON DATABASE \"summitly\" TO \"app\"")
        .unwrap();
    let (r, _) = db_test(&db, &url);
    assert_eq!(r.code, 0, "{}", r.all());
    let r = app.migrate_wasm(&["--deploy"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(schema_has_table(&db, "app2", "_prisma_migrations"));
}

fn schema_has_table(db: &DevDb, schema: &str, table: &str) -> bool {
    db.superuser_on("summitly")
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = $2",
            &[&schema, &table],
        )
        .unwrap()
        .get::<_, i64>(0)
        == 1
}

/// Cause 26, for one role: a role connection limit leaves no room for
/// `migrate dev`'s two connections while an app server holds one. Named
/// with the limit that fits; after it, db-test passes.
#[test]
fn cause_26_role_connection_limit_leaves_no_room() {
    let db = DevDb::start(&[]);
    db.admin()
        .batch_execute("ALTER ROLE app CONNECTION LIMIT 2")
        .unwrap();
    let _app_server = db.app();
    let (r, v) = db_test(&db, &db.url);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(code(&v), "migration_role_lacks", "{v}");
    let m = check(&v, "migrations");
    let hint = m["hint"].as_str().unwrap();
    assert!(
        hint.contains("`ALTER ROLE \"app\" CONNECTION LIMIT 3`"),
        "{hint}"
    );
    // `migrate dev`'s preflight stops there, before Prisma starts.
    let app = App::new(Some(&format!("DATABASE_URL=\"{}\"\n", db.url)));
    let r = app.migrate_wasm(&["add_nothing"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("Prisma was not started"), "{}", r.all());
    assert!(r.stderr.contains("migration_role_lacks"), "{}", r.all());
    db.admin()
        .batch_execute("ALTER ROLE \"app\" CONNECTION LIMIT 3")
        .unwrap();
    let (r, _) = db_test(&db, &db.url);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// Cause 5: a session left open holds Prisma's advisory lock. db-test
/// names it (pid, user, client, state) as stale, with the SQL that ends it,
/// and ends nothing itself.
#[test]
fn cause_05_stale_lock_holder_is_named_with_the_sql_that_ends_it() {
    let db = DevDb::start(&[]);
    let mut holder = db.app();
    holder
        .batch_execute("SET application_name = 'forgotten-psql'; SELECT pg_advisory_lock(72707369)")
        .unwrap();
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let (r, v) = db_test(&db, &db.url);
    assert_eq!(r.code, 0, "{}", r.all());
    let m = check(&v, "migrations");
    let detail = m["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "held by pid {pid} (forgotten-psql), user app, from 127.0.0.1, idle for"
        )),
        "{detail}"
    );
    let hint = m["hint"].as_str().unwrap();
    assert!(hint.contains("it is idle, running nothing"), "{hint}");
    assert!(
        hint.contains(&format!("`SELECT pg_terminate_backend({pid})`")),
        "{hint}"
    );
    // Still there: the tool ends nothing.
    let held: i64 = holder.query_one("SELECT 1::bigint", &[]).unwrap().get(0);
    assert_eq!(held, 1);
}

/// Cause 27, before it happens: `env-fix --statement-timeout` writes
/// `options=`, which PgBouncer refuses. On a URL that names a pooler
/// (`pgbouncer=true`) env-fix says so, with the ALTER ROLE that does the
/// same on every path; db-test then shows the refusal for real, and with
/// the ALTER ROLE and a URL without `options` the session starts through
/// the same PgBouncer.
#[test]
fn cause_27_env_fix_warns_before_writing_options_for_a_pooler() {
    let db = DevDb::start(&[]);
    let pgb = PgBouncer::start(&db, PoolMode::Session, &[]);
    let url = pgb.url(&db, "sslmode=require&pgbouncer=true");
    let dir = TempDir::new("envfix-pooler");
    let env_local = dir.path().join(".env.local");
    std::fs::write(&env_local, format!("DATABASE_URL=\"{url}\"\n")).unwrap();
    let p = dir.path().to_str().unwrap();
    let r = xtask(
        &[
            "--project-dir",
            p,
            "env-fix",
            "--statement-timeout",
            "0",
            "--json",
        ],
        dir.path(),
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_no_secret(&r.all(), &db.password);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    let warning = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == "options_via_pooler")
        .unwrap_or_else(|| panic!("no options_via_pooler warning: {v}"));
    let text = warning.to_string();
    assert!(
        text.contains("ALTER ROLE \\\"app\\\" SET statement_timeout = '0'"),
        "{text}"
    );

    let db_test = || {
        let (r, v) = db_test_in(dir.path(), &db.password, &["--var", "DATABASE_URL"], &[]);
        (r.code, v)
    };
    let (c, v) = db_test();
    assert_eq!((c, code(&v)), (1, "startup_param_refused"), "{v}");

    db.admin()
        .batch_execute("ALTER ROLE \"app\" SET statement_timeout = '0'")
        .unwrap();
    std::fs::write(&env_local, format!("DATABASE_URL=\"{url}\"\n")).unwrap();
    // Authentication passes now. (The verdict goes on to say that
    // `pgbouncer=true` means transaction pooling, wrong for migrations.)
    let (_, v) = db_test();
    assert_eq!(check(&v, "auth")["status"], "pass", "{v}");
    assert_eq!(code(&v), "pooler_transaction", "{v}");
}

/// Cause 28: RDS Proxy refuses `options` at startup. No RDS Proxy runs
/// here: its startup filter is imitated at its boundary by the fault
/// proxy, answering with RDS Proxy's documented text; db-test's reading of
/// it, and the hint, are the real code. (Plain TCP: the imitation
/// declines TLS, which a real RDS Proxy would not.)
#[test]
fn cause_28_rds_proxy_refuses_command_line_options() {
    use crate::support::proxy::{Fault, Proxy};
    let db = DevDb::start(&[]);
    let proxy = Proxy::start(
        db.port,
        Fault::StartupFatal(
            Some("options"),
            "0A000",
            "Feature not supported: RDS Proxy currently doesn\u{2019}t support command-line options.",
        ),
    );
    let url = db.url_at(proxy.port, "sslmode=disable&options=-c%20lock_timeout%3D5s");
    let (r, v) = db_test(&db, &url);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(code(&v), "startup_param_refused", "{v}");
    let a = check(&v, "auth");
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .starts_with("RDS Proxy refused the startup parameter `options`"),
        "{a}"
    );
    assert!(
        a["hint"]
            .as_str()
            .unwrap()
            .contains("ALTER ROLE \"app\" SET lock_timeout = '5s'"),
        "{a}"
    );
}

/// Cause 37: Supavisor's "Tenant or user not found" for a user without
/// the `.<project-ref>` suffix, imitated at its boundary (no Supavisor
/// runs here). db-test passes the server's text on as the finding.
#[test]
fn cause_37_supavisor_tenant_not_found_is_passed_on() {
    use crate::support::proxy::{Fault, Proxy};
    let db = DevDb::start(&[]);
    let proxy = Proxy::start(
        db.port,
        Fault::StartupFatal(None, "XX000", "Tenant or user not found"),
    );
    let url = format!(
        "postgresql://postgres:{}@127.0.0.1:{}/postgres?sslmode=disable",
        db.password_encoded(),
        proxy.port
    );
    let (r, v) = db_test(&db, &url);
    assert_eq!(r.code, 1, "{}", r.all());
    let a = check(&v, "auth");
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .contains("Tenant or user not found (XX000)"),
        "{a}"
    );
}

/// The pinned Prisma CLI itself, as people run it (`npx prisma ...`),
/// with the real schema engine (the WebAssembly build, through the engine
/// host) and `url` as DATABASE_URL: no xtask in between.
fn prisma_cli(app: &App, args: &[&str], url: &str) -> Run {
    let out = std::process::Command::new("node")
        .arg(node_modules().join("prisma/build/index.js"))
        .args(args)
        .current_dir(app.path())
        .env("PRISMA_SCHEMA_ENGINE_BINARY", engine_host())
        .env("DATABASE_URL", url)
        .env_remove("SHADOW_DATABASE_URL")
        .env("NO_COLOR", "1")
        .env("CI", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Cause 6: Prisma run straight through a transaction pooler takes its
/// session advisory lock on a server connection that PgBouncer keeps
/// after the client leaves (no reset query in transaction mode). db-test
/// on the direct URL then names the holder as stale, with the SQL that
/// ends it; that SQL frees the lock.
#[test]
fn cause_06_lock_left_behind_on_a_pooled_connection() {
    let db = DevDb::start(&[]);
    let pgb = PgBouncer::start(&db, PoolMode::Transaction, &[]);
    let app = App::new(None);
    let r = prisma_cli(
        &app,
        &["migrate", "deploy"],
        &pgb.url(&db, "sslmode=require"),
    );
    assert_eq!(r.code, 0, "Prisma itself reports success: {}", r.all());
    assert_eq!(db.finished().len(), 2);
    // The client is gone; the lock is not.
    let (r, v) = db_test(&db, &db.url);
    assert_eq!(r.code, 0, "{}", r.all());
    let m = check(&v, "migrations");
    let detail = m["detail"].as_str().unwrap();
    assert!(detail.contains("lock 72707369 is held by pid"), "{m}");
    assert!(detail.contains("user app, from 127.0.0.1, idle for"), "{m}");
    let hint = m["hint"].as_str().unwrap();
    let pid: i32 = detail
        .split("held by pid ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    let sql = format!("SELECT pg_terminate_backend({pid})");
    assert!(hint.contains(&format!("`{sql}`")), "{hint}");
    // The hint's SQL, as written, frees the lock.
    let mut admin = db.admin();
    admin.batch_execute(&sql).unwrap();
    // pg_terminate_backend signals; the backend is gone a moment later.
    let start = std::time::Instant::now();
    while admin
        .query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&pid])
        .unwrap()
        .len()
        == 1
    {
        assert!(start.elapsed().as_secs() < 10, "pid {pid} did not end");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (_, v) = db_test(&db, &db.url);
    let m = check(&v, "migrations");
    assert!(!m["detail"].as_str().unwrap().contains("held by"), "{m}");
    assert_eq!(m["status"], "pass", "{m}");
}

/// prisma.config.ts without `import "dotenv/config"`, as `prisma init`
/// writes it without dotenv: Prisma 7's CLI reads no env file.
const CONFIG_WITHOUT_DOTENV: &str = r#"import { defineConfig, env } from "prisma/config";
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: env("DATABASE_URL") },
});
"#;

/// Cause 3: Prisma 7's CLI loads no env file, so a URL kept only in
/// .env.local (Next.js's file) never reaches a config that does not load
/// it. Prisma alone fails; `migrate` hands Prisma the env files'
/// variables and the real engine applies every migration.
#[test]
fn cause_03_env_local_reaches_a_config_that_loads_no_env_file() {
    let db = DevDb::start(&[]);
    let app = App::new(Some(&format!("DATABASE_URL=\"{}\"\n", db.url)));
    std::fs::write(app.path().join("prisma.config.ts"), CONFIG_WITHOUT_DOTENV).unwrap();
    let out = std::process::Command::new("node")
        .arg(node_modules().join("prisma/build/index.js"))
        .args(["migrate", "deploy"])
        .current_dir(app.path())
        .env("PRISMA_SCHEMA_ENGINE_BINARY", engine_host())
        .env_remove("DATABASE_URL")
        .env("CI", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DATABASE_URL"));
    let r = app.migrate_wasm(&["--deploy"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(db.finished().len(), 2);
}

/// Cause 18, before the run: an idle_session_timeout on the role ends
/// `migrate dev`'s main connection while the shadow database replays the
/// history (P1017). db-test names it with its source and the SQL.
#[test]
fn cause_18_role_idle_session_timeout_is_named_with_its_source() {
    let db = DevDb::start(&[]);
    db.admin()
        .batch_execute("ALTER ROLE app IN DATABASE summitly SET idle_session_timeout = '3s'")
        .unwrap();
    let (r, v) = db_test(&db, &db.url);
    assert_eq!(r.code, 0, "{}", r.all());
    let hint = check(&v, "server")["hint"].as_str().unwrap().to_string();
    assert!(
        hint.contains("idle_session_timeout is 3s (set on role app in database summitly)"),
        "{hint}"
    );
    assert!(
        hint.contains("`ALTER ROLE \"app\" IN DATABASE \"summitly\" SET idle_session_timeout = 0`"),
        "{hint}"
    );
    db.admin()
        .batch_execute("ALTER ROLE \"app\" IN DATABASE \"summitly\" SET idle_session_timeout = 0")
        .unwrap();
    let (_, v) = db_test(&db, &db.url);
    assert_eq!(check(&v, "server")["status"], "pass", "{v}");
}

/// Cause 29: RDS Proxy's "requires TLS" refusal, imitated at its boundary
/// (no RDS Proxy here): named as tls_required, with the sslmode fix.
#[test]
fn cause_29_rds_proxy_requires_tls() {
    use crate::support::proxy::{Fault, Proxy};
    let db = DevDb::start(&[]);
    let proxy = Proxy::start(
        db.port,
        Fault::StartupFatal(None, "08P01", "This RDS Proxy requires TLS connections."),
    );
    let url = db.url_at(proxy.port, "sslmode=disable");
    let (r, v) = db_test(&db, &url);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(code(&v), "tls_required", "{v}");
    assert!(
        check(&v, "auth")["hint"]
            .as_str()
            .unwrap()
            .contains("sslmode=require"),
        "{v}"
    );
}

/// Cause 31: PgBouncer's own client limit (max_client_conn), with the
/// real PgBouncer: named as PgBouncer's limit, not the server's.
#[test]
fn cause_31_pgbouncer_client_limit() {
    let db = DevDb::start(&[]);
    let pgb = PgBouncer::start(&db, PoolMode::Session, &["max_client_conn = 1"]);
    let mut c = postgres::Config::new();
    c.host("127.0.0.1")
        .port(pgb.port)
        .user("app")
        .password(&db.password)
        .dbname("summitly");
    let _held = connect(c, true);
    let (r, v) = db_test(&db, &pgb.url(&db, "sslmode=require"));
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(code(&v), "too_many_connections", "{v}");
    let a = check(&v, "auth");
    assert!(
        a["detail"].as_str().unwrap().contains(
            "PgBouncer refused the session: no more connections allowed (max_client_conn)"
        ),
        "{a}"
    );
    assert!(
        a["hint"].as_str().unwrap().contains("max_client_conn"),
        "{a}"
    );
}

/// Cause 36 (and 21): the server is starting up (57P03), imitated at the
/// boundary by its FATAL: named with "wait and retry".
#[test]
fn cause_36_database_starting_up() {
    use crate::support::proxy::{Fault, Proxy};
    let db = DevDb::start(&[]);
    let proxy = Proxy::start(
        db.port,
        Fault::StartupFatal(None, "57P03", "the database system is starting up"),
    );
    let url = db.url_at(proxy.port, "sslmode=disable");
    let (r, v) = db_test(&db, &url);
    assert_eq!(r.code, 1, "{}", r.all());
    let a = check(&v, "auth");
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .contains("the database system is starting up (57P03)"),
        "{a}"
    );
    assert!(
        a["hint"]
            .as_str()
            .unwrap()
            .contains("wait a minute and retry"),
        "{a}"
    );
}

/// Cause 40: prisma.config.ts's shadowDatabaseUrl reads a variable of its
/// own (SHADOW_URL here), which points at a server that never answers.
/// db-test finds that variable through the config and checks it too.
#[test]
fn cause_40_the_configs_shadow_url_is_checked() {
    use crate::support::proxy::{Fault, Proxy};
    let db = DevDb::start(&[]);
    let dead = Proxy::start(db.port, Fault::Stall);
    let shadow = format!(
        "postgresql://app:{}@127.0.0.1:{}/shadow?sslmode=require&connect_timeout=2",
        db.password_encoded(),
        dead.port
    );
    let app = App::new(Some(&format!(
        "DATABASE_URL=\"{}\"\nSHADOW_URL=\"{shadow}\"\n",
        db.url
    )));
    std::fs::write(
        app.path().join("prisma.config.ts"),
        CONFIG_WITHOUT_DOTENV.replace(
            "url: env(\"DATABASE_URL\") }",
            "url: env(\"DATABASE_URL\"), shadowDatabaseUrl: env(\"SHADOW_URL\") }",
        ),
    )
    .unwrap();
    let (r, v) = db_test_in(app.path(), &db.password, &[], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    let targets = v["targets"].as_array().unwrap();
    let names: Vec<&str> = targets.iter().map(|t| t["var"].as_str().unwrap()).collect();
    assert_eq!(names, ["DATABASE_URL", "SHADOW_URL"], "{v}");
    assert_eq!(targets[0]["diagnosis"]["code"], "ok", "{v}");
    assert_ne!(targets[1]["diagnosis"]["code"], "ok", "{v}");
}

/// Causes 21 and 22: a server slow to answer at connect (waking up, or
/// behind a slow link) beyond Prisma's default 5 s connect_timeout. Here a
/// proxy holds each new connection for 3 s before passing it on. With a
/// 2 s connect_timeout db-test names it with connect_timeout in the
/// hint; `migrate`, which gives Prisma connect_timeout=30 (the hint's
/// fix), applies every migration through the same proxy on the real engine.
#[test]
fn cause_21_slow_to_answer_at_connect_is_named_and_connect_timeout_fixes_it() {
    use crate::support::proxy::{Fault, Proxy};
    let db = DevDb::start(&[]);
    let proxy = Proxy::start(
        db.port,
        Fault::DelayConnect(std::time::Duration::from_secs(3)),
    );
    let url = db.url_at(proxy.port, "sslmode=require&connect_timeout=2");
    let (r, v) = db_test(&db, &url);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(code(&v), "startup_timeout", "{v}");
    let hint = v["targets"][0]["diagnosis"]["hint"].as_str().unwrap();
    assert!(hint.contains("raise connect_timeout"), "{hint}");
    let app = App::new(Some(&format!(
        "DATABASE_URL=\"{}\"\n",
        url.replace("&connect_timeout=2", "")
    )));
    let r = app.migrate_wasm(&["--deploy"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("added connect_timeout=30"), "{}", r.all());
    assert_eq!(db.finished().len(), 2);
}

/// Cause 22: a slow link (300 ms each way here, through the proxy's delay
/// line, as a VPN to another region) where every step fits in
/// connect_timeout but the whole connection does not. Prisma's bound
/// covers the whole connection, and so does db-test's now: both fail at 2 s,
/// and connect_timeout=30 (env-fix's value) passes.
#[test]
fn cause_22_slow_link_exceeds_connect_timeout_as_a_whole() {
    use crate::support::proxy::{Fault, Proxy};
    let db = DevDb::start(&[]);
    let proxy = Proxy::start(
        db.port,
        Fault::Latency(std::time::Duration::from_millis(300)),
    );
    let url = |t: u32| db.url_at(proxy.port, &format!("sslmode=require&connect_timeout={t}"));
    let (r, v) = db_test(&db, &url(2));
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(code(&v), "startup_timeout", "{v}");
    let hint = v["targets"][0]["diagnosis"]["hint"].as_str().unwrap();
    assert!(hint.contains("raise connect_timeout"), "{hint}");
    // Prisma on the same URL, as written, without our checks: the same bound fails it.
    let app = App::new(Some(&format!("DATABASE_URL=\"{}\"\n", url(2))));
    let r = app.migrate_wasm(
        &["--deploy", "--no-preflight", "--no-tune", "--retries", "0"],
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.all().contains("P1001"), "{}", r.all());
    let (r, v) = db_test(&db, &url(30));
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(code(&v), "ok", "{v}");
}

/// Cause 8: an IPv6-only host (Supabase's direct `db.<ref>.supabase.co`)
/// from a network without IPv6. The test makes that network: a new
/// network namespace (loopback only, no route anywhere) with its own
/// /etc/hosts in a new mount namespace, where `db.test` has only the
/// documentation address 2001:db8::10. Nothing leaves the namespace.
/// db-test said "no answer within 10s ... a firewall drops the packets";
/// it now says at once that there is no route and why.
#[test]
fn cause_08_ipv6_only_host_from_a_network_without_ipv6() {
    let dir = TempDir::new("ipv6only");
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost\n2001:db8::10 db.test\n").unwrap();
    let script = format!(
        "mount --bind {} /etc/hosts && ip link set lo up && exec {} --project-dir {} db-test --json --var DATABASE_URL",
        hosts.display(),
        xtask_bin().display(),
        dir.path().display()
    );
    let started = std::time::Instant::now();
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--net", "sh", "-c", &script])
        .env(
            "DATABASE_URL",
            "postgresql://app:pw-not-used@db.test:5432/postgres?sslmode=require",
        )
        .output()
        .expect("unshare (util-linux) runs as root");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(code(&v), "tcp_unreachable", "{v}");
    let tcp = check(&v, "tcp");
    assert!(
        tcp["detail"]
            .as_str()
            .unwrap()
            .contains("db.test has only IPv6 addresses"),
        "{tcp}"
    );
    assert!(
        tcp["hint"].as_str().unwrap().contains("session pooler"),
        "{tcp}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "said at once"
    );
}

/// Cause 30: RDS Proxy's own client limit, imitated at its boundary with
/// its documented text (no RDS Proxy here): named as the proxy's limit.
#[test]
fn cause_30_rds_proxy_client_limit() {
    use crate::support::proxy::{Fault, Proxy};
    let db = DevDb::start(&[]);
    let proxy = Proxy::start(
        db.port,
        Fault::StartupFatal(
            None,
            "08P01",
            "The maximum number of client connections to the proxy exceeded 100.",
        ),
    );
    let url = db.url_at(proxy.port, "sslmode=disable");
    let (r, v) = db_test(&db, &url);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(code(&v), "too_many_connections", "{v}");
    let a = check(&v, "auth");
    assert!(
        a["detail"]
            .as_str()
            .unwrap()
            .starts_with("RDS Proxy refused the session"),
        "{a}"
    );
    assert!(
        a["hint"]
            .as_str()
            .unwrap()
            .contains("MaxConnectionsPercent"),
        "{a}"
    );
}

/// Cause 2 through `onboard`: DATABASE_URL is the pooled runtime URL and
/// prisma.config.ts reads DIRECT_URL. onboard's db-test step checks the
/// URL Prisma's CLI uses, and its migrate step applies every migration
/// through it, with the pooled URL left to the app.
#[test]
fn cause_02_onboard_checks_and_migrates_through_the_configs_url() {
    let db = DevDb::start(&[]);
    let pgb = PgBouncer::start(&db, PoolMode::Transaction, &[]);
    let app = App::new(Some(&format!(
        "DATABASE_URL=\"{}\"\nDIRECT_URL=\"{}\"\n",
        pgb.url(&db, "sslmode=require"),
        db.url
    )));
    let config = app.path().join("prisma.config.ts");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("env(\"DATABASE_URL\")", "env(\"DIRECT_URL\")"),
    )
    .unwrap();
    let p = app.path().to_str().unwrap();
    let r = xtask(
        &[
            "--project-dir",
            p,
            "onboard",
            "--yes",
            "--json",
            "--engine",
            "wasm",
        ],
        app.path(),
        &[],
        None,
    );
    assert_no_secret(&r.all(), &db.password);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(db.finished().len(), 2, "{}", r.all());
    let v = last_json(&r.stdout);
    let step = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "db-test")
        .unwrap_or_else(|| panic!("no db-test step: {v}"));
    assert!(
        step["detail"]
            .as_str()
            .unwrap()
            .starts_with("DIRECT_URL (prisma.config.ts's datasource.url): all layers pass"),
        "{step}"
    );
}

/// Cause 11: another PostgreSQL answers on the port the URL names (an
/// install on the host shadowing Docker's). Two dev-dbs here: the URL
/// has the first one's password and the second one's port. The finding
/// says that another server may be answering, and how to see which.
#[test]
fn cause_11_another_server_answers_on_the_port() {
    let a = DevDb::start(&[]);
    let b = DevDb::start(&[]);
    assert_ne!(a.password, b.password);
    let url = a.url_at(b.port, "sslmode=require");
    let (r, v) = db_test(&a, &url);
    assert_no_secret(&r.all(), &b.password);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(code(&v), "auth_failed", "{v}");
    let hint = check(&v, "auth")["hint"].as_str().unwrap().to_string();
    assert!(
        hint.contains(&format!("another PostgreSQL answers on port {}", b.port)),
        "{hint}"
    );
    assert!(
        hint.contains(&format!("ss -ltnp 'sport = :{}'", b.port)),
        "{hint}"
    );
}

/// Cause 35: `localhost` resolves to ::1 first, and the server listens
/// there too but its pg_hba.conf allows only 127.0.0.1. The dev-db is made
/// so (listening on both, the ::1 line removed), and `localhost` is mapped
/// to ::1 first in a mount namespace the test makes (its own /etc/hosts;
/// the network is this machine's loopback). Named with the fix, which
/// passes.
#[test]
fn cause_35_localhost_reaches_ipv6_first_and_pg_hba_refuses_it() {
    let db = DevDb::start(&[]);
    db.admin()
        .batch_execute("ALTER SYSTEM SET listen_addresses = '127.0.0.1,::1'")
        .unwrap();
    // listen_addresses needs a restart; `up` writes pg_hba.conf afresh,
    // so the ::1 line is removed after it, and the file reloaded.
    let d = db.data_dir();
    let port = db.port.to_string();
    for args in [
        vec!["dev-db", "down", "--data-dir", &d],
        vec![
            "dev-db",
            "up",
            "--data-dir",
            &d,
            "--port",
            &port,
            "--stop-after",
            "900",
        ],
    ] {
        let r = xtask(&args, db.dir.path(), &[], None);
        assert_eq!(r.code, 0, "{}", r.all());
    }
    let hba = std::path::Path::new(&d).join("pgdata/pg_hba.conf");
    let text = std::fs::read_to_string(&hba).unwrap();
    let only_v4: String = text
        .lines()
        .filter(|l| !l.contains("::1"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(
        text, only_v4,
        "the dev-db's pg_hba.conf has a ::1 line to remove"
    );
    std::fs::write(&hba, only_v4).unwrap();
    db.admin().batch_execute("SELECT pg_reload_conf()").unwrap();
    let dir = TempDir::new("localhost6");
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "::1 localhost\n127.0.0.1 localhost\n").unwrap();
    let db_test_in_namespace = |host: &str| {
        let url = db.url.replace("127.0.0.1", host);
        let script = format!(
            "mount --bind {} /etc/hosts && exec {} --project-dir {} db-test --json --var DATABASE_URL",
            hosts.display(),
            xtask_bin().display(),
            dir.path().display()
        );
        let out = std::process::Command::new("unshare")
            .args(["--mount", "sh", "-c", &script])
            .env("DATABASE_URL", url)
            .output()
            .expect("unshare (util-linux) runs as root");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_no_secret(&stdout, &db.password);
        assert_no_secret(&String::from_utf8_lossy(&out.stderr), &db.password);
        let v: serde_json::Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
        v
    };
    let v = db_test_in_namespace("localhost");
    assert_eq!(code(&v), "auth_failed", "{v}");
    let a = check(&v, "auth");
    assert!(
        a["detail"].as_str().unwrap().contains("host \"::1\""),
        "{a}"
    );
    assert!(
        a["hint"]
            .as_str()
            .unwrap()
            .contains("put 127.0.0.1 in the URL instead of localhost"),
        "{a}"
    );
    let v = db_test_in_namespace("127.0.0.1");
    assert_eq!(code(&v), "ok", "{v}");
}
