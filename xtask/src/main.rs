//! `cargo xtask`: repairs, checks and runs Prisma Migrate against PostgreSQL
//! so that `P1017 Server has closed the connection` gets a cause and a fix.
//! This file only dispatches; each subcommand lives in its own module.

mod aws;
mod db_test;
mod dev_db;
mod dotenv;
mod env_fix;
mod envload;
mod flags;
mod migrate;
mod onboard;
mod output;
mod pg;
mod pgurl;
mod prisma;
mod rds_check;
mod util;

use std::path::PathBuf;

use flags::{Args, BadInput, Usage};

/// The subcommands, one line each, as `cargo xtask` lists them.
#[rustfmt::skip]
const COMMANDS: &[(&str, &str)] = &[
    ("onboard", "from a fresh clone to a migrated database: tools, env, env-fix, db-test, migrations"),
    ("env-fix", "repair DATABASE_URL in .env.local in place: encoding, sslmode, timeouts"),
    ("db-test", "diagnose the database connection layer by layer (DNS, TCP, TLS, auth, ...)"),
    ("migrate", "run prisma migrate (dev, deploy, status) with a preflight, retries and a diagnosis"),
    ("dev-db", "start, stop or show a local PostgreSQL that behaves like RDS (TLS required)"),
    ("rds-check", "check the AWS side of an RDS URL: status, security group, NACLs, routes, parameters, events, logs"),
];

fn overview() -> String {
    let mut s = String::from(
        "cargo xtask: fix and check the database connection of a Prisma + PostgreSQL app\n\nUsage: cargo xtask [--project-dir DIR] <command> [options]\n\nCommands:\n",
    );
    for (name, what) in COMMANDS {
        s.push_str(&format!("  {name:<10} {what}\n"));
    }
    s.push_str(
        "\nGlobal option:\n  --project-dir DIR   where the app lives (env files, prisma/, package.json); default: the workspace root\n\n\
         Exit codes: 0 success, 1 the command ran and something failed, 2 bad usage or input.\n\
         Run `cargo xtask <command> --help` for a command's options and an example.\n",
    );
    s
}

fn main() {
    let code = match run(std::env::args().skip(1).collect()) {
        Ok(code) => code,
        Err(e) => report(&e),
    };
    std::process::exit(code);
}

fn report(e: &anyhow::Error) -> i32 {
    let code = if e.downcast_ref::<Usage>().is_some() || e.downcast_ref::<BadInput>().is_some() {
        2
    } else {
        1
    };
    output::err(format!("error: {e:#}"));
    code
}

fn run(mut argv: Vec<String>) -> anyhow::Result<i32> {
    let project_dir = take_project_dir(&mut argv)?;
    let Some(command) = argv.first().cloned() else {
        output::out(overview());
        return Ok(0);
    };
    let rest: Vec<String> = argv[1..].to_vec();
    if matches!(command.as_str(), "--help" | "-h" | "help") {
        output::out(overview());
        return Ok(0);
    }
    let Some(&(name, _)) = COMMANDS.iter().find(|(n, _)| *n == command) else {
        return Err(Usage(format!(
            "unknown command `{command}`\nhint: run `cargo xtask` to list the commands"
        ))
        .into());
    };
    let wants_help = rest
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--help" || a == "-h");
    let help = match name {
        "db-test" => db_test::HELP,
        "migrate" => migrate::HELP,
        "onboard" => onboard::HELP,
        "dev-db" => dev_db::HELP,
        "env-fix" => env_fix::HELP,
        "rds-check" => rds_check::HELP,
        _ => unreachable!("every command in COMMANDS is dispatched"),
    };
    if wants_help {
        output::out(help);
        return Ok(0);
    }
    let ctx = util::Ctx::new(project_dir)?;
    let args = Args::new(name, rest);
    match name {
        "db-test" => db_test::run(&ctx, args),
        "migrate" => migrate::run(&ctx, args),
        "onboard" => onboard::run(&ctx, args),
        "dev-db" => dev_db::run(&ctx, args),
        "env-fix" => env_fix::run(&ctx, args),
        "rds-check" => rds_check::run(&ctx, args),
        _ => unreachable!("every command in COMMANDS is dispatched"),
    }
}

/// `--project-dir DIR` may stand anywhere before `--`.
fn take_project_dir(argv: &mut Vec<String>) -> anyhow::Result<Option<PathBuf>> {
    let end = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
    let mut found = None;
    let mut i = 0;
    let mut end = end;
    while i < end {
        if argv[i] == "--project-dir" {
            if i + 1 >= end {
                return Err(Usage("--project-dir needs a directory".into()).into());
            }
            found = Some(PathBuf::from(argv.remove(i + 1)));
            argv.remove(i);
            end -= 2;
        } else if let Some(v) = argv[i].strip_prefix("--project-dir=") {
            found = Some(PathBuf::from(v));
            argv.remove(i);
            end -= 1;
        } else {
            i += 1;
        }
    }
    Ok(found)
}
