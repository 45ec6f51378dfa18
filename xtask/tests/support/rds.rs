//! What rds-check's tests share: the app's URL for moto's instance, a run
//! that checks the JSON shape and that the password appears nowhere, and
//! lookups into the report.
#![cfg(unix)]

use serde_json::{json, Value};

use super::moto::{rds_check, Moto, REGION};
use super::{assert_no_secret, encode, Run};

pub const PASSWORD: &str = "Tr0ub@dor#2024$&x";
pub const MY_IP: &str = "203.0.113.7";

/// The app's URL for `host`, password encoded, no sslmode unless `query`.
pub fn url(host: &str, port: u16, query: &str) -> String {
    format!(
        "postgresql://summitly_admin:{}@{host}:{port}/summitly{query}",
        encode(PASSWORD)
    )
}

/// The instance endpoint moto gives `summitly-prod`.
pub fn host() -> String {
    format!("summitly-prod.aaaaaaaaaa.{REGION}.rds.amazonaws.com")
}

/// Runs rds-check --json with DATABASE_URL and the emulator's environment;
/// checks the JSON shape and that the password appears nowhere.
pub fn run(env: &[(String, String)], db_url: &str, args: &[&str]) -> (Run, Value) {
    let mut env = env.to_vec();
    env.push(("DATABASE_URL".into(), db_url.into()));
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let r = rds_check(&a, &env);
    assert_no_secret(&r.all(), PASSWORD);
    let v: Value =
        serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", r.all()));
    assert_eq!(
        r.stdout.trim().lines().count(),
        1,
        "exactly one JSON object on stdout"
    );
    for key in ["ok", "host", "region", "instance", "checks", "diagnosis"] {
        assert!(v.get(key).is_some(), "no {key} in {v}");
    }
    for c in v["checks"].as_array().unwrap() {
        for key in ["name", "status", "code", "ms", "detail", "hint"] {
            assert!(c.get(key).is_some(), "check without {key}: {c}");
        }
        assert!(
            ["pass", "warn", "fail", "skip", "unknown"].contains(&c["status"].as_str().unwrap())
        );
    }
    assert_eq!(
        v["ok"],
        r.code == 0,
        "ok matches the exit code: {}",
        r.all()
    );
    (r, v)
}

pub fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {v}"))
}

pub fn detail(v: &Value, name: &str) -> String {
    check(v, name)["detail"].as_str().unwrap().to_string()
}

pub fn assert_check(v: &Value, name: &str, status: &str, code: &str) {
    let c = check(v, name);
    assert_eq!(
        (c["status"].as_str().unwrap(), c["code"].as_str().unwrap()),
        (status, code),
        "{name}: {c}"
    );
}

/// A healthy public instance whose security group allows MY_IP.
pub fn healthy() -> (Moto, Value) {
    let m = Moto::start();
    let ids = m.fixture(json!({"allow_cidr": format!("{MY_IP}/32")}));
    (m, ids)
}
