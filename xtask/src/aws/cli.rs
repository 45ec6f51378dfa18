//! Runs the user's own `aws` CLI (v1 or v2) through xshell, so their
//! profiles and SSO sessions work and the build gains no AWS SDK (measured:
//! about 4 minutes and 8 GB to compile). Always `--output json` with no
//! pager; failures are classified from stderr, because CLI v1 exits 255 for
//! every service error.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use regex::Regex;
use serde_json::Value;
use xshell::Shell;

/// How the CLI is run: the binary found on PATH, the profile and region.
#[derive(Debug, Clone)]
pub struct Aws {
    pub program: PathBuf,
    pub profile: Option<String>,
    pub region: String,
    /// One call at a time instead of concurrently.
    pub sequential: bool,
}

/// Why a call gave no JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsError {
    NoCredentials(String),
    SsoExpired(String),
    /// AccessDenied / UnauthorizedOperation: `action` is the IAM action.
    Denied {
        action: String,
    },
    /// Any other error, with the service's code when it gave one.
    Failed {
        code: Option<String>,
        message: String,
    },
}

impl AwsError {
    /// One line for a check's detail.
    pub fn describe(&self) -> String {
        let text = match self {
            AwsError::NoCredentials(m) | AwsError::SsoExpired(m) => m.clone(),
            AwsError::Denied { action } => format!("access denied: {action} is not allowed"),
            AwsError::Failed {
                code: Some(c),
                message,
            } => format!("{c}: {message}"),
            AwsError::Failed {
                code: None,
                message,
            } => message.clone(),
        };
        // An HTML error page from a proxy or emulator: one short line.
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        match flat.char_indices().nth(200) {
            Some((i, _)) => format!("{}...", &flat[..i]),
            None => flat,
        }
    }
}

/// One call: `aws SERVICE OPERATION ARGS...`.
#[derive(Debug, Clone)]
pub struct Call {
    pub service: &'static str,
    pub operation: &'static str,
    pub args: Vec<String>,
}

