//! Faults between the client and the server, injected by a TCP proxy in
//! front of a real dev-db: each names the right layer and code within its
//! time bound, for sslmode disable, require and verify-full; migrate and its
//! preflight react as specified, with Prisma on its real schema engine (the
//! engine host, behind the spy that counts its attempts); nothing hangs.

use crate::support::proxy::{Fault, Proxy};
use crate::support::*;
use std::time::{Duration, Instant};

const TIMEOUT_S: u64 = 2;

fn url_via(db: &DevDb, port: u16, mode: &str) -> String {
    let base = db
        .url
        .replace(&format!(":{}/", db.port), &format!(":{port}/"));
    let mode = match mode {
        "verify-full" => format!("verify-full&sslrootcert={}", db.ca_cert().display()),
        m => m.to_string(),
    };
    format!(
        "{}&connect_timeout={TIMEOUT_S}",
        base.replace("sslmode=require", &format!("sslmode={mode}"))
    )
}

/// db-test through `fault`: (code, layer, elapsed).
fn verdict(
    db: &DevDb,
    fault: Fault,
    mode: &str,
    extra: &[&str],
) -> (String, String, Duration, serde_json::Value) {
    let proxy = Proxy::start(db.port, fault);
    let url = url_via(db, proxy.port, mode);
    let start = Instant::now();
    let (_, v) = db_test_json(&db.password, &url, extra);
    let took = start.elapsed();
    let d = &v["targets"][0]["diagnosis"];
    (
        d["code"].as_str().unwrap().into(),
        d["layer"].as_str().unwrap().into(),
        took,
        v,
    )
}

