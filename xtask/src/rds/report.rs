//! What rds-check found: one `Check` per step, each with a status and a
//! stable code, and the verdict. Rendered as a checklist by `rds_check` and
//! as JSON here, so `db-test --aws` and `onboard --aws` print the same shape.

use crate::output::{self, Columns, Json, Style};

pub use crate::checklist::Status;

stable_names! {
    /// Stable codes: scripts and the README refer to them, so never rename one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Code {
        Ok = "ok",
        NotRds = "not_rds",
        AwsCliMissing = "aws_cli_missing",
        AwsNoCredentials = "aws_no_credentials",
        AwsSsoExpired = "aws_sso_expired",
        AwsAccessDenied = "aws_access_denied",
        AwsError = "aws_error",
        /// A check that does not apply (a proxy has no parameter group) or
        /// that an earlier finding made pointless.
        NotApplicable = "not_applicable",
        RdsNotFound = "rds_not_found",
        RdsEndpointMismatch = "rds_endpoint_mismatch",
        RdsNotAvailable = "rds_not_available",
        RdsNotPublic = "rds_not_public",
        MyIpUnknown = "my_ip_unknown",
        SgNoRuleForIp = "sg_no_rule_for_ip",
        NaclDeny = "nacl_deny",
        RouteNoIgw = "route_no_igw",
        PgTimeoutLow = "pg_timeout_low",
        ForceSslWithoutTls = "force_ssl_without_tls",
        ParamPendingReboot = "param_pending_reboot",
        RdsRecentDisruption = "rds_recent_disruption",
        LogFindings = "log_findings",
        LogsNotRequested = "logs_not_requested",
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub code: Code,
    pub ms: u64,
    pub detail: String,
    pub hint: Option<String>,
}

impl Check {
    pub fn new(name: &'static str, status: Status, code: Code, detail: String) -> Check {
        Check {
            name,
            status,
            code,
            ms: 0,
            detail,
            hint: None,
        }
    }
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Pass, Code::Ok, detail.into())
    }
    pub fn skip(name: &'static str, code: Code, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Skip, code, detail.into())
    }
    pub fn warn(name: &'static str, code: Code, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Warn, code, detail.into())
    }
    pub fn fail(name: &'static str, code: Code, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Fail, code, detail.into())
    }
    pub fn unknown(name: &'static str, code: Code, detail: impl Into<String>) -> Check {
        Check::new(name, Status::Unknown, code, detail.into())
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Check {
        self.hint = Some(hint.into());
        self
    }
    pub fn ms(mut self, ms: u64) -> Check {
        self.ms = ms;
        self
    }

    /// This check as a checklist line.
    pub fn line(&self) -> crate::checklist::Line<'_> {
        crate::checklist::Line {
            name: self.name,
            status: self.status,
            code: Some(self.code.as_str()),
            ms: self.ms,
            detail: &self.detail,
            hint: self.hint.as_deref(),
        }
    }
}

/// The verdict: the first failing check, else the reason everything was
/// skipped (not RDS, no aws CLI, no credentials), else `ok`.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    pub code: Code,
    pub check: Option<&'static str>,
    pub hint: String,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub host: String,
    pub region: Option<String>,
    pub instance: Option<String>,
    pub checks: Vec<Check>,
    pub diagnosis: Diagnosis,
}

impl Report {
    pub fn new(
        host: String,
        region: Option<String>,
        instance: Option<String>,
        checks: Vec<Check>,
    ) -> Report {
        let diagnosis = diagnose(&checks);
        Report {
            host,
            region,
            instance,
            checks,
            diagnosis,
        }
    }

    /// No check failed (warnings, skips and unknowns allowed): exit 0.
    pub fn ok(&self) -> bool {
        !self.checks.iter().any(|c| c.status == Status::Fail)
    }

    pub fn to_json(&self) -> Json {
        Json::obj([
            ("ok", Json::Bool(self.ok())),
            ("host", Json::str(&self.host)),
            ("region", Json::opt_str(self.region.clone())),
            ("instance", Json::opt_str(self.instance.clone())),
            (
                "checks",
                Json::Arr(self.checks.iter().map(|c| c.line().to_json()).collect()),
            ),
            (
                "diagnosis",
                Json::obj([
                    ("code", Json::Lit(self.diagnosis.code.as_str())),
                    ("hint", Json::str(&self.diagnosis.hint)),
                ]),
            ),
        ])
    }
}

fn diagnose(checks: &[Check]) -> Diagnosis {
    let from = |c: &Check| Diagnosis {
        code: c.code,
        check: Some(c.name),
        hint: c.hint.clone().unwrap_or_else(|| c.detail.clone()),
    };
    if let Some(c) = checks.iter().find(|c| c.status == Status::Fail) {
        return from(c);
    }
    // Nothing could be looked at: say why rather than "ok".
    let gate = [
        Code::NotRds,
        Code::AwsCliMissing,
        Code::AwsNoCredentials,
        Code::AwsSsoExpired,
    ];
    if let Some(c) = checks.iter().find(|c| gate.contains(&c.code)) {
        return from(c);
    }
    let unknown = checks
        .iter()
        .filter(|c| c.status == Status::Unknown)
        .count();
    let warned = checks.iter().any(|c| c.status == Status::Warn);
    let hint = match (unknown, warned) {
        (0, false) => "every check passed".to_string(),
        (0, true) => "nothing failed; see the warnings".to_string(),
        (n, _) => format!("nothing failed; {n} check(s) could not be done (see unknown)"),
    };
    Diagnosis {
        code: Code::Ok,
        check: None,
        hint,
    }
}

/// db-test's layout, with room for the longer check names.
const COLUMNS: Columns = Columns {
    gap: 2,
    name: 15,
    ms: 5,
};

impl Report {
    /// The checklist and verdict, in db-test's layout (shared by rds-check,
    /// `db-test --aws` and `onboard --aws`).
    pub fn print(&self, style: Style) {
        let r = self;
        for c in &r.checks {
            c.line().print(COLUMNS, style);
        }
        let d = &r.diagnosis;
        let verdict = if r.ok() {
            style.green(d.code.as_str())
        } else {
            style.red(d.code.as_str())
        };
        match d.check {
            Some(check) => {
                output::out(format!("  verdict: {verdict} at check {check}: {}", d.hint))
            }
            None => output::out(format!("  verdict: {verdict} ({})", d.hint)),
        }
    }
}
