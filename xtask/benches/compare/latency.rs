//! The rows measured through a latency-injecting loopback proxy (25 ms each
//! way, a 50 ms round trip): what a laptop or CI runner sees talking to RDS.
//! Each row reports its median in round trips (median / RTT) next to the
//! floor for one verdict over TLS + SCRAM: 7 (TCP, SSLRequest, TLS 1.3,
//! startup, SCRAM's two legs, one query). Through the proxy TCP's own
//! handshake is local (the kernel completes it before the proxy sees the
//! connection), so every row here, psql's too, counts one round trip fewer
//! for TCP than a real link would.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::bench::{alternate, median, ms, pg_bin, run, xtask, Row, Sample};
use crate::proxy;

const ONE_WAY: Duration = Duration::from_millis(25);
const RTT_MS: f64 = 50.0;

fn rtt(ms: f64) -> String {
    format!("{:.1} RTT", ms / RTT_MS)
}

/// The values db-test's query and server checks read, one statement each,
/// as someone checking by hand with psql would send them.
const SERVER_QUERIES: [&str; 10] = [
    "SELECT version()",
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()",
    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
    "SHOW max_connections",
    "SHOW superuser_reserved_connections",
    "SHOW statement_timeout",
    "SHOW idle_in_transaction_session_timeout",
    "SHOW idle_session_timeout",
    "SHOW tcp_keepalives_idle",
    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
];

/// What the migrations check reads on top of those.
const MIGRATION_QUERIES: [&str; 3] = [
    "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user",
    "SELECT migration_name, finished_at IS NOT NULL, rolled_back_at IS NOT NULL FROM public._prisma_migrations ORDER BY started_at",
    "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objid = 72707369 AND l.granted",
];

/// Prisma's bookkeeping table with one applied migration, as in a project
/// that has migrated once (so the migrations check reads real rows).
const PRISMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS public._prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, finished_at timestamptz, migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz, started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0); INSERT INTO public._prisma_migrations (id, checksum, finished_at, migration_name, applied_steps_count) VALUES ('bench-0', 'x', now(), '20250101000000_init', 1) ON CONFLICT DO NOTHING";

fn psql_session(url: &str, queries: &[&str]) -> Command {
    let mut c = Command::new(pg_bin("psql"));
    c.args([url, "-X", "-q"]);
    for q in queries {
        c.args(["-c", q]);
    }
    c
}