impl Call {
    pub fn new(service: &'static str, operation: &'static str, args: &[&str]) -> Call {
        Call {
            service,
            operation,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// A call's answer and how long it took.
#[derive(Debug, Clone)]
pub struct Answer {
    pub result: Result<Value, AwsError>,
    pub ms: u64,
}

impl Aws {
    /// `None` when no `aws` is on PATH.
    pub fn find(profile: Option<String>, region: String, sequential: bool) -> Option<Aws> {
        crate::util::which("aws").map(|program| Aws {
            program,
            profile,
            region,
            sequential,
        })
    }

    /// Runs one call. Reads only: every operation rds-check uses is a
    /// describe, list, get or download.
    pub fn call(&self, call: &Call) -> Answer {
        let start = Instant::now();
        let result = self.run(call);
        Answer {
            result,
            ms: crate::output::ms_since(start),
        }
    }

    /// Runs independent calls at once (each CLI start costs about 0.3 s,
    /// mostly Python importing botocore), in order when `sequential`.
    pub fn call_all(&self, calls: &[Call]) -> Vec<Answer> {
        if self.sequential || calls.len() < 2 {
            return calls.iter().map(|c| self.call(c)).collect();
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = calls
                .iter()
                .map(|c| s.spawn(move || self.call(c)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| Answer {
                        result: Err(AwsError::Failed {
                            code: None,
                            message: "internal error: the call's thread panicked".into(),
                        }),
                        ms: 0,
                    })
                })
                .collect()
        })
    }

    fn run(&self, call: &Call) -> Result<Value, AwsError> {
        let stdout = self.run_text(call)?;
        if stdout.trim().is_empty() {
            return Ok(Value::Null);
        }
        // serde_json's message names a line and column, never the text: the
        // answer may hold a secret.
        serde_json::from_str(&stdout).map_err(|e| AwsError::Failed {
            code: None,
            message: format!("the aws CLI printed something that is not JSON ({e})"),
        })
    }

    /// Runs one call whose answer is text, not JSON (`rds
    /// generate-db-auth-token` prints the token alone). The caller wraps a
    /// secret answer in `Secret` at once; errors carry only stderr.
    pub fn call_text(&self, call: &Call) -> Result<String, AwsError> {
        self.run_text(call)
    }

    fn run_text(&self, call: &Call) -> Result<String, AwsError> {
        let failed = |message: String| AwsError::Failed {
            code: None,
            message,
        };
        let sh = Shell::new().map_err(|e| failed(e.to_string()))?;
        let mut argv: Vec<String> = vec![call.service.into(), call.operation.into()];
        argv.extend(call.args.iter().cloned());
        argv.extend(["--output".into(), "json".into()]);
        // No region: the CLI's own (profile, AWS_REGION, AWS_DEFAULT_REGION).
        if !self.region.is_empty() {
            argv.extend(["--region".into(), self.region.clone()]);
        }
        // Bounded: an unreachable endpoint fails in seconds, not minutes.
        argv.extend(["--cli-connect-timeout".into(), "10".into()]);
        if let Some(p) = &self.profile {
            argv.extend(["--profile".into(), p.clone()]);
        }
        let program = self.program.display().to_string();
        let is_script = program.ends_with(".cmd") || program.ends_with(".bat");
        let cmd = if cfg!(windows) && is_script {
            // pip's aws.cmd is not found by CreateProcess (xshell issue #82).
            sh.cmd("cmd").arg("/c").arg(&program).args(&argv)
        } else {
            sh.cmd(&program).args(&argv)
        };
        let out = cmd
            .env("AWS_PAGER", "")
            .stdin("")
            .quiet()
            .ignore_status()
            .output()
            .map_err(|e| failed(format!("cannot run {program}: {e}")))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(classify(call, &stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn error_line() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"An error occurred \(([A-Za-z0-9_.]+)\) when calling the ([A-Za-z0-9]+) operation(?: \([^)]*\))?: ?(.*)")
            .expect("valid regex")
    })
}

/// What went wrong, from the CLI's stderr (v1 exits 255 for everything).
pub fn classify(call: &Call, stderr: &str) -> AwsError {
    let last = stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("the aws CLI failed without a message")
        .to_string();
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("unable to locate credentials")
        || lower.contains("partial credentials found")
        || (lower.contains("profile") && lower.contains("could not be found"))
    {
        return AwsError::NoCredentials(last);
    }
    if lower.contains("sso") && (lower.contains("expired") || lower.contains("token")) {
        return AwsError::SsoExpired(last);
    }
    let Some(m) = error_line().captures(stderr) else {
        return AwsError::Failed {
            code: None,
            message: last,
        };
    };
    let code = m[1].to_string();
    let op = m[2].to_string();
    match code.as_str() {
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "AuthorizationError"
        // An HTTP 403 whose body the CLI could not parse (a proxy's page;
        // moto's XML denial for a JSON-protocol service like Secrets Manager).
        | "403" => AwsError::Denied {
            action: format!("{}:{op}", call.service),
        },
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
            AwsError::SsoExpired(format!("{code}: {}", &m[3]))
        }
        "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "AuthFailure" => AwsError::NoCredentials(format!("{code}: {}", &m[3])),
        _ => AwsError::Failed {
            code: Some(code),
            message: m[3].to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(stderr: &str) -> AwsError {
        classify(&Call::new("ec2", "describe-network-acls", &[]), stderr)
    }

    #[test]
    fn cli_v1_stderr_is_classified() {
        assert_eq!(
            c("\nAn error occurred (UnauthorizedOperation) when calling the DescribeNetworkAcls operation: You are not authorized to perform this operation.\n"),
            AwsError::Denied { action: "ec2:DescribeNetworkAcls".into() }
        );
        assert_eq!(
            c("An error occurred (AccessDenied) when calling the DescribeNetworkAcls operation: User: arn:aws:iam::1:user/dev is not authorized"),
            AwsError::Denied { action: "ec2:DescribeNetworkAcls".into() }
        );
        assert_eq!(
            c("An error occurred (403) when calling the DescribeNetworkAcls operation: <?xml version=\"1.0\"?><ErrorResponse>"),
            AwsError::Denied { action: "ec2:DescribeNetworkAcls".into() }
        );
        assert!(matches!(
            c("Unable to locate credentials. You can configure credentials by running \"aws configure\"."),
            AwsError::NoCredentials(_)
        ));
        assert!(matches!(
            c("Error when retrieving token from sso: Token has expired and refresh failed"),
            AwsError::SsoExpired(_)
        ));
        assert!(matches!(
            c("An error occurred (ExpiredToken) when calling the GetCallerIdentity operation: The security token included in the request is expired"),
            AwsError::SsoExpired(_)
        ));
        assert_eq!(
            c("An error occurred (DBInstanceNotFound) when calling the DescribeDBInstances operation: DBInstance x not found."),
            AwsError::Failed { code: Some("DBInstanceNotFound".into()), message: "DBInstance x not found.".into() }
        );
        assert_eq!(
            c("An error occurred (Throttling) when calling the DescribeEvents operation (reached max retries: 4): Rate exceeded"),
            AwsError::Failed { code: Some("Throttling".into()), message: "Rate exceeded".into() }
        );
    }
}
