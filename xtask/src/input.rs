//! Secrets from the user: a password piped on standard input, or typed at
//! a terminal prompt without echo. Both come back as a `Secret`. And where
//! a password comes from instead (`--password-from`, `--iam`): the
//! `PasswordSource` every command shares; `passwords` fetches it.

use anyhow::Context;

use crate::exit::bad_input;
use crate::secret::Secret;

/// Where a command takes the database password from, instead of the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// `aws-secret:ID[#key]`: a Secrets Manager secret (ID or ARN); its
    /// JSON's `password` (or `key`), or the whole string when not JSON.
    AwsSecret { id: String, key: Option<String> },
    /// `aws-rds-managed`: the secret RDS keeps the master password in,
    /// found from the URL's host.
    RdsManaged,
    /// `--iam`: a 15-minute token from `aws rds generate-db-auth-token`.
    Iam,
}

/// What `--password-from` takes, for messages.
pub const PASSWORD_FROM_FORMS: &str = "aws-secret:ID[#key] or aws-rds-managed";

impl PasswordSource {
    /// `--password-from VALUE` and `--iam`, at most one of them.
    pub fn from_flags(
        cmd: &str,
        password_from: Option<String>,
        iam: bool,
    ) -> anyhow::Result<Option<PasswordSource>> {
        let usage = |msg: String| -> anyhow::Error {
            crate::exit::Usage(format!("{msg}\nhint: run `cargo xtask {cmd} --help`")).into()
        };
        let from = match password_from.as_deref() {
            None => None,
            Some("aws-rds-managed") => Some(PasswordSource::RdsManaged),
            Some(v) => match v.strip_prefix("aws-secret:") {
                Some(rest) => {
                    let (id, key) = match rest.rsplit_once('#') {
                        Some((id, key)) => (id, Some(key.to_string())),
                        None => (rest, None),
                    };
                    if id.is_empty() || key.as_deref() == Some("") {
                        return Err(usage(format!("--password-from `{v}`: give a secret ID or ARN, e.g. aws-secret:prod/summitly/db or aws-secret:prod/summitly/db#password")));
                    }
                    Some(PasswordSource::AwsSecret {
                        id: id.to_string(),
                        key,
                    })
                }
                None => {
                    return Err(usage(format!(
                        "--password-from takes {PASSWORD_FROM_FORMS}, not `{v}`"
                    )))
                }
            },
        };
        match (from, iam) {
            (Some(_), true) => Err(usage(
                "--password-from and --iam are two sources of the password: give one".into(),
            )),
            (Some(f), false) => Ok(Some(f)),
            (None, true) => Ok(Some(PasswordSource::Iam)),
            (None, false) => Ok(None),
        }
    }

    /// Where the password came from, for a status line.
    pub fn describe(&self) -> String {
        match self {
            PasswordSource::AwsSecret { id, key: None } => {
                format!("AWS Secrets Manager secret {id}")
            }
            PasswordSource::AwsSecret { id, key: Some(k) } => {
                format!("AWS Secrets Manager secret {id} (key {k})")
            }
            PasswordSource::RdsManaged => "the RDS-managed master user secret".into(),
            PasswordSource::Iam => "an IAM authentication token".into(),
        }
    }
}

/// Reads a password from standard input (one line, newline removed).
pub fn read_password_stdin() -> anyhow::Result<Secret> {
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
        .context("cannot read the password from standard input")?;
    let p = s
        .strip_suffix('\n')
        .map(|p| p.strip_suffix('\r').unwrap_or(p))
        .unwrap_or(&s)
        .to_string();
    if p.is_empty() {
        return Err(bad_input("--password-stdin: standard input was empty; pipe the password in, e.g. printf '%s' \"$PW\" | cargo xtask env-fix --password-stdin"));
    }
    Ok(Secret::new(p))
}

/// Asks for a password at the terminal without echoing it.
pub fn prompt_password(prompt: &str) -> anyhow::Result<Secret> {
    crate::output::err_partial(prompt);
    #[cfg(unix)]
    let saved = {
        // SAFETY: termios calls on stdin with a zeroed struct they fill in.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) == 0 {
                let saved = t;
                t.c_lflag &= !libc::ECHO;
                libc::tcsetattr(0, libc::TCSANOW, &t);
                Some(saved)
            } else {
                None
            }
        }
    };
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    #[cfg(unix)]
    if let Some(t) = saved {
        // SAFETY: restores the settings read above.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &t);
        }
    }
    crate::output::err("");
    read.context("cannot read the password")?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    if p.is_empty() {
        anyhow::bail!("no password given");
    }
    Ok(Secret::new(p))
}

#[cfg(test)]
mod tests {
    use super::PasswordSource as P;

    fn p(v: Option<&str>, iam: bool) -> Result<Option<P>, String> {
        P::from_flags("t", v.map(String::from), iam).map_err(|e| e.to_string())
    }

    #[test]
    fn password_from_forms() {
        assert_eq!(p(None, false), Ok(None));
        assert_eq!(p(None, true), Ok(Some(P::Iam)));
        assert_eq!(p(Some("aws-rds-managed"), false), Ok(Some(P::RdsManaged)));
        let arn = "arn:aws:secretsmanager:ca-central-1:123456789012:secret:rds!db-1-AbCdEf";
        assert_eq!(
            p(Some(&format!("aws-secret:{arn}#pw")), false),
            Ok(Some(P::AwsSecret {
                id: arn.into(),
                key: Some("pw".into())
            }))
        );
        assert_eq!(
            p(Some("aws-secret:prod/db"), false),
            Ok(Some(P::AwsSecret {
                id: "prod/db".into(),
                key: None
            }))
        );
        for bad in ["aws-secret:", "aws-secret:x#", "vault:x"] {
            assert!(p(Some(bad), false).is_err(), "{bad}");
        }
        assert!(p(Some("aws-rds-managed"), true)
            .unwrap_err()
            .contains("give one"));
    }
}
