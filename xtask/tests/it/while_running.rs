//! While a migration runs and after it fails (issue 21): the real pinned
//! Prisma CLI on Prisma's real schema engine (its WebAssembly build, run by
//! the engine host), against a real dev-db, with the faults made on the
//! server itself: a teammate's session holding a lock, timeouts set on the
//! role, signals sent to the xtask. Each test checks what is said, the
//! exit code, the JSON, that no session of the run is left on the server,
//! and that the password never shows.

use crate::support::*;
use std::time::{Duration, Instant};

const INIT: &str = "20261101000000_init";
const SAVED: &str = "20261124000001_add_saved_comparables";

/// A session of the app's role, named as a teammate's tool would be.
fn teammate(db: &DevDb, name: &str) -> (postgres::Client, i32) {
    let mut c = db.app();
    c.batch_execute(&format!("SET application_name = '{name}'"))
        .unwrap();
    let pid: i32 = c.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    (c, pid)
}

/// Sessions on the server that a migrate run opened (tagged by the xtask).
fn run_sessions(db: &DevDb) -> i64 {
    db.admin()
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '%xtask-migrate-%'",
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn a_ddl_blocked_by_a_session_idle_in_transaction_is_named_until_it_moves() {
    let db = DevDb::start(&[]);
    let app = deployed_app(&db);
    // A teammate's psql read from "User" inside a transaction and was left
    // open: the ALTER TABLE below needs the table to itself and waits.
    let (mut psql, pid) = teammate(&db, "teammate-psql");
    psql.batch_execute("BEGIN; SELECT count(*) FROM \"User\";")
        .unwrap();
    let note = "20261202000000_add_user_note";
    app.add_migration(note, "ALTER TABLE \"User\" ADD COLUMN \"note\" TEXT;\n");
    let r = std::thread::scope(|scope| {
        // The teammate commits once the ALTER has waited 6 s (the watch
        // looks after 3 s of Prisma's silence): the migration goes on.
        scope.spawn(|| {
            let mut admin = db.admin();
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let n: i64 = admin
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                         AND query LIKE 'ALTER TABLE%' AND now() - query_start > interval '6 s'",
                        &[],
                    )
                    .unwrap()
                    .get(0);
                if n > 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            psql.batch_execute("COMMIT").unwrap();
        });
        app.migrate_wasm(&["--deploy", "--json"], &[])
    });
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr
            .contains("the migration waits for a lock on \"User\""),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("it is held by pid {pid} (teammate-psql)")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("idle in transaction"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "`SELECT pg_terminate_backend({pid})` if nobody needs it"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("no lock_timeout applies"), "{}", r.stderr);
    let s = one_json(&r);
    let locks: Vec<&serde_json::Value> = s["waits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["kind"] == "table_lock")
        .collect();
    assert_eq!(locks.len(), 1, "one wait, said once: {s}");
    assert_eq!(locks[0]["holder"]["pid"], pid, "{s}");
    assert!(locks[0]["seconds"].as_u64().unwrap() >= 3, "{s}");
    assert_eq!(db.finished(), [INIT, SAVED, note]);
    assert_eq!(run_sessions(&db), 0);
    assert_no_secret(&r.all(), &password_of(&db.url));
}

#[cfg(unix)]
fn signal_while_running(app: &App, db: &DevDb, args: &[&str], sig: i32, when: &str) -> Run {
    let mut cmd = std::process::Command::new(xtask_bin());
    let mut a = vec!["--project-dir", app.path().to_str().unwrap(), "migrate"];
    a.extend_from_slice(args);
    a.extend(["--engine", "wasm", "--json"]);
    cmd.args(&a)
        .current_dir(app.path())
        .env_remove("DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let mut admin = db.admin();
    let deadline = Instant::now() + Duration::from_secs(60);
    let q = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%{when}%' AND state = 'active' AND pid <> pg_backend_pid()"
    );
    loop {
        let n: i64 = admin.query_one(q.as_str(), &[]).unwrap().get(0);
        if n > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "`{when}` never ran");
        std::thread::sleep(Duration::from_millis(100));
    }
    unsafe { libc_kill(child.id() as i32, sig) };
    let killed = Instant::now();
    let out = child.wait_with_output().unwrap();
    eprintln!("signal {sig}: stopped {:?} after it", killed.elapsed());
    assert!(
        killed.elapsed() < Duration::from_secs(12),
        "stopped {:?} after the signal, not after the sleep",
        killed.elapsed()
    );
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[cfg(unix)]
extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// SIGTERM (a cancelled CI job, `docker stop`) and SIGINT (Ctrl-C) in the
/// middle of a migration's statement: the statement is cancelled on the
/// server, so it cannot commit after we said "interrupted"; nothing of the
/// run is left on the server; the report names the migration, says its
/// changes are not there, and gives the `migrate resolve` that the next
/// run needs. That command, run as given, lets the next deploy apply it.
#[cfg(unix)]
#[test]
fn sigterm_and_sigint_mid_migration_cancel_it_on_the_server_and_name_the_resolve() {
    let db = DevDb::start(&[]);
    let app = deployed_app(&db);
    let slow = "20261202000000_slow_backfill";
    for (sig, name) in [(15, "SIGTERM"), (2, "SIGINT")] {
        app.add_migration(
            slow,
            "CREATE TABLE \"Backfill\" (\"id\" INTEGER);\nSELECT pg_sleep(20);\n",
        );
        let r = signal_while_running(&app, &db, &["--deploy"], sig, "pg_sleep(20)");
        assert_eq!(r.code, 130, "{name}: {}", r.all());
        assert!(
            r.stderr
                .contains("cancelled the migration's statement on the server"),
            "{name}: {}",
            r.stderr
        );
        let fix = format!("npx prisma migrate resolve --rolled-back {slow}");
        assert!(
            r.stderr.contains("none of its changes are in the database"),
            "{name}: {}",
            r.stderr
        );
        assert!(
            r.stderr.contains("the migration lock is free"),
            "{name}: {}",
            r.stderr
        );
        assert!(
            r.stderr
                .contains("no session of this run is left on the server"),
            "{name}: {}",
            r.stderr
        );
        let s = one_json(&r);
        assert_eq!(s["diagnosis"]["code"], "interrupted", "{s}");
        assert!(
            s["diagnosis"]["hint"].as_str().unwrap().contains(&fix),
            "{s}"
        );
        // The server agrees: no session of the run, nothing sleeping, the
        // lock free, no table, the migration recorded as failed.
        assert_eq!(run_sessions(&db), 0, "{name}");
        assert_nothing_left_running(app.path());
        let mut admin = db.admin();
        let sleeping: i64 = admin
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()", &[])
            .unwrap()
            .get(0);
        assert_eq!(sleeping, 0, "{name}");
        let locked: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 72707369",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(locked, 0, "{name}");
        assert!(!db.has_table("Backfill"), "{name}");
        assert_no_secret(&r.all(), &password_of(&db.url));
        // The next run stops at the failed row (P3009), named, with the
        // same resolve; the command, run as written, clears it.
        let r = app.migrate_wasm(&["--deploy", "--json"], &[]);
        assert_ne!(r.code, 0, "{name}: {}", r.all());
        let s = one_json(&r);
        assert_eq!(s["diagnosis"]["code"], "P3009", "{}", r.all());
        assert!(
            r.stderr.contains(&format!("migration {slow} failed")),
            "{}",
            r.stderr
        );
        let hint = s["diagnosis"]["hint"].as_str().unwrap();
        assert!(hint.contains(&fix), "{hint}");
        run_resolve_from(hint, &app, &db);
    }
    // With the slow part gone, the next deploy applies it.
    app.add_migration(slow, "CREATE TABLE \"Backfill\" (\"id\" INTEGER);\n");
    let r = app.migrate_wasm(&["--deploy", "--json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(db.has_table("Backfill"));
}

/// Runs `migrate --deploy --engine wasm` as given by the fix in `hint`:
/// `npx prisma migrate resolve ...` exactly as the hint writes it, on the
/// real engine, against this test's own database.
fn run_resolve_from(hint: &str, app: &App, db: &DevDb) {
    let start = hint
        .find("`npx prisma migrate resolve")
        .expect("a resolve command")
        + 1;
    let end = start + hint[start..].find('`').unwrap();
    let words: Vec<&str> = hint[start..end].split_whitespace().collect();
    assert_eq!(
        &words[..4],
        ["npx", "prisma", "migrate", "resolve"],
        "{hint}"
    );
    let out = std::process::Command::new("npx")
        .arg("--no-install")
        .args(&words[1..])
        .current_dir(app.path())
        // As a user runs it: the URL from .env.local, which the app's
        // prisma.config.ts loads.
        .env_remove("DATABASE_URL")
        .envs(app.real_engine_env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = db;
}

/// Cause 14 after the fact: a role-level statement_timeout cancels a
/// migration whose SQL is fine. While it runs, the watch says how long the
/// statement has run against the limit; after P3018 the diagnosis names
/// the limit and where it is set, not the SQL, and gives the SQL that
/// lifts it and the resolve for the rolled-back migration. Done as said,
/// the next deploy applies the migration.
#[test]
fn a_role_statement_timeout_is_named_as_the_cause_of_p3018() {
    let db = DevDb::start(&[]);
    let app = deployed_app(&db);
    db.admin()
        .batch_execute("ALTER ROLE app SET statement_timeout = '8s'")
        .unwrap();
    let slow = "20261202000000_backfill";
    app.add_migration(
        slow,
        "CREATE TABLE \"Backfill\" (\"id\" INTEGER);\nSELECT pg_sleep(12);\n",
    );
    let r = app.migrate_wasm(&["--deploy", "--json"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains("a migration statement is running (`CREATE TABLE"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("statement_timeout 8s (set on role app) cancels it at 8s"),
        "{}",
        r.stderr
    );
    let s = one_json(&r);
    assert_eq!(
        s["attempts"].as_array().unwrap().len(),
        1,
        "not retried: {s}"
    );
    assert_eq!(s["diagnosis"]["code"], "P3018", "{s}");
    assert_eq!(s["waits"][0]["kind"], "statement", "{s}");
    assert!(
        r.stderr.contains(&format!(
            "migration {slow}: statement_timeout 8s (set on role app) stopped it"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("the SQL is not at fault"), "{}", r.stderr);
    let hint = s["diagnosis"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("`ALTER ROLE \"app\" SET statement_timeout = 0`"),
        "{hint}"
    );
    assert!(
        hint.contains(&format!(
            "`npx prisma migrate resolve --rolled-back {slow}`"
        )),
        "{hint}"
    );
    assert!(!hint.contains("fix the SQL"), "{hint}");
    assert!(!db.has_table("Backfill"));
    assert_eq!(run_sessions(&db), 0);
    assert_no_secret(&r.all(), &password_of(&db.url));
    // The fix, as said.
    db.admin()
        .batch_execute("ALTER ROLE \"app\" SET statement_timeout = 0")
        .unwrap();
    run_resolve_from(hint, &app, &db);
    let r = app.migrate_wasm(&["--deploy", "--json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(db.has_table("Backfill"));
}

/// A role-level lock_timeout gives up on a table a teammate's open
/// transaction holds: the watch names the holder while it waits, and the
/// diagnosis names lock_timeout, where it is set and the resolve.
#[test]
fn a_role_lock_timeout_is_named_with_the_session_in_the_way() {
    let db = DevDb::start(&[]);
    let app = deployed_app(&db);
    db.admin()
        .batch_execute("ALTER ROLE app SET lock_timeout = '8s'")
        .unwrap();
    let (mut psql, pid) = teammate(&db, "teammate-psql");
    psql.batch_execute("BEGIN; SELECT count(*) FROM \"Listing\";")
        .unwrap();
    let note = "20261202000000_add_listing_note";
    app.add_migration(note, "ALTER TABLE \"Listing\" ADD COLUMN \"note\" TEXT;\n");
    let r = app.migrate_wasm(&["--deploy", "--json"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr
            .contains(&format!("it is held by pid {pid} (teammate-psql)")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("lock_timeout 8s (set on role app) cancels it at 8s"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "migration {note}: lock_timeout 8s (set on role app) stopped it"
        )),
        "{}",
        r.stderr
    );
    let s = one_json(&r);
    assert_eq!(s["waits"][0]["kind"], "table_lock", "{s}");
    let hint = s["diagnosis"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("`ALTER ROLE \"app\" SET lock_timeout = 0`"),
        "{hint}"
    );
    assert!(
        hint.contains(&format!(
            "`npx prisma migrate resolve --rolled-back {note}`"
        )),
        "{hint}"
    );
    assert_eq!(run_sessions(&db), 0);
    psql.batch_execute("COMMIT").unwrap();
    assert_no_secret(&r.all(), &password_of(&db.url));
}

/// A session left open holds Prisma's migration lock and runs nothing: it
/// is named while the run waits (without Prisma), taken for left behind
/// once it has run nothing for 10 s, and named with the SQL that ends it;
/// Prisma never starts. Ended as said, the next run applies.
#[test]
fn a_stale_lock_holder_is_named_not_waited_on_forever() {
    let db = DevDb::start(&[]);
    let app = deployed_app(&db);
    let (mut psql, pid) = teammate(&db, "forgotten-psql");
    psql.batch_execute("SELECT pg_advisory_lock(72707369)")
        .unwrap();
    app.add_migration(
        "20261202000000_add_note",
        "ALTER TABLE \"User\" ADD COLUMN \"note\" TEXT;\n",
    );
    let t0 = Instant::now();
    let r = app.migrate_wasm(&["--deploy", "--json"], &[]);
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "not waited on: {:?}",
        t0.elapsed()
    );
    assert_eq!(r.code, 1, "{}", r.all());
    let fix = format!("`SELECT pg_terminate_backend({pid})`");
    assert!(
        r.stderr
            .contains(&format!("is held by pid {pid} (forgotten-psql)")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("which runs nothing"), "{}", r.stderr);
    let s = one_json(&r);
    assert_eq!(s["diagnosis"]["code"], "lock_stale", "{s}");
    assert!(
        s["diagnosis"]["hint"].as_str().unwrap().contains(&fix),
        "{s}"
    );
    assert_eq!(
        s["attempts"].as_array().unwrap().len(),
        0,
        "Prisma never ran: {s}"
    );
    assert_eq!(run_sessions(&db), 0);
    assert_no_secret(&r.all(), &password_of(&db.url));
    // The fix as said, from another session of the same role.
    db.app().batch_execute(&fix.replace('`', "")).unwrap();
    let r = app.migrate_wasm(&["--deploy", "--json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    drop(psql);
}

/// Another deploy is running a migration and holds the lock: the run says
/// so and waits without Prisma (no connection held meanwhile), then
/// applies once the other one is done.
#[test]
fn a_live_lock_holder_is_named_and_waited_for() {
    let db = DevDb::start(&[]);
    let app = deployed_app(&db);
    let (mut other, pid) = teammate(&db, "other-deploy");
    app.add_migration(
        "20261202000000_add_note",
        "ALTER TABLE \"User\" ADD COLUMN \"note\" TEXT;\n",
    );
    let r = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        scope.spawn(move || {
            other
                .batch_execute("SELECT pg_advisory_lock(72707369)")
                .unwrap();
            tx.send(()).unwrap();
            other
                .batch_execute("SELECT pg_sleep(13); SELECT pg_advisory_unlock(72707369)")
                .unwrap();
        });
        rx.recv().unwrap();
        app.migrate_wasm(&["--deploy", "--json"], &[])
    });
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr
            .contains(&format!("without Prisma: held by pid {pid} (other-deploy)")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("a migration in progress"), "{}", r.stderr);
    let s = one_json(&r);
    assert_eq!(s["attempts"].as_array().unwrap().len(), 1, "{s}");
    assert_eq!(db.finished().len(), 3);
    assert_eq!(run_sessions(&db), 0);
}

/// `pg_terminate_backend` on the migration's session in the middle of its
/// script (an admin, a failover): the diagnosis says the session was ended
/// (not the SQL), that the changes were rolled back, and the resolve; the
/// next run names the failed migration; the resolve lets it apply.
#[test]
fn a_session_ended_mid_migration_is_named_and_the_next_run_told_what_to_do() {
    let db = DevDb::start(&[]);
    let app = deployed_app(&db);
    let slow = "20261202000000_slow_backfill";
    app.add_migration(
        slow,
        "CREATE TABLE \"Backfill\" (\"id\" INTEGER);\nSELECT pg_sleep(20);\n",
    );
    let r = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut admin = db.admin();
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let n: i64 = admin
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                         WHERE query LIKE '%pg_sleep(20)%' AND state = 'active' AND pid <> pg_backend_pid()",
                        &[],
                    )
                    .unwrap()
                    .get(0);
                if n > 0 {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        app.migrate_wasm(&["--deploy", "--json"], &[])
    });
    assert_eq!(r.code, 1, "{}", r.all());
    let s = one_json(&r);
    let hint = s["diagnosis"]["hint"].as_str().unwrap();
    assert!(
        r.stderr
            .contains(&format!("migration {slow}: its session was ended under it")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("none of its changes are in the database"),
        "{}",
        r.stderr
    );
    assert!(
        hint.contains(&format!(
            "`npx prisma migrate resolve --rolled-back {slow}`"
        )),
        "{hint}"
    );
    assert!(!hint.contains("fix the SQL"), "{hint}");
    assert_eq!(run_sessions(&db), 0);
    assert_no_secret(&r.all(), &password_of(&db.url));
    let r = app.migrate_wasm(&["--deploy", "--json"], &[]);
    assert_eq!(one_json(&r)["diagnosis"]["code"], "P3009", "{}", r.all());
    assert!(
        r.stderr.contains(&format!("migration {slow} failed")),
        "{}",
        r.stderr
    );
    let hint = one_json(&r)["diagnosis"]["hint"]
        .as_str()
        .unwrap()
        .to_string();
    run_resolve_from(&hint, &app, &db);
    app.add_migration(slow, "CREATE TABLE \"Backfill\" (\"id\" INTEGER);\n");
    let r = app.migrate_wasm(&["--deploy", "--json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(db.has_table("Backfill"));
}

/// Cause 18 after the fact: a role-level idle_session_timeout ends
/// `migrate dev`'s main connection while it idles during the shadow
/// database's replay of the history; Prisma says P1017. The watch saw the
/// session idle, so the diagnosis names the limit and where it is set, and
/// the run is not retried (a retry replays and idles as long). The named
/// fix lets the same command succeed.
#[test]
fn an_idle_session_timeout_during_the_shadow_replay_is_named_not_retried() {
    let db = DevDb::start(&[]);
    let app = deployed_app(&db);
    app.add_migration("20261201000000_slow", "SELECT pg_sleep(9);\n");
    let r = app.migrate_wasm(&["--deploy", "--json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    db.admin()
        .batch_execute("ALTER ROLE app SET idle_session_timeout = '5s'")
        .unwrap();
    let r = app.migrate_wasm(&["add_listing_notes", "--json"], &[]);
    eprintln!("{}", r.all());
    assert_eq!(r.code, 1, "{}", r.all());
    let s = one_json(&r);
    assert_eq!(s["diagnosis"]["code"], "P1017", "{s}");
    assert_eq!(
        s["attempts"].as_array().unwrap().len(),
        1,
        "not retried: {s}"
    );
    assert!(
        r.stderr
            .contains("idle_session_timeout 5s (set on role app) ended Prisma's connection"),
        "{}",
        r.stderr
    );
    let hint = s["diagnosis"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("`ALTER ROLE \"app\" SET idle_session_timeout = 0`"),
        "{hint}"
    );
    assert_eq!(run_sessions(&db), 0);
    assert_no_secret(&r.all(), &password_of(&db.url));
    db.admin()
        .batch_execute("ALTER ROLE \"app\" SET idle_session_timeout = 0")
        .unwrap();
    let r = app.migrate_wasm(&["add_listing_notes", "--json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// Cause 18 with the cut in the path: a proxy that closes connections idle
/// for 5 s (a NAT, a VPN, a port-forward) sits between Prisma and the
/// server, which sets no idle limit. `migrate dev`'s main connection idles
/// through the shadow replay and is cut: P1017, named as an idle cut in
/// the path, not retried. The check it names, run as said, confirms it.
#[test]
fn an_idle_cut_in_the_path_during_the_shadow_replay_is_named_not_retried() {
    use crate::support::proxy::{Fault, Proxy};
    let db = DevDb::start(&[]);
    let app = deployed_app(&db);
    app.add_migration("20261201000000_slow", "SELECT pg_sleep(9);\n");
    let r = app.migrate_wasm(&["--deploy", "--json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let proxy = Proxy::start(db.port, Fault::CloseIdle(Duration::from_secs(5)));
    let url = db.url_at(proxy.port, "sslmode=require");
    std::fs::write(
        app.path().join(".env.local"),
        format!("DATABASE_URL={url}\n"),
    )
    .unwrap();
    let r = app.migrate_wasm(&["add_listing_notes", "--json"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    let s = one_json(&r);
    assert_eq!(s["diagnosis"]["code"], "P1017", "{s}");
    assert_eq!(
        s["attempts"].as_array().unwrap().len(),
        1,
        "not retried: {s}"
    );
    assert!(
        r.stderr
            .contains("and the server sets no idle_session_timeout: something in the path"),
        "{}",
        r.stderr
    );
    let hint = s["diagnosis"]["hint"].as_str().unwrap();
    let start = hint
        .find("`cargo xtask db-test --idle-probe ")
        .expect("the probe")
        + 1;
    let probe: Vec<&str> = hint[start..start + hint[start..].find('`').unwrap()]
        .split_whitespace()
        .collect();
    assert_eq!(run_sessions(&db), 0);
    assert_no_secret(&r.all(), &password_of(&db.url));
    // The check, as said, through the same path.
    let mut args = vec!["--project-dir", app.path().to_str().unwrap()];
    args.extend_from_slice(&probe[2..]);
    let r = xtask(&args, app.path(), &[], None);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.contains("verdict: idle_closed at layer idle"),
        "{}",
        r.stdout
    );
}
