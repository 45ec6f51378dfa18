//! `cargo xtask report`: flags and output for the evidence file in
//! `report`.

use std::path::PathBuf;

use crate::exit::Exit;
use crate::flags::{Args, Flag, Help};
use crate::output;
use crate::report;
use crate::util::Ctx;

pub const HELP: Help = Help {
    intro: "\
cargo xtask report: one file of evidence to attach to a support case or an issue

Usage: cargo xtask report [options]

Writes xtask-report-<UTC time>.md in the project directory (0600, never over
an existing file): versions (this tool, OS, Node, npm, the pinned Prisma CLI
and its engines, the schema engine Prisma would use, the PostgreSQL client),
where the URLs come from (every env file and line, the environment, the one
prisma.config.ts gives Prisma's CLI), db-test's full verdict for that URL,
and what the report could not find out, and why. Passwords are masked in
every spelling; host names are kept, since support needs them. Nothing is
gathered by a write to any server. The report is written when db-test fails:
that is what it is for.

",
    flags: FLAGS,
    outro: "\
Exit codes: 0 the report was written, 2 bad usage or a file that exists.

Example:
  cargo xtask report
  cargo xtask report --out /tmp/db-report.md --json
  cargo xtask report --redact-hosts              # for a public GitHub issue
",
};

#[rustfmt::skip]
const FLAGS: &[Flag] = &[
    Flag { name: "--out", value: Some("PATH"), help: "write the report here (default: xtask-report-<UTC time>.md in the project directory)" },
    Flag { name: "--redact-hosts", value: None, help: "replace host names, IP addresses and AWS account ids with stable placeholders (host-1, ip-1, account-1): for a public issue" },
    Flag { name: "--json", value: None, help: "also print the same content as one object: {\"file\", \"sections\": [{\"title\", \"lines\"}], \"unknown\"}" },
];

pub fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<Exit> {
    let out = args.value("--out")?.map(PathBuf::from);
    let json = args.flag("--json");
    let redact_hosts = args.flag("--redact-hosts");
    args.finish()?;
    let (default, generated) = report::default_path(&ctx.project_dir);
    let path = out.map(|p| ctx.resolve(&p)).unwrap_or(default);
    let mut r = report::gather(ctx);
    if redact_hosts {
        r.redact_hosts();
    }
    report::write_new(&path, &r.markdown(&generated))?;
    let shown = path.display().to_string();
    if json {
        output::json(&r.to_json(&shown));
    } else {
        output::out(format!(
            "report written to {shown} (readable by you only): {} section(s), {} thing(s) it could not find out",
            r.sections.len(),
            r.unknown.len()
        ));
    }
    Ok(Exit::Success)
}
