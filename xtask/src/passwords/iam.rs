//! IAM database authentication: a token from `aws rds generate-db-auth-token`
//! (signed by the CLI, no API call; valid 15 minutes), after checking that
//! the instance allows IAM authentication when the host is an RDS endpoint.
//! The token is a `Secret` from the moment the CLI prints it.

use std::time::Instant;

use serde_json::Value;

use super::secrets;
use crate::aws::cli::{Aws, Call};
use crate::aws::endpoint::Endpoint;
use crate::exit::bad_input;
use crate::pgurl::PgUrl;
use crate::secret::Secret;

/// How long RDS accepts a token for a new connection.
pub const TOKEN_LIFETIME_SECS: u64 = 900;

/// Refuses an instance or cluster with IAM authentication switched off.
pub fn check_enabled(ep: &Endpoint, described: &Value) -> anyhow::Result<()> {
    if described["IAMDatabaseAuthenticationEnabled"].as_bool() == Some(false) {
        let modify = match ep.kind {
            crate::aws::endpoint::Kind::Instance => format!(
                "aws rds modify-db-instance --db-instance-identifier {} --enable-iam-database-authentication --apply-immediately",
                ep.identifier
            ),
            _ => format!(
                "aws rds modify-db-cluster --db-cluster-identifier {} --enable-iam-database-authentication --apply-immediately",
                ep.identifier
            ),
        };
        return Err(bad_input(format!(
            "{} {} has IAM database authentication disabled (IAMDatabaseAuthenticationEnabled is false): a token would be refused. Turn it on (`{modify}`) and grant the user rds_iam, or use --password-from instead of --iam",
            ep.kind.as_str(),
            ep.identifier
        )));
    }
    Ok(())
}

/// A fresh token for the URL's host, port and user.
pub fn token(aws: &Aws, url: &PgUrl) -> anyhow::Result<Secret> {
    let Some(user) = url.user().filter(|u| !u.is_empty()) else {
        return Err(bad_input(
            "--iam: the URL names no user; a token is made for one database user (postgresql://USER@HOST:5432/DATABASE)",
        ));
    };
    let host = url.host();
    let port = url.port().to_string();
    let call = Call::new(
        "rds",
        "generate-db-auth-token",
        &["--hostname", &host, "--port", &port, "--username", user],
    );
    let text = aws
        .call_text(&call)
        .map_err(|e| secrets::error(e, || "generate-db-auth-token: not found".into()))?;
    let token = Secret::new(text.trim());
    drop(text);
    if token.expose().is_empty() {
        return Err(anyhow::anyhow!(
            "`aws rds generate-db-auth-token` printed no token"
        ));
    }
    Ok(token)
}

/// After a failure: why, when the token had expired by then.
pub fn expired_note(made: Instant) -> Option<String> {
    let age = made.elapsed().as_secs();
    (age >= TOKEN_LIFETIME_SECS).then(|| format!(
        "the IAM token was made {} min ago and RDS accepts it for new connections for 15 minutes only: a connection Prisma opened after that was refused. Run again (each attempt gets a fresh token); split a long migration so each part connects within 15 minutes",
        age / 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_failure_after_the_tokens_lifetime_says_so() {
        assert_eq!(expired_note(Instant::now()), None);
        let Some(old) = Instant::now().checked_sub(Duration::from_secs(TOKEN_LIFETIME_SECS + 61))
        else {
            return; // a machine up for less than 16 minutes
        };
        let note = expired_note(old).unwrap();
        assert!(
            note.starts_with("the IAM token was made 16 min ago"),
            "{note}"
        );
    }
}
