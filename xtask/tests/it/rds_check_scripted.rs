//! rds-check where moto lacks an API: a scripted `aws` stand-in first on
//! PATH answers those calls with recorded shapes (each test says which and
//! why) and passes every other call to the real CLI and moto. Also
//! `--lookup-my-ip` against a what-is-my-IP service on loopback.
#![cfg(unix)]

use crate::support::moto::Moto;
use crate::support::rds::*;
use crate::support::*;
use serde_json::{json, Value};

/// The environment with the scripted `aws` first on PATH.
fn with_stand_in(m: &Moto, plan: Value) -> Vec<(String, String)> {
    m.env_with_stand_in(plan).1
}

/// rds-check only reads: every operation it ran is a describe, list, get or download.
fn assert_read_only(m: &Moto) {
    let calls = m.stand_in_calls();
    assert!(!calls.is_empty());
    for c in calls {
        let op = c.split(' ').nth(1).unwrap_or("");
        assert!(
            ["describe-", "list-", "get-", "download-"]
                .iter()
                .any(|p| op.starts_with(p)),
            "not read-only: {c}"
        );
    }
}

fn iso(secs_ago: u64) -> String {
    // Formats now - secs_ago as ISO 8601 UTC through the venv's Python-free path: date(1).
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - secs_ago;
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%S.000Z"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn scripted_statuses_pending_reboot_and_events() {
    // Scripted: the instance's status and its parameter group's apply status
    // (moto only has available and stopped, and never reports pending-reboot),
    // and describe-events (moto has only creation and backup events and
    // ignores --duration). Everything else is moto's answer.
    let m = Moto::start();
    m.fixture(
        json!({"allow_cidr": format!("{MY_IP}/32"), "params": {"idle_session_timeout": 60000}}),
    );
    let events = json!({"Events": [
        {"SourceIdentifier": "summitly-prod", "SourceType": "db-instance", "Message": "Multi-AZ instance failover completed", "EventCategories": ["failover"], "Date": iso(600)},
        {"SourceIdentifier": "summitly-prod", "SourceType": "db-instance", "Message": "DB instance restarted", "EventCategories": ["availability"], "Date": iso(7200)},
        {"SourceIdentifier": "summitly-prod", "SourceType": "db-instance", "Message": "DB instance shutdown", "EventCategories": ["availability"], "Date": iso(3 * 86400)},
        {"SourceIdentifier": "summitly-prod", "SourceType": "db-instance", "Message": "Backing up DB instance", "EventCategories": ["backup"], "Date": iso(300)}
    ]});
    let env = with_stand_in(
        &m,
        json!({
            "rds describe-db-instances": {"set": {"DBInstances.0.DBParameterGroups.0.ParameterApplyStatus": "pending-reboot"}},
            "rds describe-events": {"answer": events},
        }),
    );
    let (r, v) = run(
        &env,
        &url(&host(), 5432, "?sslmode=require"),
        &["--my-ip", MY_IP],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_check(&v, "parameters", "warn", "pg_timeout_low");
    let d = detail(&v, "parameters");
    assert!(
        d.contains("idle_session_timeout=60000 ms") && d.contains("also param_pending_reboot"),
        "{d}"
    );
    assert_check(&v, "events", "warn", "rds_recent_disruption");
    let d = detail(&v, "events");
    assert!(
        d.starts_with("2 event(s)")
            && d.contains("10 min ago: Multi-AZ instance failover completed")
            && d.contains("2 h ago: DB instance restarted")
            && !d.contains("shutdown"),
        "{d}"
    );
    assert_read_only(&m);

    for (status, says) in [
        ("storage-full", "increase the allocated storage"),
        ("rebooting", "aws rds wait db-instance-available"),
        ("incompatible-network", "subnet group"),
    ] {
        let env = with_stand_in(
            &m,
            json!({"rds describe-db-instances": {"set": {"DBInstances.0.DBInstanceStatus": status}}}),
        );
        let (r, v) = run(
            &env,
            &url(&host(), 5432, "?sslmode=require"),
            &["--my-ip", MY_IP],
        );
        assert_eq!(r.code, 1, "{status}: {}", r.all());
        assert_check(&v, "status", "fail", "rds_not_available");
        assert!(detail(&v, "status").starts_with(status));
        assert!(
            v["diagnosis"]["hint"].as_str().unwrap().contains(says),
            "{status}: {}",
            v["diagnosis"]
        );
    }
    let env = with_stand_in(
        &m,
        json!({"rds describe-db-instances": {"set": {"DBInstances.0.DBInstanceStatus": "backing-up"}}}),
    );
    let (r, v) = run(
        &env,
        &url(&host(), 5432, "?sslmode=require"),
        &["--my-ip", MY_IP],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_check(&v, "status", "pass", "ok");
}

#[test]
fn scripted_log_tails_are_classified_and_masked() {
    // Scripted: download-db-log-file-portion (moto answers HTTP 500 for it)
    // and describe-db-log-files (moto lists one fake file), with the shapes
    // of the AWS API reference. The lines are PostgreSQL's own wording.
    let m = Moto::start();
    m.fixture(json!({"allow_cidr": format!("{MY_IP}/32")}));
    let lines = [
        "2026-11-24 10:00:01 UTC:198.51.100.23(51234):app@summitly:[77]:FATAL:  no pg_hba.conf entry for host \"198.51.100.23\", user \"app\", database \"summitly\", no encryption",
        &format!("2026-11-24 10:00:02 UTC::@:[80]:LOG:  statement: ALTER ROLE app PASSWORD '{PASSWORD}'"),
        "2026-11-24 10:00:03 UTC:10.0.0.5(4000):app@summitly:[81]:FATAL:  terminating connection due to idle-session timeout",
        "2026-11-24 10:00:04 UTC:10.0.0.5(4001):app@summitly:[82]:LOG:  could not receive data from client: Connection reset by peer",
        &format!("2026-11-24 10:00:05 UTC:10.0.0.5(4002):app@summitly:[83]:FATAL:  password authentication failed for user \"app\" password={PASSWORD}"),
        "2026-11-24 10:00:06 UTC::@:[84]:FATAL:  terminating connection due to administrator command",
    ];
    let env = with_stand_in(
        &m,
        json!({
            "rds describe-db-log-files": {"answer": {"DescribeDBLogFiles": [
                {"LogFileName": "error/postgresql.log.2026-11-24-09", "LastWritten": 1795510800000u64, "Size": 1200},
                {"LogFileName": "error/postgresql.log.2026-11-24-10", "LastWritten": 1795514400000u64, "Size": 2400}
            ]}},
            "rds download-db-log-file-portion": {"answer": {"LogFileData": lines.join("\n") + "\n", "Marker": "10:2400", "AdditionalDataPending": false}},
        }),
    );
    let (r, v) = run(
        &env,
        &url(&host(), 5432, "?sslmode=require"),
        &["--my-ip", MY_IP, "--logs"],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_check(&v, "logs", "warn", "log_findings");
    let d = detail(&v, "logs");
    assert!(d.starts_with("2 file(s), 12 line(s) read"), "{d}");
    assert!(
        d.contains("2x no pg_hba.conf entry")
            && d.contains("2x password authentication failed")
            && d.contains("2x closed by idle_session_timeout"),
        "{d}"
    );
    assert!(d.contains("client address(es) 198.51.100.23"), "{d}");
    assert!(!d.contains(PASSWORD) && !d.contains("ALTER ROLE"), "{d}");
    assert_eq!(
        m.stand_in_calls()
            .iter()
            .filter(|c| c.ends_with("download-db-log-file-portion"))
            .count(),
        2
    );
    assert_read_only(&m);
}

/// Answers every request with `body` once per connection; a loopback
/// stand-in for a what-is-my-IP service.
fn ip_service(body: &'static str) -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    port
}

#[test]
fn lookup_my_ip_asks_the_given_service() {
    let (m, _) = healthy();
    let port = ip_service("203.0.113.7\n");
    let service = format!("http://127.0.0.1:{port}/");
    let (r, v) = run(
        &m.env(),
        &url(&host(), 5432, "?sslmode=require"),
        &["--lookup-my-ip", "--my-ip-url", &service],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        detail(&v, "security_group")
            .contains(&format!("from 203.0.113.7 (looked up at {service})")),
        "{}",
        detail(&v, "security_group")
    );

    // A service that does not answer: the check says so and stays unknown.
    let dead = format!("http://127.0.0.1:{}/", free_port());
    let (r, v) = run(
        &m.env(),
        &url(&host(), 5432, "?sslmode=require"),
        &["--my-ip-url", &dead],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_check(&v, "security_group", "unknown", "my_ip_unknown");
    assert!(
        detail(&v, "security_group").starts_with("looking up your IP failed"),
        "{}",
        detail(&v, "security_group")
    );
}
