//! `cargo xtask rds-check`: the AWS side of the troubleshooting page for a
//! URL whose host is RDS or Aurora. Finds the URL like db-test, runs
//! `rds::run_checks` and prints the checklist or one JSON object.

use std::path::PathBuf;

use crate::envload;
use crate::exit::{bad_input, Exit};
use crate::flags::{Args, Flag, Help};
use crate::output::{self, Style};
use crate::pgurl::PgUrl;
use crate::rds::{self, AwsOptions};
use crate::util::Ctx;

pub const HELP: Help = Help {
    intro: "\
cargo xtask rds-check: check the RDS side of DATABASE_URL through your aws CLI

Usage: cargo xtask rds-check [options]

For a host *.rds.amazonaws.com (or .com.cn), read-only calls of your own `aws`
CLI (v1 or v2; your profiles and SSO sessions) check, in order:
  credentials     who the CLI is (sts get-caller-identity)
  endpoint        the instance, cluster or proxy behind the host; its real host and port
  status          available, or stopped, rebooting, storage-full, ... with what to do
  public_access   PubliclyAccessible versus where you connect from
  security_group  an inbound rule for TCP on the port that covers your public IP
  network_acl     the subnets' NACLs: inbound on the port, outbound to ephemeral ports
  route_table     every subnet of the DB subnet group routes to an internet gateway
  parameters      statement/idle timeouts, rds.force_ssl, max_connections, pending reboot
  events          reboots, failovers, maintenance, storage-full in the last 24 hours
  logs            with --logs: the newest log files' tails, lines about lost connections
Nothing in the account is changed. Another host: skipped, exit 0.

",
    flags: FLAGS,
    outro: "\
Exit codes: 0 nothing failed (warnings, skips and unknowns allowed), 1 a check
failed, 2 bad usage or input (no URL, an invalid URL or IP address).

Example:
  cargo xtask rds-check --lookup-my-ip
  cargo xtask rds-check --aws-profile prod --my-ip 203.0.113.7 --logs --json
",
};

/// The options, as the parser accepts them and the help shows them.
#[rustfmt::skip]
const FLAGS: &[Flag] = &[
    Flag { name: "--var", value: Some("NAME"), help: "the variable holding the URL (default: DATABASE_URL)" },
    Flag { name: "--env-file", value: Some("PATH"), help: "read these files instead of the usual ones (repeatable)" },
    Flag { name: "--aws-profile", value: Some("NAME"), help: "the aws CLI profile (default: the CLI's own choice)" },
    Flag { name: "--profile", value: Some("NAME"), help: "the same as --aws-profile (its name in earlier versions)" },
    Flag { name: "--region", value: Some("REGION"), help: "default: the region in the endpoint host" },
    Flag { name: "--my-ip", value: Some("ADDR"), help: "your public IP, for the security group and NACL checks" },
    Flag { name: "--lookup-my-ip", value: None, help: "ask a what-is-my-IP service over plain HTTP for it (opt-in)" },
    Flag { name: "--my-ip-url", value: Some("URL"), help: "the service for --lookup-my-ip (default: http://checkip.amazonaws.com/)" },
    Flag { name: "--logs", value: None, help: "also download and read the newest log files' tails" },
    Flag { name: "--sequential", value: None, help: "one aws call at a time (default: independent calls at once)" },
    Flag { name: "--json", value: None, help: "{\"ok\", \"host\", \"region\", \"instance\", \"checks\": [{\"name\", \"status\", \"code\", \"ms\", \"detail\", \"hint\"}], \"diagnosis\": {\"code\", \"hint\"}}" },
];

pub fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<Exit> {
    let var = args
        .value("--var")?
        .unwrap_or_else(|| "DATABASE_URL".into());
    let env_files: Vec<PathBuf> = args
        .values("--env-file")?
        .into_iter()
        .map(|f| ctx.resolve(std::path::Path::new(&f)))
        .collect();
    let my_ip_url = args.value("--my-ip-url")?;
    let lookup = args.flag("--lookup-my-ip") || my_ip_url.is_some();
    let opts = AwsOptions {
        profile: match args.value("--aws-profile")? {
            Some(p) => Some(p),
            None => args.value("--profile")?,
        },
        region: args.value("--region")?,
        my_ip: args.parsed("--my-ip", "an IP address")?,
        lookup_my_ip: lookup.then(|| my_ip_url.unwrap_or_else(|| rds::myip::DEFAULT_URL.into())),
        logs: args.flag("--logs"),
        sequential: args.flag("--sequential"),
    };
    let json = args.flag("--json");
    args.finish()?;
    let files = envload::read_files(&ctx.project_dir, &env_files)?;
    let Some(found) = envload::find(&var, &files) else {
        return Err(bad_input(format!(
            "{var}: not found in {}\nhint: set it in .env.local (or the environment), or name another variable with --var",
            envload::looked_at(&files, &env_files)
        )));
    };
    let url = PgUrl::parse(&found.value)
        .map_err(|e| bad_input(format!("{var} from {}: {e}", found.source)))?;
    if !json {
        output::out(format!("{var} from {}: {}", found.source, url.masked()));
    }
    let report = rds::run_checks(&url, &opts);
    if json {
        output::json(&report.to_json());
    } else {
        report.print(Style::stdout());
    }
    Ok(Exit::ok_if(report.ok()))
}
