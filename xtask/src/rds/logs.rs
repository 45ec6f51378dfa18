//! Check 6 ("If still failing" 1, opt-in with `--logs` since it downloads):
//! the tails of the newest PostgreSQL log files, lines that explain a lost
//! connection classified and counted, a few shown with password-like text
//! masked (a logged `ALTER ROLE ... PASSWORD '...'` must not be printed).

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use super::denied_or_error;
use super::report::{Check, Code};
use crate::aws::cli::{Answer, Call};

const NAME: &str = "logs";
/// How many of the newest files, and lines from the end of each.
const FILES: usize = 2;
const LINES: &str = "2000";
const EXAMPLES: usize = 3;

/// What a log line means, in the order findings are listed.
const KINDS: [(&str, &str); 7] = [
    (
        "no pg_hba.conf entry",
        "no pg_hba.conf entry (usually: a connection without TLS while rds.force_ssl=1)",
    ),
    (
        "password authentication failed",
        "password authentication failed",
    ),
    (
        "terminating connection due to idle-session timeout",
        "closed by idle_session_timeout",
    ),
    (
        "canceling statement due to statement timeout",
        "statement cancelled by statement_timeout",
    ),
    (
        "could not receive data from client: Connection reset by peer",
        "connection reset by the client or a middlebox (NAT, VPN, firewall)",
    ),
    ("too many connections", "too many connections"),
    (
        "terminating connection due to administrator command",
        "terminated by an administrator command (restart, failover)",
    ),
];

pub fn list_call(instance: &str) -> Call {
    Call::new(
        "rds",
        "describe-db-log-files",
        &["--db-instance-identifier", instance],
    )
}

/// The newest files first; `--no-paginate` and no marker: the last lines.
pub fn download_calls(instance: &str, files: &Value) -> Vec<Call> {
    let mut list: Vec<(&str, i64)> = files["DescribeDBLogFiles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| {
            Some((
                f["LogFileName"].as_str()?,
                f["LastWritten"].as_i64().unwrap_or(0),
            ))
        })
        .collect();
    list.sort_by_key(|(_, t)| -t);
    list.iter()
        .take(FILES)
        .map(|(name, _)| {
            Call::new(
                "rds",
                "download-db-log-file-portion",
                &[
                    "--db-instance-identifier",
                    instance,
                    "--log-file-name",
                    name,
                    "--number-of-lines",
                    LINES,
                    "--no-paginate",
                ],
            )
        })
        .collect()
}

fn maskers() -> &'static [(Regex, &'static str)] {
    static RE: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    RE.get_or_init(|| {
        [
            (
                r#"(?i)(password\s*[=:]\s*)('[^']*'|"[^"]*"|[^\s,;)]+)"#,
                "${1}****",
            ),
            (r#"(?i)(password\s+)('[^']*'|"[^"]*")"#, "${1}****"),
            (r"(://[^:/@\s]+:)[^@\s]+@", "${1}****@"),
        ]
        .into_iter()
        .map(|(re, with)| (Regex::new(re).expect("valid regex"), with))
        .collect()
    })
}

/// Masks password-like text in a log line, then every registered secret.
pub fn mask_line(line: &str) -> String {
    let mut out = line.to_string();
    for (re, with) in maskers() {
        out = re.replace_all(&out, *with).into_owned();
    }
    crate::secret::redact(&out)
}

fn client_host(line: &str) -> Option<String> {
    let rest = line.split("pg_hba.conf entry for host \"").nth(1)?;
    Some(rest.split('"').next()?.to_string())
}

/// Counts per kind, example lines and the client addresses pg_hba named.
fn classify(text: &str) -> (Vec<(usize, usize)>, Vec<String>, Vec<String>) {
    let mut counts = Vec::new();
    let mut examples = Vec::new();
    let mut hosts: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some(k) = KINDS.iter().position(|(pat, _)| line.contains(pat)) else {
            continue;
        };
        match counts.iter_mut().find(|(kind, _)| *kind == k) {
            Some((_, n)) => *n += 1,
            None => counts.push((k, 1)),
        }
        if let Some(h) = client_host(line).filter(|h| !hosts.contains(h)) {
            hosts.push(h);
        }
        if examples.len() < EXAMPLES {
            examples.push(mask_line(line.trim()));
        }
    }
    counts.sort_by_key(|(k, _)| *k);
    (counts, examples, hosts)
}

