//! Check 4 ("If still failing" 3): the settings in the instance's DB
//! parameter group that cut connections or refuse them: timeouts low
//! enough to stop a migration, `rds.force_ssl` against a URL without TLS,
//! and changes waiting for a reboot.

use serde_json::Value;

use super::report::{Check, Code, Status};
use super::status::DbResource;
use super::{denied_or_error, UrlTls};
use crate::aws::cli::Answer;

const NAME: &str = "parameters";

/// The parameters read, with the unit the server reads them in.
const WATCHED: [&str; 6] = [
    "statement_timeout",
    "idle_in_transaction_session_timeout",
    "idle_session_timeout",
    "rds.force_ssl",
    "max_connections",
    "tcp_keepalives_idle",
];

/// Below these (milliseconds; 0 means no limit), a migration that rewrites
/// a large table, or a pooled connection that waits, gets cut.
const LOW_MS: [(&str, u64); 3] = [
    ("statement_timeout", 60_000),
    ("idle_in_transaction_session_timeout", 60_000),
    ("idle_session_timeout", 300_000),
];

/// The describe call (the CLI follows the pages itself).
pub fn call(group: &str) -> crate::aws::cli::Call {
    crate::aws::cli::Call::new(
        "rds",
        "describe-db-parameters",
        &["--db-parameter-group-name", group],
    )
}

/// `name=value` for each watched parameter that has a value.
fn values(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in v["Parameters"].as_array().into_iter().flatten() {
        let (Some(name), Some(value)) = (p["ParameterName"].as_str(), p["ParameterValue"].as_str())
        else {
            continue;
        };
        if WATCHED.contains(&name) {
            out.push((name.to_string(), value.to_string()));
        }
    }
    out.sort_by_key(|(n, _)| WATCHED.iter().position(|w| w == n));
    out
}

pub fn check(t: &DbResource, tls: UrlTls, a: &Answer) -> Check {
    let Some((group, apply)) = &t.param_group else {
        return Check::skip(
            NAME,
            Code::NotApplicable,
            "no DB parameter group (an RDS Proxy has none)",
        );
    };
    let v = match &a.result {
        Ok(v) => v,
        Err(e) => return denied_or_error(NAME, e).ms(a.ms),
    };
    let vals = values(v);
    let get = |n: &str| vals.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let shown = if vals.is_empty() {
        "engine defaults for all six watched settings".to_string()
    } else {
        vals.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut findings: Vec<Check> = Vec::new();
    if get("rds.force_ssl") == Some("1") && !tls.encrypts() {
        findings.push(
            Check::fail(NAME, Code::ForceSslWithoutTls, format!("{group}: rds.force_ssl=1, so the server refuses unencrypted connections, and the URL {}", tls.as_phrase()))
                .hint("add sslmode=require to DATABASE_URL (`cargo xtask env-fix` does)"),
        );
    }
    for (name, limit) in LOW_MS {
        let ms = get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        if ms > 0 && ms < limit {
            findings.push(
                Check::warn(NAME, Code::PgTimeoutLow, format!("{group}: {name}={ms} ms cuts statements or sessions that a migration or an idle pooled connection can outlast (P1017)"))
                    .hint(format!("raise {name} in {group} to {limit} or more (0 = no limit){}", if name == "statement_timeout" { ", or set it per connection: `cargo xtask env-fix --statement-timeout MS`" } else { "" })),
            );
        }
    }
    if apply == "pending-reboot" {
        findings.push(
            Check::warn(NAME, Code::ParamPendingReboot, format!("{group}: changes are pending a reboot (ParameterApplyStatus pending-reboot), so the running server still uses the old values"))
                .hint(format!("reboot {} in a quiet moment for them to take effect (the reboot itself closes every connection)", t.identifier)),
        );
    }
    // A failure outranks warnings; the detail lists what was read either way.
    findings.sort_by_key(|c| c.status != Status::Fail);
    let also: Vec<&str> = findings.iter().skip(1).map(|c| c.code.as_str()).collect();
    let also = if also.is_empty() {
        String::new()
    } else {
        format!("; also {}", also.join(", "))
    };
    match findings.into_iter().next() {
        Some(mut c) => {
            c.detail = format!("{}{also}; {shown}", c.detail);
            c.ms(a.ms)
        }
        None => Check::pass(NAME, format!("{group} ({apply}): {shown}")).ms(a.ms),
    }
}
