//! `cargo xtask report`: the troubleshooting page's last step ("contact
//! AWS Support") as one file someone else can read. It gathers what the
//! other commands know, in sections: versions, where the URLs come from,
//! the full db-test verdict, and what it could not find out, and why.
//! Everything in it is read, never written, on any server; URLs are
//! masked by construction, as everywhere.

mod gather;
mod redact;
mod write;

pub use write::{default_path, write_new};

/// One section of the report: a title and its lines (Markdown bullets).
#[derive(Debug, Clone)]
pub struct Section {
    pub title: &'static str,
    pub lines: Vec<String>,
}

/// The report, in the order it is read.
#[derive(Debug, Clone)]
pub struct Report {
    pub sections: Vec<Section>,
    /// What could not be found out, each with why.
    pub unknown: Vec<String>,
    /// The host names the URLs name (what `--redact-hosts` replaces).
    pub hosts: Vec<String>,
    /// Host names, addresses and account ids are placeholders.
    pub redacted: bool,
}

pub use gather::gather;

impl Report {
    /// Replaces host names, IP addresses and account ids with stable
    /// placeholders, for a public issue.
    pub fn redact_hosts(&mut self) {
        let hosts = self.hosts.clone();
        redact::Redactor::default().apply(self, &hosts);
        self.redacted = true;
    }

    /// The Markdown file's text.
    pub fn markdown(&self, generated: &str) -> String {
        let holds = if self.redacted {
            "Host names, IP addresses and AWS account ids are replaced by stable placeholders (host-1, ip-1, account-1), for a public issue"
        } else {
            "It holds host names, ports, user and database names, for AWS Support or a teammate (`--redact-hosts` makes a version for a public issue)"
        };
        let mut out = format!(
            "# cargo xtask report\n\nGenerated {generated} by `cargo xtask report`. {holds}; every password is masked (`****`). Nothing here was gathered by a write to a server or an AWS account.\n"
        );
        for s in &self.sections {
            out.push_str(&format!("\n## {}\n\n", s.title));
            for l in &s.lines {
                out.push_str(&format!("- {l}\n"));
            }
        }
        out.push_str("\n## What this report could not find out\n\n");
        if self.unknown.is_empty() {
            out.push_str("- nothing\n");
        }
        for u in &self.unknown {
            out.push_str(&format!("- {u}\n"));
        }
        out
    }

    /// The same content as one JSON object.
    pub fn to_json(&self, file: &str) -> crate::output::Json {
        use crate::output::Json;
        let sections = self.sections.iter().map(|s| {
            Json::obj([
                ("title", Json::Lit(s.title)),
                ("lines", Json::Arr(s.lines.iter().map(Json::str).collect())),
            ])
        });
        Json::obj([
            ("file", Json::str(file)),
            ("sections", Json::Arr(sections.collect())),
            (
                "unknown",
                Json::Arr(self.unknown.iter().map(Json::str).collect()),
            ),
        ])
    }
}
