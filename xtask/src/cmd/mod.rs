//! The subcommands, one module each: they parse their flags, call the core,
//! and render what it found (status lines, a verdict, one JSON object). No
//! command module imports another; shared behaviour lives below them.

pub mod db_test;
pub mod dev_db;
pub mod env_fix;
pub mod migrate;
pub mod onboard;
pub mod rds_check;
pub mod report;

use crate::exit::Exit;
use crate::flags::{Args, Help};
use crate::util::Ctx;

/// One subcommand: its name, the line `cargo xtask` lists, its help, its entry.
pub struct Command {
    pub name: &'static str,
    pub summary: &'static str,
    pub help: Help,
    pub run: fn(&Ctx, Args) -> anyhow::Result<Exit>,
}

/// The subcommands, in the order `cargo xtask` lists them.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "onboard", summary: "from a fresh clone to a migrated database: tools, env, env-fix, db-test, migrations", help: onboard::HELP, run: onboard::run },
    Command { name: "env-fix", summary: "repair DATABASE_URL in .env.local in place: encoding, sslmode, timeouts", help: env_fix::HELP, run: env_fix::run },
    Command { name: "db-test", summary: "diagnose the database connection layer by layer (DNS, TCP, TLS, auth, ...)", help: db_test::HELP, run: db_test::run },
    Command { name: "migrate", summary: "run prisma migrate (dev, deploy, status) with a preflight, retries and a diagnosis", help: migrate::HELP, run: migrate::run },
    Command { name: "rds-check", summary: "check the AWS side of an RDS URL: status, security group, NACLs, routes, parameters, events, logs", help: rds_check::HELP, run: rds_check::run },
    Command { name: "report", summary: "write one redacted file of evidence (versions, URL sources, db-test) for a support case", help: report::HELP, run: report::run },
    Command { name: "dev-db", summary: "start, stop or show a local PostgreSQL that behaves like RDS (TLS required)", help: dev_db::HELP, run: dev_db::run },
];
