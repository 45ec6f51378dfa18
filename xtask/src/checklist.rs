//! One checklist for every command that reports checks or steps (db-test's
//! layers, rds-check's checks, onboard's steps): one status, one line
//! layout for people and one JSON shape for scripts, so a script that reads
//! one command's `--json` reads them all.

use crate::output::{self, Columns, Json, Mark, Style};

stable_names! {
    /// How one check or step ended.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Status {
        Pass = "pass",
        Warn = "warn",
        Fail = "fail",
        Skip = "skip",
        /// The check could not be done (access denied, an aws error):
        /// neither pass nor fail, so it does not change the exit code.
        Unknown = "unknown",
    }
}

/// One entry of a checklist, as every command renders it.
pub struct Line<'a> {
    pub name: &'a str,
    pub status: Status,
    /// The stable code of what was found, when there is one.
    pub code: Option<&'static str>,
    pub ms: u64,
    pub detail: &'a str,
    pub hint: Option<&'a str>,
}

impl Line<'_> {
    /// `  pass  name   12 ms  detail`, and the hint on the next line for
    /// anything that did not pass.
    pub fn print(&self, cols: Columns, style: Style) {
        let mark = match self.status {
            Status::Pass => Mark::Pass,
            Status::Warn => Mark::Warn,
            Status::Fail => Mark::Fail,
            Status::Skip => Mark::Skip,
            Status::Unknown => Mark::Unknown,
        };
        let hint = self.hint.filter(|_| self.status != Status::Pass);
        output::status_line(cols, style, mark, self.name, self.ms, self.detail, hint);
    }

    /// `{name, status, code, ms, detail, hint}`.
    pub fn to_json(&self) -> Json {
        Json::obj([
            ("name", Json::str(self.name)),
            ("status", Json::Lit(self.status.as_str())),
            ("code", self.code.map(Json::Lit).unwrap_or(Json::Null)),
            ("ms", Json::num(self.ms as f64)),
            ("detail", Json::str(self.detail)),
            ("hint", Json::opt_str(self.hint)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_writes_one_shape() {
        let line = Line {
            name: "tls",
            status: Status::Fail,
            code: Some("tls_failed"),
            ms: 12,
            detail: "certificate check failed",
            hint: Some("check sslrootcert"),
        };
        assert_eq!(
            line.to_json().render(),
            r#"{"name":"tls","status":"fail","code":"tls_failed","ms":12,"detail":"certificate check failed","hint":"check sslrootcert"}"#
        );
        let step = Line {
            name: "tools",
            status: Status::Pass,
            code: None,
            ms: 3,
            detail: "node v20",
            hint: None,
        };
        assert_eq!(
            step.to_json().render(),
            r#"{"name":"tools","status":"pass","code":null,"ms":3,"detail":"node v20","hint":null}"#
        );
    }
}
