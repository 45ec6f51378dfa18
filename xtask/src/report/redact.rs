//! `report --redact-hosts`: the report for a public GitHub issue. Host
//! names (an RDS endpoint names its instance), IP addresses and AWS
//! account ids become stable placeholders (`host-1`, `ip-1`, `account-1`), the
//! same name for the same value everywhere in the file, so the report
//! still reads ("host-1 refused ... host-1 is not an RDS host").

use regex::Regex;

use super::Report;

/// The placeholders given so far, in the order values were first seen.
#[derive(Default)]
pub struct Redactor {
    seen: Vec<(String, String)>,
}

impl Redactor {
    /// `hosts`: the host names the URLs name (the only names replaced:
    /// a rule for "anything like a domain" would eat versions and paths).
    pub fn apply(&mut self, report: &mut Report, hosts: &[String]) {
        let mut hosts: Vec<&String> = hosts.iter().collect();
        // Longer names first, so `db.x.com` is not half-replaced by `x.com`.
        hosts.sort_by_key(|h| std::cmp::Reverse(h.len()));
        let lines = report
            .sections
            .iter_mut()
            .flat_map(|s| s.lines.iter_mut())
            .chain(report.unknown.iter_mut());
        for line in lines {
            *line = self.line(line, &hosts);
        }
    }

    fn placeholder(&mut self, kind: &str, value: &str) -> String {
        if let Some((_, p)) = self.seen.iter().find(|(v, _)| v == value) {
            return p.clone();
        }
        let n = self
            .seen
            .iter()
            .filter(|(_, p)| p.starts_with(kind))
            .count()
            + 1;
        let p = format!("{kind}-{n}");
        self.seen.push((value.to_string(), p.clone()));
        p
    }

    fn line(&mut self, line: &str, hosts: &[&String]) -> String {
        let mut out = line.to_string();
        for h in hosts {
            if out.contains(h.as_str()) {
                let p = self.placeholder("host", h);
                out = out.replace(h.as_str(), &p);
            }
        }
        for (kind, re) in patterns() {
            let mut result = String::new();
            let mut last = 0;
            for m in re.find_iter(&out.clone()) {
                result.push_str(&out[last..m.start()]);
                result.push_str(&self.placeholder(kind, m.as_str()));
                last = m.end();
            }
            result.push_str(&out[last..]);
            out = result;
        }
        out
    }
}

/// IPv4 and IPv6 addresses, and 12-digit AWS account ids.
fn patterns() -> &'static [(&'static str, Regex)] {
    static P: std::sync::OnceLock<Vec<(&'static str, Regex)>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        vec![
            (
                "ip",
                Regex::new(r"\b(?:\d{1,3}\.){3}\d{1,3}\b").expect("ipv4"),
            ),
            // IPv6 in brackets (a socket address), or compressed with `::`;
            // not any run of colons, which times (05:18:19) also are.
            (
                "ip",
                Regex::new(r"\[[0-9a-fA-F:.%]+\]|\b[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*::(?:[0-9a-fA-F]{1,4}(?::[0-9a-fA-F]{1,4})*)?").expect("ipv6"),
            ),
            ("account", Regex::new(r"\b\d{12}\b").expect("account")),
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Section;

    #[test]
    fn the_same_value_gets_the_same_placeholder_and_times_are_left_alone() {
        let mut r = Report {
            sections: vec![Section {
                title: "t",
                lines: vec![
                    "db.abc.eu-west-1.rds.amazonaws.com:5432 refused; connected to 10.0.1.5:5432 at 05:18:19".into(),
                    "again db.abc.eu-west-1.rds.amazonaws.com, [2001:db8::10]:5432, fe80::1, account 123456789012, 10.0.1.5".into(),
                ],
            }],
            unknown: vec!["rds-check for db.abc.eu-west-1.rds.amazonaws.com".into()],
            hosts: vec!["db.abc.eu-west-1.rds.amazonaws.com".into()],
            redacted: false,
        };
        r.redact_hosts();
        assert_eq!(
            r.sections[0].lines[0],
            "host-1:5432 refused; connected to ip-1:5432 at 05:18:19"
        );
        assert_eq!(
            r.sections[0].lines[1],
            "again host-1, ip-2:5432, ip-3, account account-1, ip-1"
        );
        assert_eq!(r.unknown[0], "rds-check for host-1");
    }
}
