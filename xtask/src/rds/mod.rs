//! rds-check's checks, the AWS side of the troubleshooting page, over the
//! shared `aws` CLI layer: which RDS database the URL's host is, its status,
//! whether the network lets this machine in, its parameter group, recent
//! events and (on request) its logs. `run_checks` is the one entry point,
//! shared by `rds-check`, `db-test --aws` and `onboard --aws`. Read-only:
//! describe, list and download calls only; nothing in the account changes.

pub mod events;
pub mod logs;
pub mod myip;
pub mod parameters;
pub mod reachability;
pub mod report;
pub mod status;

use std::net::IpAddr;

use serde_json::Value;

use crate::aws::cli::{Answer, Aws, AwsError, Call};
use crate::aws::endpoint;
pub use crate::aws::is_rds_host;
use crate::flags::Args;
use crate::pgurl::PgUrl;
pub use myip::MyIp;
pub use report::{Check, Code, Report, Status};

/// What the user asked for, beyond the URL.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    /// Default: the region in the endpoint host.
    pub region: Option<String>,
    pub my_ip: Option<IpAddr>,
    /// `--lookup-my-ip`: the what-is-my-IP URL to ask.
    pub lookup_my_ip: Option<String>,
    /// `--logs`: download the newest log files' tails.
    pub logs: bool,
    /// One aws call at a time (slower; for measuring, or a CLI whose SSO
    /// token refresh should not run several times at once).
    pub sequential: bool,
}

/// How the URL asks for TLS, for the `rds.force_ssl` comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlTls {
    /// `require`, `verify-ca`, `verify-full`.
    Required,
    /// `prefer` or `allow`: TLS is tried, so force_ssl still works.
    Attempted,
    /// No sslmode: Prisma's driver adapter (node-postgres) then uses no TLS.
    Absent,
    Disabled,
}

impl UrlTls {
    pub fn of(url: &PgUrl) -> UrlTls {
        match url.param("sslmode") {
            None => UrlTls::Absent,
            Some("disable") => UrlTls::Disabled,
            Some("allow" | "prefer") => UrlTls::Attempted,
            Some(_) => UrlTls::Required,
        }
    }
    pub fn as_phrase(self) -> &'static str {
        match self {
            UrlTls::Required => "requires TLS",
            UrlTls::Attempted => "tries TLS first (sslmode=prefer)",
            UrlTls::Absent => "has no sslmode (Prisma's driver then connects without TLS)",
            UrlTls::Disabled => "says sslmode=disable",
        }
    }
    pub fn encrypts(self) -> bool {
        matches!(self, UrlTls::Required | UrlTls::Attempted)
    }
}

/// The checks after `endpoint` and `status`, in order, for skipping.
const LATER: [&str; 8] = [
    "status",
    "public_access",
    "security_group",
    "network_acl",
    "route_table",
    "parameters",
    "events",
    "logs",
];

impl AwsOptions {
    /// `--aws` with `--my-ip ADDR` and the `--aws-profile` the command read
    /// (it also serves `--password-from`), as `db-test` and `onboard` take
    /// them; None without `--aws`.
    pub fn from_flags(
        args: &mut Args,
        profile: Option<String>,
    ) -> anyhow::Result<Option<AwsOptions>> {
        if !args.flag("--aws") {
            return Ok(None);
        }
        Ok(Some(AwsOptions {
            profile,
            my_ip: args.parsed("--my-ip", "an IP address")?,
            ..AwsOptions::default()
        }))
    }
}