/// The rows through the proxy; `app` is the migrate project when `npm ci` ran.
pub(super) fn rows(url: &str, dir: &Path, app: Option<&Path>, rows: &mut Vec<Row>) {
    let port = url
        .split("@127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse::<u16>().ok())
        .expect("the dev-db URL names a loopback port");
    let made = psql_session(url, &[PRISMA_TABLE])
        .args(["-v", "ON_ERROR_STOP=1"])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let proxy = proxy::Proxy::start(port, proxy::Fault::Latency(ONE_WAY));
    let slow = url.replace(&format!(":{port}/"), &format!(":{}/", proxy.port));
    let db_test = |quick: bool| {
        let mut c = Command::new(xtask());
        c.args(["db-test", "--json"]);
        if quick {
            c.arg("--quick");
        }
        c.env("DATABASE_URL", &slow).current_dir(dir);
        run(&mut c)
    };

    // 1. db-test --quick (checks 1-7) vs psql sending the same reads, one session.
    let (a, b) = alternate(10, 1, &mut || db_test(true), &mut || {
        run(&mut psql_session(&slow, &SERVER_QUERIES))
    });
    let (am, bm) = (median(ms(&a)), median(ms(&b)));
    rows.push(Row {
        what: "RTT 50 ms: db-test --quick (checks 1-7)".into(),
        runs: 10,
        samples: ms(&a),
        reference: Some(("psql, the 10 reads in one session".into(), bm)),
        target: "<= 8 RTT, ratio <= 0.55".into(),
        extra: format!(
            " {}; psql {bm:.0} ms = {} (floor 7, 6 via the proxy)",
            rtt(am),
            rtt(bm)
        ),
    });

    // 2. The full db-test (migrations too) vs psql with those reads as well.
    let all: Vec<&str> = SERVER_QUERIES
        .iter()
        .chain(&MIGRATION_QUERIES)
        .copied()
        .collect();
    let (a, b) = alternate(10, 1, &mut || db_test(false), &mut || {
        run(&mut psql_session(&slow, &all))
    });
    let (am, bm) = (median(ms(&a)), median(ms(&b)));
    rows.push(Row {
        what: "RTT 50 ms: db-test (all checks, 1 migration recorded)".into(),
        runs: 10,
        samples: ms(&a),
        reference: Some(("psql, the 13 reads in one session".into(), bm)),
        target: "<= 8 RTT, ratio <= 0.55".into(),
        extra: format!(
            " {}; psql {bm:.0} ms = {} (floor 7, 6 via the proxy)",
            rtt(am),
            rtt(bm)
        ),
    });

    // 3. The troubleshooting page's manual way: three separate psql runs.
    let (a, b) = alternate(10, 1, &mut || db_test(false), &mut || {
        let mut wall = Duration::ZERO;
        let mut rss = 0;
        for q in [
            "SELECT version()",
            "SELECT count(*) FROM pg_stat_activity",
            "SHOW max_connections",
        ] {
            let s = run(&mut psql_session(&slow, &[q]));
            wall += s.wall;
            rss = rss.max(s.max_rss_kib);
        }
        Sample {
            wall,
            max_rss_kib: rss,
        }
    });
    let (am, bm) = (median(ms(&a)), median(ms(&b)));
    rows.push(Row {
        what: "RTT 50 ms: db-test vs the manual way".into(),
        runs: 10,
        samples: ms(&a),
        reference: Some(("3 psql runs (version, connections, max)".into(), bm)),
        target: "ratio <= 0.4".into(),
        extra: format!(" {}; the 3 runs {bm:.0} ms = {}", rtt(am), rtt(bm)),
    });

    if let Some(app) = app {
        migrate_rows(&slow, app, rows);
    }
    drop(proxy);
}

/// migrate --deploy with and without its preflight vs Prisma run directly,
/// all through the proxy, with Prisma's real schema engine (the WebAssembly
/// build through the engine host: the native one cannot be downloaded here).
fn migrate_rows(slow: &str, app: &Path, rows: &mut Vec<Row>) {
    let engine = Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/schema-engine.mjs");
    let tuned = format!("{slow}&connect_timeout=30&pool_timeout=30");
    let env = |c: &mut Command| {
        c.env("PRISMA_SCHEMA_ENGINE_BINARY", &engine)
            .current_dir(app);
    };
    let migrate = |preflight: bool| {
        let mut c = Command::new(xtask());
        c.args([
            "--project-dir",
            app.to_str().unwrap(),
            "migrate",
            "--deploy",
        ]);
        if !preflight {
            c.arg("--no-preflight");
        }
        c.env("DATABASE_URL", slow);
        env(&mut c);
        run(&mut c)
    };
    let direct = || {
        let mut c = Command::new("npx");
        c.args(["--no-install", "prisma", "migrate", "deploy"])
            .env("DATABASE_URL", &tuned);
        env(&mut c);
        run(&mut c)
    };
    let (mut with, mut without, mut npx) = (Vec::new(), Vec::new(), Vec::new());
    let n = 12;
    for i in 0..n + 1 {
        let (w, o, d) = (migrate(true), migrate(false), direct());
        if i > 0 {
            with.push(w);
            without.push(o);
            npx.push(d);
        }
    }
    let (wm, om, dm) = (median(ms(&with)), median(ms(&without)), median(ms(&npx)));
    rows.push(Row {
        what: "RTT 50 ms: migrate --deploy (preflight on)".into(),
        runs: n,
        samples: ms(&with),
        reference: Some(("npx prisma migrate deploy".into(), dm)),
        target: "preflight <= 8 RTT".into(),
        extra: format!(
            " overhead {:+.0} ms = {}; preflight (vs --no-preflight {om:.0} ms) {:+.0} ms = {}",
            wm - dm,
            rtt(wm - dm),
            wm - om,
            rtt(wm - om)
        ),
    });
}
