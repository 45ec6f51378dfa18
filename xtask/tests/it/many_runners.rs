//! Many runners, one database (issue 22): `migrate --deploy` started by
//! several runners at once, each a real xtask process running the real
//! pinned Prisma CLI on Prisma's real schema engine (the WebAssembly build,
//! through the engine host) against one dev-db. The lock is Prisma's own
//! advisory lock; what is checked comes from the server: who applied what
//! (`_prisma_migrations`), the sessions each runner held while it waited.

use crate::support::*;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// How many times `name` was started, by `_prisma_migrations`.
fn started(db: &DevDb, name: &str) -> usize {
    db.recorded()
        .unwrap()
        .iter()
        .filter(|r| r.name == name)
        .count()
}

/// Samples the sessions of the app's role every 50 ms while `f` runs,
/// from `after` on (past the runners' start, when each opens its
/// preflight's session); the peak, with `f`'s result.
fn peak_sessions<T>(db: &DevDb, after: Duration, f: impl FnOnce() -> T) -> (T, i64) {
    let done = AtomicBool::new(false);
    let peak = AtomicI64::new(0);
    let out = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut admin = db.admin();
            std::thread::sleep(after);
            while !done.load(Ordering::SeqCst) {
                let n: i64 = admin
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app'",
                        &[],
                    )
                    .unwrap()
                    .get(0);
                peak.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let out = f();
        done.store(true, Ordering::SeqCst);
        out
    });
    (out, peak.load(Ordering::SeqCst))
}

/// Five runners deploy at once a migration that runs 50 s, longer than
/// Prisma's 10 s lock wait and than today's retries (2 s + 4 s) cover:
/// all five succeed, the migration is applied once, and the waiting
/// runners hold no connection (the peak stays far below one per runner).
#[test]
fn five_concurrent_deploys_of_a_long_migration_all_succeed_once() {
    let db = DevDb::start(&[]);
    let app = deployed_app(&db);
    let slow = "20261202000000_backfill";
    app.add_migration(
        slow,
        "CREATE TABLE \"Backfill\" (\"id\" INTEGER);\nSELECT pg_sleep(50);\n",
    );
    let t0 = Instant::now();
    let (runs, peak) = peak_sessions(&db, Duration::from_secs(15), || {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..5)
                .map(|_| scope.spawn(|| app.migrate_wasm(&["--deploy", "--json"], &[])))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect::<Vec<Run>>()
        })
    });
    let took = t0.elapsed();
    for r in &runs {
        assert_eq!(r.code, 0, "{}", r.all());
        assert_no_secret(&r.all(), &password_of(&db.url));
    }
    let applied: usize = runs
        .iter()
        .map(|r| one_json(r)["applied"].as_array().unwrap().len())
        .sum();
    assert_eq!(applied, 1, "one runner applied it");
    assert_eq!(started(&db, slow), 1, "started once");
    assert!(db.has_table("Backfill"));
    let waited = runs
        .iter()
        .filter(|r| r.stderr.contains("waiting for the migration lock"))
        .count();
    assert!(waited >= 3, "the others waited, and said so");
    let longest = runs
        .iter()
        .map(|r| one_json(r)["lock_wait_ms"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(longest >= 40_000, "waited without Prisma: {longest} ms");
    // While the migration runs: Prisma's session and the watch's; a
    // waiting runner's look lasts milliseconds. Five runners each holding
    // one (Prisma alone: four queued behind the lock) would be 5.
    assert!(peak <= 4, "peak {peak} sessions of the app's role");
    eprintln!(
        "5 runners: {:.1}s, peak {peak} sessions",
        took.as_secs_f64()
    );
}

/// The race: this runner saw the lock free and passed the gate, and
/// another client (a plain `prisma migrate deploy` elsewhere, which knows
/// no gate) took the lock before this runner's Prisma did: here the moment
/// Prisma's first session (its connection check, tagged by the run)
/// appears, well before its engine starts and asks for the lock. Prisma
/// waits its 10 s and says P1002; the runner does not count that as a
/// failure or a retry (`--retries 0`), waits again without Prisma, and
/// applies once the other is done.
#[test]
fn a_runner_that_loses_the_race_waits_again_and_succeeds() {
    let db = DevDb::start(&[]);
    let app = deployed_app(&db);
    app.add_migration(
        "20261202000000_add_note",
        "ALTER TABLE \"User\" ADD COLUMN \"note\" TEXT;\n",
    );
    let r = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut admin = db.admin();
            let mut other = db.app();
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                let prisma: i64 = admin
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '%xtask-migrate-%'",
                        &[],
                    )
                    .unwrap()
                    .get(0);
                if prisma > 0 {
                    other
                        .batch_execute(
                            "SET application_name = 'plain-prisma'; SELECT pg_advisory_lock(72707369); \
                             SELECT pg_sleep(16); SELECT pg_advisory_unlock(72707369)",
                        )
                        .unwrap();
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        app.migrate_wasm(&["--deploy", "--retries", "0", "--json"], &[])
    });
    assert_eq!(r.code, 0, "{}", r.all());
    let s = one_json(&r);
    assert_eq!(s["attempts"][0]["error_code"], "P1002", "{s}");
    assert_eq!(s["attempts"].as_array().unwrap().len(), 2, "{s}");
    assert_eq!(s["ok"], true, "{s}");
    assert!(
        r.stderr
            .contains("another runner took the migration lock first"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("(plain-prisma)"),
        "the holder named: {}",
        r.stderr
    );
    assert_eq!(db.finished().len(), 3);
}

/// `--lock-wait` bounds the wait: a live migration that holds the lock
/// longer ends the run, naming who holds it and for how long we waited;
/// Prisma never started.
#[test]
fn lock_wait_bounds_the_wait() {
    let db = DevDb::start(&[]);
    let app = deployed_app(&db);
    app.add_migration(
        "20261202000000_add_note",
        "ALTER TABLE \"User\" ADD COLUMN \"note\" TEXT;\n",
    );
    let mut other = db.app();
    other
        .batch_execute("SET application_name = 'other-deploy'")
        .unwrap();
    let pid: i32 = other
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let r = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        scope.spawn(move || {
            other
                .batch_execute("SELECT pg_advisory_lock(72707369)")
                .unwrap();
            tx.send(()).unwrap();
            // Cancelled once the run is over.
            let _ = other.batch_execute("SELECT pg_sleep(60)");
        });
        rx.recv().unwrap();
        let r = app.migrate_wasm(&["--deploy", "--lock-wait", "3", "--json"], &[]);
        db.admin()
            .batch_execute(&format!("SELECT pg_cancel_backend({pid})"))
            .unwrap();
        r
    });
    assert_eq!(r.code, 1, "{}", r.all());
    let s = one_json(&r);
    assert_eq!(s["diagnosis"]["code"], "lock_wait_timeout", "{s}");
    let waited = s["lock_wait_ms"].as_u64().unwrap();
    assert!((3_000..8_000).contains(&waited), "waited {waited} ms: {s}");
    assert_eq!(s["attempts"].as_array().unwrap().len(), 0, "{s}");
    assert!(
        r.stderr.contains(&format!("by pid {pid} (other-deploy)")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("(--lock-wait 3)"), "{}", r.stderr);
}