/// Runs every check for the URL's host and returns the report.
pub fn run_checks(url: &PgUrl, opts: &AwsOptions) -> Report {
    let host = url.host();
    let Some(ep) = endpoint::parse(&host) else {
        let c = Check::skip(
            "endpoint",
            Code::NotRds,
            format!("{host} is not an RDS endpoint (*.rds.amazonaws.com or *.rds.amazonaws.com.cn): nothing to check on AWS"),
        );
        return Report::new(host, None, None, vec![c]);
    };
    let region = opts.region.clone().unwrap_or_else(|| ep.region.clone());
    let Some(aws) = Aws::find(opts.profile.clone(), region.clone(), opts.sequential) else {
        let c = Check::skip("credentials", Code::AwsCliMissing, "no `aws` command on PATH")
            .hint("install the AWS CLI: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html (or `pip install awscli`), then `aws configure` or `aws sso login`");
        return Report::new(host, Some(region), None, gate(c, "endpoint"));
    };
    let (sts, described, my_ip) = join3(
        opts.sequential,
        || aws.call(&Call::new("sts", "get-caller-identity", &[])),
        || aws.call(&status::describe_call(&ep)),
        || resolve_my_ip(opts),
    );
    let cred = credentials_check(&sts, opts.profile.as_deref());
    if cred.status == Status::Skip {
        return Report::new(host, Some(region), None, gate(cred, "endpoint"));
    }
    let (endpoint_check, target) = status::endpoint_check(&aws, &ep, described, &host, url.port());
    let mut checks = vec![cred, endpoint_check];
    let Some(t) = target else {
        checks.extend(LATER.iter().map(|n| {
            Check::skip(
                n,
                Code::NotApplicable,
                "needs the database found by the endpoint check",
            )
        }));
        return Report::new(host, Some(region), None, checks);
    };
    checks.push(status::status_check(&t));
    checks.extend(network_and_more(&aws, &t, UrlTls::of(url), my_ip, opts));
    let instance = Some(t.identifier.clone());
    Report::new(host, Some(region), instance, checks)
}

/// `first`, then every later check skipped for the same reason.
fn gate(first: Check, from: &'static str) -> Vec<Check> {
    let why = format!("not run: {}", first.code.as_str());
    let mut checks = vec![first];
    checks.push(Check::skip(from, Code::NotApplicable, why.clone()));
    checks.extend(
        LATER
            .iter()
            .map(|n| Check::skip(n, Code::NotApplicable, why.clone())),
    );
    checks
}

fn resolve_my_ip(opts: &AwsOptions) -> Result<Option<MyIp>, String> {
    if let Some(ip) = opts.my_ip {
        return Ok(Some(MyIp {
            ip,
            source: "given with --my-ip".into(),
        }));
    }
    match &opts.lookup_my_ip {
        Some(url) => myip::lookup(url).map(Some),
        None => Ok(None),
    }
}

fn credentials_check(a: &Answer, profile: Option<&str>) -> Check {
    const NAME: &str = "credentials";
    let p = profile.unwrap_or("default");
    match &a.result {
        Ok(v) => Check::pass(
            NAME,
            format!(
                "{} (account {})",
                v["Arn"].as_str().unwrap_or("?"),
                v["Account"].as_str().unwrap_or("?")
            ),
        ),
        Err(AwsError::NoCredentials(m)) => Check::skip(NAME, Code::AwsNoCredentials, format!("the aws CLI has no usable credentials: {m}"))
            .hint(format!("run `aws configure` (access keys), or `aws sso login --profile {p}` (IAM Identity Center), or pass --profile NAME")),
        Err(AwsError::SsoExpired(m)) => Check::skip(NAME, Code::AwsSsoExpired, format!("the credentials have expired: {m}"))
            .hint(format!("run `aws sso login --profile {p}`, or refresh your temporary credentials")),
        Err(e) => denied_or_error(NAME, e),
    }
    .ms(a.ms)
}