pub fn check(wanted: bool, list: Option<&Answer>, downloads: &[Answer]) -> Check {
    if !wanted {
        return Check::skip(
            NAME,
            Code::LogsNotRequested,
            "not requested: --logs downloads the tails of the newest log files",
        );
    }
    let Some(list) = list else {
        return Check::skip(
            NAME,
            Code::NotApplicable,
            "no instance logs to read (an RDS Proxy keeps none)",
        );
    };
    let ms = list.ms + downloads.iter().map(|d| d.ms).max().unwrap_or(0);
    if let Err(e) = &list.result {
        return denied_or_error(NAME, e).ms(ms);
    }
    let mut text = String::new();
    for d in downloads {
        match &d.result {
            Ok(v) => text.push_str(v["LogFileData"].as_str().unwrap_or("")),
            Err(e) => return denied_or_error(NAME, e).ms(ms),
        }
    }
    let (counts, examples, hosts) = classify(&text);
    let read = format!(
        "{} file(s), {} line(s) read",
        downloads.len(),
        text.lines().count()
    );
    if counts.is_empty() {
        return Check::pass(
            NAME,
            format!("{read}; no lines about refused or lost connections"),
        )
        .ms(ms);
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|(k, n)| format!("{n}x {}", KINDS[*k].1))
        .collect();
    let seen_as = if hosts.is_empty() {
        String::new()
    } else {
        format!(
            "; pg_hba names client address(es) {} (a client's public IP as the server sees it)",
            hosts.join(", ")
        )
    };
    let examples: Vec<String> = examples.iter().map(|e| format!("`{e}`")).collect();
    Check::warn(NAME, Code::LogFindings, format!("{read}: {}{seen_as}; e.g. {}", summary.join(", "), examples.join(" ")))
        .hint("see the README's Troubleshooting for each: idle and statement timeouts (parameters), resets (NAT or VPN idle timeouts), too many connections (connection_limit)")
        .ms(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_classified_counted_and_masked() {
        let log = "\
2026-11-24 10:00:01 UTC:203.0.113.7(51234):app@summitly:[77]:FATAL:  no pg_hba.conf entry for host \"203.0.113.7\", user \"app\", database \"summitly\", no encryption
2026-11-24 10:00:02 UTC::@:[80]:LOG:  statement: ALTER ROLE app PASSWORD 'Tr0ub@dor'
2026-11-24 10:00:03 UTC:10.0.0.5(4000):app@summitly:[81]:FATAL:  terminating connection due to idle-session timeout
2026-11-24 10:00:04 UTC:10.0.0.5(4001):app@summitly:[82]:FATAL:  terminating connection due to idle-session timeout
2026-11-24 10:00:05 UTC:10.0.0.5(4002):app@summitly:[83]:LOG:  could not receive data from client: Connection reset by peer
2026-11-24 10:00:06 UTC::@:[84]:ERROR:  canceling statement due to statement timeout; password=hunter2 postgresql://u:s3cret@h/db
";
        let (counts, examples, hosts) = classify(log);
        assert_eq!(counts, vec![(0, 1), (2, 2), (3, 1), (4, 1)]);
        assert_eq!(hosts, ["203.0.113.7"]);
        assert_eq!(examples.len(), 3);
        let masked = mask_line(
            "ALTER ROLE app PASSWORD 'Tr0ub@dor'; password=hunter2 postgresql://u:s3cret@h/db",
        );
        assert_eq!(
            masked,
            "ALTER ROLE app PASSWORD ****; password=**** postgresql://u:****@h/db"
        );
        assert!(mask_line("password authentication failed for user \"app\"")
            .contains("authentication failed"));
    }
}
