//! rds-check against a real AWS API emulator (moto_server) and the real aws
//! CLI (v1), both from a venv the tests make under target/. Each scenario
//! builds the account a user would have and checks the exit code, the
//! check's status, code and message, and the JSON shape. Where moto lacks
//! an API, a scripted `aws` stand-in answers that one call; each such test
//! says which part is scripted and why.
#![cfg(unix)]

use crate::support::moto::{rds_check, Moto, REGION};
use crate::support::rds::*;
use crate::support::*;
use serde_json::{json, Value};

#[test]
fn healthy_public_instance_passes() {
    let (m, _) = healthy();
    let (r, v) = run(
        &m.env(),
        &url(&host(), 5432, "?sslmode=require"),
        &["--my-ip", MY_IP],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(v["diagnosis"]["code"], "ok");
    assert_eq!(v["instance"], "summitly-prod");
    assert_eq!(v["region"], REGION);
    for name in [
        "credentials",
        "endpoint",
        "status",
        "public_access",
        "security_group",
        "network_acl",
        "route_table",
        "parameters",
        "events",
    ] {
        assert_check(&v, name, "pass", "ok");
    }
    assert_check(&v, "logs", "skip", "logs_not_requested");
    assert!(detail(&v, "security_group")
        .contains("from 203.0.113.7 (given with --my-ip) allowed by 203.0.113.7/32"));
    assert!(detail(&v, "parameters").contains("default.postgres16"));

    // The human checklist says the same.
    let mut env = m.env();
    env.push((
        "DATABASE_URL".into(),
        url(&host(), 5432, "?sslmode=require"),
    ));
    let h = rds_check(&["--my-ip", MY_IP], &env);
    assert_eq!(h.code, 0, "{}", h.all());
    assert!(h.stdout.contains("  pass  security_group"), "{}", h.stdout);
    assert!(
        h.stdout.contains("verdict: ok (every check passed)"),
        "{}",
        h.stdout
    );
    assert!(h.stdout.contains("summitly_admin:****@"), "{}", h.stdout);
    assert_no_secret(&h.all(), PASSWORD);
}

#[test]
fn ip_not_in_the_security_group() {
    let (m, ids) = healthy();
    let (r, v) = run(
        &m.env(),
        &url(&host(), 5432, "?sslmode=require"),
        &["--my-ip", "198.51.100.4"],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert_check(&v, "security_group", "fail", "sg_no_rule_for_ip");
    assert_eq!(v["diagnosis"]["code"], "sg_no_rule_for_ip");
    let d = detail(&v, "security_group");
    assert!(
        d.contains("no inbound rule for TCP 5432 covers 198.51.100.4")
            && d.contains("203.0.113.7/32"),
        "{d}"
    );
    let hint = v["diagnosis"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("source 198.51.100.4/32")
            && hint.contains(ids["security_group"].as_str().unwrap()),
        "{hint}"
    );

    // Without an IP, the rule for one address cannot be judged: unknown.
    let (r, v) = run(&m.env(), &url(&host(), 5432, "?sslmode=require"), &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_check(&v, "security_group", "unknown", "my_ip_unknown");
}

#[test]
fn rule_referencing_only_another_group() {
    let m = Moto::start();
    let ids = m.fixture(json!({"sg_ref_only": true}));
    let (r, v) = run(
        &m.env(),
        &url(&host(), 5432, "?sslmode=require"),
        &["--my-ip", MY_IP],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert_check(&v, "security_group", "fail", "sg_no_rule_for_ip");
    let d = detail(&v, "security_group");
    let app = ids["app_security_group"].as_str().unwrap();
    assert!(
        d.contains(&format!("only other security groups {app}")) && d.contains("never a laptop"),
        "{d}"
    );
}

#[test]
fn network_acl_denies_the_port() {
    let m = Moto::start();
    let ids = m.fixture(json!({"allow_cidr": "0.0.0.0/0", "nacl_deny": "203.0.113.0/24"}));
    let (r, v) = run(
        &m.env(),
        &url(&host(), 5432, "?sslmode=require"),
        &["--my-ip", MY_IP],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert_check(&v, "security_group", "pass", "ok");
    assert_check(&v, "network_acl", "fail", "nacl_deny");
    let d = detail(&v, "network_acl");
    assert!(
        d.contains(ids["network_acl"].as_str().unwrap())
            && d.contains("rule 90 denies 203.0.113.0/24")
            && d.contains("inbound TCP 5432 from 203.0.113.7"),
        "{d}"
    );
}

#[test]
fn subnet_without_internet_route() {
    let m = Moto::start();
    let ids = m.fixture(json!({"allow_cidr": format!("{MY_IP}/32"), "private_subnet_b": true}));
    let (r, v) = run(
        &m.env(),
        &url(&host(), 5432, "?sslmode=require"),
        &["--my-ip", MY_IP],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert_check(&v, "route_table", "fail", "route_no_igw");
    let d = detail(&v, "route_table");
    assert!(
        d.contains(ids["subnets"][1].as_str().unwrap())
            && d.contains(ids["private_route_table"].as_str().unwrap()),
        "{d}"
    );
    assert!(v["diagnosis"]["hint"]
        .as_str()
        .unwrap()
        .contains("Multi-AZ failover"));

    // No route at all in the main table: every subnet fails, the first is named.
    let m = Moto::start();
    let ids = m.fixture(json!({"allow_cidr": format!("{MY_IP}/32"), "igw_route": false}));
    let (_, v) = run(
        &m.env(),
        &url(&host(), 5432, "?sslmode=require"),
        &["--my-ip", MY_IP],
    );
    assert_check(&v, "route_table", "fail", "route_no_igw");
    assert!(detail(&v, "route_table").contains(ids["main_route_table"].as_str().unwrap()));
}

#[test]
fn stopped_instance() {
    let m = Moto::start();
    m.fixture(json!({"allow_cidr": format!("{MY_IP}/32"), "stopped": true}));
    let (r, v) = run(
        &m.env(),
        &url(&host(), 5432, "?sslmode=require"),
        &["--my-ip", MY_IP],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert_check(&v, "status", "fail", "rds_not_available");
    assert!(detail(&v, "status").starts_with("stopped"));
    assert!(v["diagnosis"]["hint"]
        .as_str()
        .unwrap()
        .contains("start-db-instance --db-instance-identifier summitly-prod"));
}

#[test]
fn endpoint_of_another_host_wrong_port_and_unknown_instance() {
    let m = Moto::start();
    m.fixture(
        json!({"allow_cidr": format!("{MY_IP}/32"), "extra_instances": ["summitly-staging"]}),
    );
    // The same identifier under another account's or region's hash.
    let other = format!("summitly-prod.bbbbbbbbbb.{REGION}.rds.amazonaws.com");
    let (r, v) = run(
        &m.env(),
        &url(&other, 5432, "?sslmode=require"),
        &["--my-ip", MY_IP],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert_check(&v, "endpoint", "fail", "rds_endpoint_mismatch");
    assert!(v["diagnosis"]["hint"]
        .as_str()
        .unwrap()
        .contains(&format!("use host {} and port 5432", host())));

    let (_, v) = run(
        &m.env(),
        &url(&host(), 5433, "?sslmode=require"),
        &["--my-ip", MY_IP],
    );
    assert_check(&v, "endpoint", "fail", "rds_endpoint_mismatch");
    assert!(detail(&v, "endpoint").contains(":5433, but instance summitly-prod answers at"));

    let gone = format!("summitly-old.aaaaaaaaaa.{REGION}.rds.amazonaws.com");
    let (r, v) = run(&m.env(), &url(&gone, 5432, "?sslmode=require"), &[]);
    assert_eq!(r.code, 1);
    assert_check(&v, "endpoint", "fail", "rds_not_found");
    assert!(
        detail(&v, "endpoint").contains("this region has: summitly-prod, summitly-staging"),
        "{}",
        detail(&v, "endpoint")
    );
    assert_check(&v, "status", "skip", "not_applicable");
}

#[test]
fn force_ssl_and_a_low_statement_timeout() {
    let m = Moto::start();
    m.fixture(json!({"allow_cidr": format!("{MY_IP}/32"), "params": {"statement_timeout": 30000, "rds.force_ssl": 1}}));
    let (r, v) = run(&m.env(), &url(&host(), 5432, ""), &["--my-ip", MY_IP]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_check(&v, "parameters", "fail", "force_ssl_without_tls");
    let d = detail(&v, "parameters");
    assert!(
        d.contains("also pg_timeout_low") && d.contains("statement_timeout=30000, rds.force_ssl=1"),
        "{d}"
    );
    assert!(v["diagnosis"]["hint"]
        .as_str()
        .unwrap()
        .contains("sslmode=require"));

    // With TLS in the URL only the timeout is left: a warning, exit 0.
    let (r, v) = run(
        &m.env(),
        &url(&host(), 5432, "?sslmode=require"),
        &["--my-ip", MY_IP],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_check(&v, "parameters", "warn", "pg_timeout_low");
    assert!(detail(&v, "parameters").contains("statement_timeout=30000 ms"));
}

#[test]
fn access_denied_on_one_call() {
    let m = Moto::start();
    // An IAM user allowed everything but ec2:DescribeNetworkAcls, and moto's
    // authorization switched on (its reset-auth, like INITIAL_NO_AUTH_ACTION_COUNT=0).
    let ids = m.fixture(
        json!({"allow_cidr": format!("{MY_IP}/32"), "deny_action": "ec2:DescribeNetworkAcls"}),
    );
    let mut env = m.env();
    for (k, v) in env.iter_mut() {
        match k.as_str() {
            "AWS_ACCESS_KEY_ID" => *v = ids["keys"]["id"].as_str().unwrap().into(),
            "AWS_SECRET_ACCESS_KEY" => *v = ids["keys"]["secret"].as_str().unwrap().into(),
            _ => {}
        }
    }
    let (r, v) = run(
        &env,
        &url(&host(), 5432, "?sslmode=require"),
        &["--my-ip", MY_IP],
    );
    assert_no_secret(&r.all(), ids["keys"]["secret"].as_str().unwrap());
    assert_eq!(r.code, 0, "unknown is not a failure: {}", r.all());
    assert_check(&v, "network_acl", "unknown", "aws_access_denied");
    assert!(detail(&v, "network_acl").contains("ec2:DescribeNetworkAcls"));
    assert!(check(&v, "network_acl")["hint"]
        .as_str()
        .unwrap()
        .contains("allow ec2:DescribeNetworkAcls"));
    for name in [
        "credentials",
        "endpoint",
        "security_group",
        "route_table",
        "parameters",
        "events",
    ] {
        assert_check(&v, name, "pass", "ok");
    }
    assert!(v["diagnosis"]["hint"]
        .as_str()
        .unwrap()
        .contains("1 check(s) could not be done"));
}

#[test]
fn no_credentials() {
    let m = Moto::start();
    let env: Vec<(String, String)> = m
        .env()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("AWS_ACCESS") && !k.starts_with("AWS_SECRET"))
        .collect();
    let (r, v) = run(&env, &url(&host(), 5432, "?sslmode=require"), &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_check(&v, "credentials", "skip", "aws_no_credentials");
    assert_eq!(v["diagnosis"]["code"], "aws_no_credentials");
    assert!(v["diagnosis"]["hint"]
        .as_str()
        .unwrap()
        .contains("aws sso login --profile default"));
    assert_check(&v, "security_group", "skip", "not_applicable");
}

#[test]
fn no_aws_on_path() {
    let empty = TempDir::new("nopath");
    let env = vec![("PATH".to_string(), empty.path().display().to_string())];
    let (r, v) = run(&env, &url(&host(), 5432, ""), &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_check(&v, "credentials", "skip", "aws_cli_missing");
    assert_eq!(v["diagnosis"]["code"], "aws_cli_missing");
    assert!(v["diagnosis"]["hint"]
        .as_str()
        .unwrap()
        .contains("install the AWS CLI"));
}

#[test]
fn non_rds_host_is_skipped() {
    let (r, v) = run(&[], &url("db.example.com", 5432, ""), &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(v["checks"].as_array().unwrap().len(), 1);
    assert_check(&v, "endpoint", "skip", "not_rds");
    assert_eq!(v["region"], Value::Null);
    assert!(v["diagnosis"]["hint"]
        .as_str()
        .unwrap()
        .contains("not an RDS endpoint"));
}

#[test]
fn bad_input_exits_2() {
    let r = rds_check(&["--my-ip", "not-an-ip"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    let r = rds_check(&[], &[]);
    assert_eq!(r.code, 2, "no DATABASE_URL: {}", r.all());
    assert!(r.stderr.contains("DATABASE_URL: not found"), "{}", r.stderr);
}

#[test]
fn db_test_with_aws_explains_an_unreachable_endpoint() {
    // The user's view: db-test cannot reach the RDS endpoint, and --aws says
    // why. `hostaddr=127.0.0.1` (libpq's: connect to this address, use the
    // host name for TLS) keeps DNS and TCP on loopback: a free port where
    // nothing listens stands in for the blocked endpoint.
    let m = Moto::start();
    m.fixture(json!({"allow_cidr": "198.51.100.0/24"}));
    let port = free_port();
    let db_url = format!(
        "{}&hostaddr=127.0.0.1",
        url(&host(), port, "?sslmode=require")
    );
    let mut env = m.env();
    env.push(("DATABASE_URL".into(), db_url));
    // moto's instance listens on 5432: the endpoint check compares ports, so
    // the port in this URL makes it an endpoint mismatch, named as such.
    let r =
        crate::support::moto::run_clean(&["db-test", "--aws", "--my-ip", MY_IP, "--json"], &env);
    assert_no_secret(&r.all(), PASSWORD);
    assert_eq!(r.code, 1, "{}", r.all());
    let v: Value =
        serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", r.all()));
    let t = &v["targets"][0];
    assert_eq!(t["diagnosis"]["code"], "tcp_refused", "{v}");
    let aws = &t["aws"];
    assert_eq!(aws["instance"], "summitly-prod", "{v}");
    assert!(aws["checks"].as_array().unwrap().len() >= 5, "{v}");
    assert_eq!(v["ok"], false);

    // Human output: the rds-check checklist follows db-test's.
    let r = crate::support::moto::run_clean(&["db-test", "--aws", "--my-ip", MY_IP], &env);
    assert!(
        r.stdout.contains(&format!("rds-check for {}:", host())),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("security_group"), "{}", r.stdout);
    assert_no_secret(&r.all(), PASSWORD);
}

#[test]
fn onboard_with_aws_explains_a_failed_db_test() {
    // onboard --aws adds an rds-check step after db-test and runs it even
    // when db-test failed, which it is there to explain. hostaddr keeps
    // the connection on loopback, where nothing listens on `port`.
    let m = Moto::start();
    m.fixture(json!({"allow_cidr": "198.51.100.0/24"}));
    let port = free_port();
    let db_url = format!(
        "{}&hostaddr=127.0.0.1",
        url(&host(), port, "?sslmode=require")
    );
    let app = App::new(Some(&format!("DATABASE_URL={db_url}\n")));
    let r = crate::support::moto::run_clean(
        &[
            "--project-dir",
            app.path().to_str().unwrap(),
            "onboard",
            "--aws",
            "--my-ip",
            MY_IP,
            "--no-migrate",
            "--yes",
            "--json",
        ],
        &m.env(),
    );
    assert_no_secret(&r.all(), PASSWORD);
    assert_eq!(r.code, 1, "{}", r.all());
    let v: Value =
        serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", r.all()));
    let steps: Vec<(String, String)> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().into(),
                s["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    let status = |name: &str| {
        steps
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_str())
    };
    assert_eq!(status("db-test"), Some("fail"), "{v}");
    assert_ne!(status("rds-check"), Some("skip"), "{v}");
    assert!(status("rds-check").is_some(), "{v}");
    assert_eq!(status("migrations"), Some("skip"), "{v}");
}