/// Checks 3 to 6: one batch of independent calls, then the log downloads.
fn network_and_more(
    aws: &Aws,
    t: &status::DbResource,
    tls: UrlTls,
    my_ip: Result<Option<MyIp>, String>,
    opts: &AwsOptions,
) -> Vec<Check> {
    let (my_ip, ip_error) = match my_ip {
        Ok(ip) => (ip, None),
        Err(e) => (None, Some(e)),
    };
    let planned = plan_calls(t, opts);
    let calls: Vec<Call> = planned.iter().flatten().cloned().collect();
    let mut answers = aws.call_all(&calls).into_iter();
    let [sg, nacl, routes, params, evs, log_list] = planned.map(|p| p.and_then(|_| answers.next()));
    let downloads = match (&log_list, t.instance.as_deref()) {
        (
            Some(Answer {
                result: Ok(files), ..
            }),
            Some(i),
        ) => aws.call_all(&logs::download_calls(i, files)),
        _ => Vec::new(),
    };
    let port = t.port;
    let missing = |name: &'static str, what: &str| {
        Check::unknown(
            name,
            Code::AwsError,
            format!("the database reports no {what}"),
        )
    };
    let ip = my_ip.as_ref();
    let mut sg_check = match &sg {
        Some(a) => reachability::security_group(t, port, ip, a),
        None => missing("security_group", "VPC security groups"),
    };
    if let (Some(e), Status::Unknown) = (&ip_error, sg_check.status) {
        sg_check.detail = format!("looking up your IP failed ({e}); {}", sg_check.detail);
    }
    vec![
        reachability::public_access(t, ip),
        sg_check,
        match &nacl {
            Some(a) => reachability::network_acl(t, port, ip, a),
            None => missing("network_acl", "VPC (no DB subnet group)"),
        },
        match &routes {
            Some(a) => reachability::route_table(t, ip, a),
            None => missing("route_table", "VPC (no DB subnet group)"),
        },
        match &params {
            Some(a) => parameters::check(t, tls, a),
            None => Check::skip(
                "parameters",
                Code::NotApplicable,
                "no DB parameter group (an RDS Proxy has none)",
            ),
        },
        match (&evs, t.instance.as_deref()) {
            (Some(a), Some(i)) => events::check(i, a),
            _ => Check::skip(
                "events",
                Code::NotApplicable,
                "no instance to read events of",
            ),
        },
        logs::check(opts.logs, log_list.as_ref(), &downloads),
    ]
}

/// The independent calls for checks 3 to 6 (`None`: nothing to ask).
fn plan_calls(t: &status::DbResource, opts: &AwsOptions) -> [Option<Call>; 6] {
    let vpc_filter = t.vpc.as_ref().map(|v| format!("Name=vpc-id,Values={v}"));
    let mut sg_args = vec!["--group-ids"];
    sg_args.extend(t.security_groups.iter().map(String::as_str));
    [
        (!t.security_groups.is_empty())
            .then(|| Call::new("ec2", "describe-security-groups", &sg_args)),
        vpc_filter
            .as_ref()
            .map(|f| Call::new("ec2", "describe-network-acls", &["--filters", f])),
        vpc_filter
            .as_ref()
            .map(|f| Call::new("ec2", "describe-route-tables", &["--filters", f])),
        t.param_group.as_ref().map(|(g, _)| parameters::call(g)),
        t.instance.as_deref().map(events::call),
        t.instance
            .as_deref()
            .filter(|_| opts.logs)
            .map(logs::list_call),
    ]
}

/// Three independent pieces of work, concurrently unless `sequential`.
fn join3<A: Send, B: Send, C: Send>(
    sequential: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
    c: impl FnOnce() -> C + Send,
) -> (A, B, C) {
    if sequential {
        return (a(), b(), c());
    }
    std::thread::scope(|s| {
        let hb = s.spawn(b);
        let hc = s.spawn(c);
        let ra = a();
        let rb = hb.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        let rc = hc.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (ra, rb, rc)
    })
}

/// A check that could not be done: `unknown`, naming the IAM action when
/// access was denied.
pub fn denied_or_error(name: &'static str, e: &AwsError) -> Check {
    match e {
        AwsError::Denied { action } => Check::unknown(name, Code::AwsAccessDenied, format!("access denied: this identity may not call {action}"))
            .hint(format!("allow {action} for your IAM user or role (a read-only action), or ask an administrator; the other checks went on")),
        _ => Check::unknown(name, Code::AwsError, format!("the aws CLI failed: {}", e.describe())),
    }
}

/// `[{key: "x"}, ...]` → `["x", ...]`.
pub fn strs(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x[key].as_str().map(String::from))
        .collect()
}