#[test]
fn each_fault_gets_the_right_code_and_layer_in_time() {
    let db = DevDb::start(&[]);
    let cases: Vec<(Fault, &str, &str, &str)> = vec![
        // (fault, sslmode, code, layer)
        (Fault::Pass, "require", "ok", "-"),
        (Fault::Pass, "verify-full", "ok", "-"),
        (Fault::Pass, "disable", "tls_required", "auth"),
        (
            Fault::Latency(Duration::from_millis(100)),
            "require",
            "ok",
            "-",
        ),
        (Fault::CloseOnAccept, "require", "server_closed", "tls"),
        (Fault::CloseOnAccept, "verify-full", "server_closed", "tls"),
        (Fault::CloseOnAccept, "disable", "server_closed", "auth"),
        // The reset can beat the client's connect() or come just after it.
        (Fault::Reset, "require", "server_closed", "tcp|tls"),
        (Fault::Reset, "verify-full", "server_closed", "tcp|tls"),
        (Fault::Reset, "disable", "server_closed", "tcp|auth"),
        (Fault::Stall, "require", "startup_timeout", "tls"),
        (Fault::Stall, "verify-full", "startup_timeout", "tls"),
        (Fault::Stall, "disable", "startup_timeout", "auth"),
        // Mid-TLS: the server's "S", then the connection ends in the handshake.
        (
            Fault::CloseAfterServerBytes(1),
            "require",
            "server_closed",
            "tls",
        ),
        (
            Fault::CloseAfterServerBytes(1),
            "verify-full",
            "server_closed",
            "tls",
        ),
        // Mid-startup: the client's startup message is cut short.
        (
            Fault::CloseAfterClientBytes(20),
            "disable",
            "server_closed",
            "auth",
        ),
        (
            Fault::CloseAfterClientBytes(20),
            "require",
            "server_closed",
            "tls",
        ),
    ];
    let mut report = Vec::new();
    for (fault, mode, code, layer) in cases {
        let (got, got_layer, took, v) = verdict(&db, fault, mode, &["--quick"]);
        assert_eq!(got, code, "{fault:?} sslmode={mode}: {v}");
        assert!(
            layer.split('|').any(|l| l == got_layer),
            "{fault:?} sslmode={mode}: layer {got_layer}, want {layer}: {v}"
        );
        // Nothing hangs: the verdict comes within the bound plus slack.
        assert!(
            took < Duration::from_secs(TIMEOUT_S + 3),
            "{fault:?} {mode}: {took:?}"
        );
        report.push(format!(
            "{fault:?} sslmode={mode}: {got} at {got_layer} in {} ms",
            took.as_millis()
        ));
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn a_middlebox_cutting_idle_connections_is_the_p1017_pattern() {
    let db = DevDb::start(&[]);
    let (code, layer, took, v) = verdict(
        &db,
        Fault::CloseIdle(Duration::from_millis(800)),
        "require",
        &["--idle-probe", "2"],
    );
    assert_eq!(
        (code.as_str(), layer.as_str()),
        ("idle_closed", "idle"),
        "{v}"
    );
    let idle = v["targets"][0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "idle")
        .unwrap();
    assert!(
        idle["detail"]
            .as_str()
            .unwrap()
            .contains("a fresh connection works"),
        "{idle}"
    );
    assert!(took < Duration::from_secs(2 + TIMEOUT_S + 3));
}

#[test]
fn p1017_reproduced_for_real_with_the_servers_idle_timeout() {
    let db = DevDb::start(&["--idle-session-timeout", "2"]);
    let dir = TempDir::new("p1017");
    let r = xtask(
        &[
            "--project-dir",
            dir.path().to_str().unwrap(),
            "db-test",
            "--idle-probe",
            "3",
        ],
        dir.path(),
        &[("DATABASE_URL", &db.url)],
        None,
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stdout.contains("verdict: idle_closed at layer idle"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("a fresh connection works"));
    assert!(r.stdout.contains("P1017"));
    assert_no_secret(&r.all(), &db.password);
    // And a fresh connection afterwards works.
    db.app().simple_query("select 1").unwrap();
}

fn app_via(db: &DevDb, port: u16) -> App {
    App::new(Some(&format!(
        "DATABASE_URL={}\n",
        db.url
            .replace(&format!(":{}/", db.port), &format!(":{port}/"))
    )))
}

#[test]
fn migrate_retries_when_the_first_connection_is_dropped() {
    let db = DevDb::start(&[]);
    let proxy = Proxy::start_for(db.port, Fault::CloseOnAccept, 1);
    let app = app_via(&db, proxy.port);
    // Without the preflight, the first connection is Prisma's own check.
    let r = app.migrate_real(
        &[
            "--deploy",
            "--no-preflight",
            "--retry-delay",
            "0.1",
            "--json",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(app.attempts(), 2);
    let s = one_json(&r);
    assert_eq!(s["attempts"][0]["error_code"], "P1017", "{s}");
    assert_eq!(s["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(
        db.finished(),
        [
            "20261101000000_init",
            "20261124000001_add_saved_comparables"
        ]
    );
    assert_no_secret(&r.all(), &db.password);
}

#[test]
fn migrate_preflight_stops_when_every_connection_is_dropped() {
    let db = DevDb::start(&[]);
    let proxy = Proxy::start(db.port, Fault::CloseOnAccept);
    let app = app_via(&db, proxy.port);
    let start = Instant::now();
    let r = app.migrate_real(&["--deploy", "--json"], &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(one_json(&r)["diagnosis"]["code"], "server_closed");
    assert!(app.engine_log().is_empty(), "Prisma must not start");
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_no_secret(&r.all(), &db.password);
}

#[test]
fn migrate_without_preflight_gives_up_and_names_the_layer() {
    let db = DevDb::start(&[]);
    let proxy = Proxy::start(db.port, Fault::Reset);
    let app = app_via(&db, proxy.port);
    let r = app.migrate_real(
        &[
            "--deploy",
            "--no-preflight",
            "--retry-delay",
            "0.1",
            "--json",
        ],
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(app.attempts(), 3);
    let s = one_json(&r);
    assert_eq!(s["diagnosis"]["code"], "P1017", "{s}");
    // A reset lands at tls when the proxy's RST comes after connect()
    // returned, at tcp when it comes first (a loaded machine): both are the
    // layer where the connection is cut, and the same verdict.
    assert!(
        r.stderr.contains("db-test: server_closed at layer tls")
            || r.stderr
                .contains("db-test: server_closed at layer tcp: 127.0.0.1")
                && r.stderr
                    .contains("accepted the connection and reset it at once"),
        "{}",
        r.stderr
    );
    assert!(db.recorded().is_none(), "nothing recorded");
    assert_no_secret(&r.all(), &db.password);
}

#[test]
fn prisma_messages_that_carry_the_url_are_masked() {
    let db = DevDb::start(&[]);
    let app = App::new(Some(&format!("DATABASE_URL={}\n", db.url)));
    // Stand-in: no real server makes an engine print the password (the host masks URLs).
    let r = app.migrate(
        "leak",
        &["--deploy", "--no-preflight", "--retries", "0", "--json"],
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    // Prisma hides the URL itself; the decoded password next to it is ours to mask.
    assert!(
        r.stderr.contains("(user app, password ****)"),
        "{}",
        r.stderr
    );
    assert_no_secret(&r.all(), &db.password);
}

#[test]
fn the_whole_verdict_uses_one_connection() {
    let db = DevDb::start(&[]);
    for mode in ["require", "verify-full", "disable"] {
        let proxy = Proxy::start(db.port, Fault::Pass);
        // With disable the dev-db refuses the session (tls_required): that
        // verdict, too, comes from one connection.
        let url = url_via(&db, proxy.port, mode);
        let (_, v) = db_test_json(&db.password, &url, &[]);
        assert_eq!(proxy.accepted(), 1, "sslmode={mode}: {v}");
        if mode != "disable" {
            assert_eq!(v["targets"][0]["diagnosis"]["code"], "ok", "{v}");
            let names: Vec<&str> = v["targets"][0]["checks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap())
                .collect();
            assert_eq!(
                names,
                [
                    "url",
                    "dns",
                    "tcp",
                    "tls",
                    "auth",
                    "query",
                    "pooler",
                    "server",
                    "migrations"
                ],
                "{v}"
            );
        }
    }
}

#[test]
fn direct_tls_against_postgres_15_names_the_version_it_needs() {
    // The dev-db is PostgreSQL 15: it reads a TLS ClientHello as a startup
    // packet and hangs up. (PostgreSQL 17 would accept; not tested here.)
    let db = DevDb::start(&[]);
    let url = format!("{}&sslnegotiation=direct", url_via(&db, db.port, "require"));
    let (_, v) = db_test_json(&db.password, &url, &["--quick"]);
    let d = &v["targets"][0]["diagnosis"];
    assert_eq!(
        (d["code"].as_str(), d["layer"].as_str()),
        (Some("server_closed"), Some("tls")),
        "{v}"
    );
    assert!(d["hint"].as_str().unwrap().contains("PostgreSQL 17"), "{v}");
    // With prefer, like libpq, direct is refused up front.
    let url = format!("{}&sslnegotiation=direct", url_via(&db, db.port, "prefer"));
    let (_, v) = db_test_json(&db.password, &url, &["--quick"]);
    assert_eq!(v["targets"][0]["diagnosis"]["code"], "url_invalid", "{v}");
}
