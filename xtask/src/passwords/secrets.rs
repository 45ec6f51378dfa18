//! Passwords from AWS Secrets Manager: `get-secret-value` for a secret ID or
//! ARN, and the secret RDS keeps a master password in (`MasterUserSecret`,
//! found by describing the instance or cluster behind the URL's host). The
//! answer is wrapped in `Secret` as soon as it is read; no error quotes it.

use serde_json::Value;

use crate::aws::cli::{Aws, AwsError, Call};
use crate::aws::endpoint::{Endpoint, Kind};
use crate::exit::bad_input;
use crate::secret::Secret;

/// A password read from a secret, and the user name stored beside it.
pub struct Fetched {
    pub password: Secret,
    pub username: Option<String>,
}

/// An aws CLI failure as the error a command ends with: what to do for
/// credentials and permissions (exit 1); `not_found` for a missing
/// resource, which is bad input (exit 2).
pub fn error(e: AwsError, not_found: impl FnOnce() -> String) -> anyhow::Error {
    match e {
        AwsError::NoCredentials(m) => anyhow::anyhow!(
            "the aws CLI found no usable credentials ({m}): run `aws configure` or `aws sso login`, or pass --aws-profile NAME"
        ),
        AwsError::SsoExpired(m) => {
            anyhow::anyhow!("your AWS session has expired ({m}): run `aws sso login` and try again")
        }
        AwsError::Denied { action } => anyhow::anyhow!(
            "access denied: your AWS identity may not call {action}; ask for {action} on this resource (a secret encrypted with a customer key also needs kms:Decrypt), or use --aws-profile with a role that has it"
        ),
        AwsError::Failed { code: Some(c), .. } if c.contains("NotFound") => bad_input(not_found()),
        other => anyhow::anyhow!("the aws CLI failed: {}", other.describe()),
    }
}

/// The password in secret `id`: its JSON's `key` (default `password`), or
/// the whole string when it is not a JSON object and no key was asked for.
pub fn fetch(aws: &Aws, id: &str, key: Option<&str>) -> anyhow::Result<Fetched> {
    let call = Call::new("secretsmanager", "get-secret-value", &["--secret-id", id]);
    let value = aws.call(&call).result.map_err(|e| {
        error(e, || {
            format!(
                "secret {id} not found in region {}: check the ID or ARN (`aws secretsmanager list-secrets --query 'SecretList[].Name'`) and the region (--aws-profile, AWS_REGION)",
                region_name(aws)
            )
        })
    })?;
    let Some(text) = value.get("SecretString").and_then(Value::as_str) else {
        return Err(bad_input(format!(
            "secret {id} holds binary data, not a string: store the password as a string (or JSON with a `password` key)"
        )));
    };
    let text = Secret::new(text);
    drop(value);
    let json: Option<serde_json::Map<String, Value>> = serde_json::from_str(text.expose()).ok();
    let Some(map) = json else {
        if let Some(k) = key {
            return Err(bad_input(format!(
                "secret {id} is a plain string, not JSON, so it has no key `{k}`: drop `#{k}`"
            )));
        }
        return Ok(Fetched {
            password: text,
            username: None,
        });
    };
    let want = key.unwrap_or("password");
    let username = map
        .get("username")
        .and_then(Value::as_str)
        .map(String::from);
    match map.get(want) {
        Some(Value::String(p)) if !p.is_empty() => Ok(Fetched {
            password: Secret::new(p.as_str()),
            username,
        }),
        Some(_) => Err(bad_input(format!(
            "secret {id}: the value of `{want}` is empty or not a string"
        ))),
        None => {
            // Key names are not secret; they say what to ask for instead.
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            Err(bad_input(format!(
                "secret {id} has no `{want}` key (its keys: {}): name the key that holds the password, e.g. --password-from aws-secret:{id}#{}",
                if keys.is_empty() { "none".to_string() } else { keys.join(", ") },
                keys.first().copied().unwrap_or("KEY")
            )))
        }
    }
}

/// The instance (or Aurora cluster) behind an RDS endpoint, as described.
pub fn describe(aws: &Aws, ep: &Endpoint) -> anyhow::Result<Value> {
    let (call, list) = match ep.kind {
        Kind::Instance => (
            Call::new(
                "rds",
                "describe-db-instances",
                &["--db-instance-identifier", &ep.identifier],
            ),
            "DBInstances",
        ),
        Kind::Proxy => {
            return Err(bad_input(format!(
                "{} is an RDS Proxy endpoint: a proxy has no master user secret of its own; use --password-from aws-secret:ID with the secret the proxy uses",
                ep.identifier
            )))
        }
        _ => (
            Call::new(
                "rds",
                "describe-db-clusters",
                &["--db-cluster-identifier", &ep.identifier],
            ),
            "DBClusters",
        ),
    };
    let what = format!("{} {}", ep.kind.as_str(), ep.identifier);
    let not_found = || {
        format!(
            "{what} not found in region {}: check the URL's host (copy the endpoint from the RDS console) and your AWS account (--aws-profile)",
            ep.region
        )
    };
    let v = aws.call(&call).result.map_err(|e| error(e, not_found))?;
    v[list]
        .get(0)
        .cloned()
        .ok_or_else(|| bad_input(not_found()))
}

/// `aws-rds-managed`: the ARN of the secret RDS manages for the database.
pub fn managed_secret_arn(ep: &Endpoint, described: &Value) -> anyhow::Result<String> {
    match described["MasterUserSecret"]["SecretArn"].as_str() {
        Some(arn) => Ok(arn.to_string()),
        None => {
            let flag = if ep.kind == Kind::Instance {
                format!("aws rds modify-db-instance --db-instance-identifier {} --manage-master-user-password", ep.identifier)
            } else {
                format!("aws rds modify-db-cluster --db-cluster-identifier {} --manage-master-user-password", ep.identifier)
            };
            Err(bad_input(format!(
                "{} {} keeps no managed master user secret (it was not created with --manage-master-user-password): use --password-from aws-secret:ID with the secret that holds the password, or let RDS manage it: `{flag}`",
                ep.kind.as_str(),
                ep.identifier
            )))
        }
    }
}

fn region_name(aws: &Aws) -> String {
    if aws.region.is_empty() {
        "(the aws CLI's default)".into()
    } else {
        aws.region.clone()
    }
}
