//! Check 5: the instance's events of the last 24 hours. A reboot, failover,
//! maintenance or full storage closes every connection, which is exactly
//! the `P1017 Server has closed the connection` a user just saw.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::denied_or_error;
use super::report::{Check, Code};
use crate::aws::cli::{Answer, Call};

const NAME: &str = "events";
const DAY_SECS: i64 = 24 * 3600;

pub fn call(instance: &str) -> Call {
    Call::new(
        "rds",
        "describe-events",
        &[
            "--source-type",
            "db-instance",
            "--source-identifier",
            instance,
            "--duration",
            "1440",
        ],
    )
}

/// Seconds since the epoch of `2026-11-24T15:50:09.071Z` (or `+00:00`).
pub fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    if b.len() < 19 || b[4] != b'-' || b[10] != b'T' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Offset: a trailing +HH:MM or -HH:MM; Z or none is UTC.
    let tail = &s[19..];
    let offset = match tail.rfind(['+', '-']) {
        Some(i) if tail.len() >= i + 6 => {
            let sign = if tail.as_bytes()[i] == b'-' { -1 } else { 1 };
            let oh: i64 = tail.get(i + 1..i + 3)?.parse().ok()?;
            let om: i64 = tail.get(i + 4..i + 6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
        _ => 0,
    };
    Some(days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's method).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Whether an event closes connections.
fn disruptive(e: &Value) -> bool {
    let cats: Vec<&str> = e["EventCategories"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let msg = e["Message"].as_str().unwrap_or("").to_ascii_lowercase();
    let by_category = cats.iter().any(|c| {
        [
            "failover",
            "maintenance",
            "low storage",
            "failure",
            "availability",
        ]
        .contains(c)
    });
    let by_message = [
        "reboot",
        "restart",
        "failover",
        "shutdown",
        "stopped",
        "storage full",
        "storage-full",
        "maintenance",
        "recovery",
    ]
    .iter()
    .any(|k| msg.contains(k));
    by_category || by_message
}

fn ago(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s => format!("{} h ago", s / 3600),
    }
}

pub fn check(instance: &str, a: &Answer) -> Check {
    let v = match &a.result {
        Ok(v) => v,
        Err(e) => return denied_or_error(NAME, e).ms(a.ms),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // The CLI asks for 24 hours; filter again, as some answers ignore it.
    let mut recent: Vec<(i64, &Value)> = v["Events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((parse_time(e["Date"].as_str()?)?, e)))
        .filter(|(t, _)| now - t <= DAY_SECS)
        .collect();
    recent.sort_by_key(|(t, _)| -t);
    let total = recent.len();
    let bad: Vec<String> = recent
        .iter()
        .filter(|(_, e)| disruptive(e))
        .map(|(t, e)| format!("{}: {}", ago(now - t), e["Message"].as_str().unwrap_or("?")))
        .collect();
    if bad.is_empty() {
        return Check::pass(
            NAME,
            format!(
                "{total} event(s) for {instance} in the last 24 h, none that closes connections"
            ),
        )
        .ms(a.ms);
    }
    let shown: Vec<&str> = bad.iter().take(3).map(String::as_str).collect();
    Check::warn(
        NAME,
        Code::RdsRecentDisruption,
        format!(
            "{} event(s) in the last 24 h closed or may have closed every connection: {}",
            bad.len(),
            shown.join("; ")
        ),
    )
    .hint("a P1017 (server closed the connection) near these times is explained by them: retry; frequent ones: check the maintenance window, storage and the instance's health")
    .ms(a.ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_time("2026-11-24T15:50:09.071128Z"),
            Some(1_795_535_409)
        );
        assert_eq!(parse_time("2026-11-24T16:50:09+01:00"), Some(1_795_535_409));
        assert_eq!(parse_time("2000-03-01T00:00:00"), Some(951_868_800));
        assert_eq!(parse_time("yesterday"), None);
    }
}
