//! `cargo xtask`: repairs, checks and runs Prisma Migrate against PostgreSQL
//! so that `P1017 Server has closed the connection` gets a cause and a fix.
//! This file only dispatches; each subcommand lives in its own module.

use std::path::PathBuf;

use xtask::cmd::COMMANDS;
use xtask::exit::{Exit, Usage};
use xtask::flags::Args;
use xtask::{output, secret, util};

fn overview() -> String {
    let mut s = String::from(
        "cargo xtask: fix and check the database connection of a Prisma + PostgreSQL app\n\nUsage: cargo xtask [--project-dir DIR] <command> [options]\n\nCommands:\n",
    );
    for c in COMMANDS {
        s.push_str(&format!("  {:<10} {}\n", c.name, c.summary));
    }
    s.push_str(
        "\nGlobal options:\n  --project-dir DIR   where the app lives (env files, prisma/, package.json); default: the workspace root\n  --version           print the version\n\n\
         Exit codes: 0 success, 1 the command ran and something failed, 2 bad usage or input.\n\
         Run `cargo xtask <command> --help` for a command's options and an example.\n",
    );
    s
}

fn main() {
    let code = match run(std::env::args().skip(1).collect()) {
        Ok(exit) => exit,
        Err(e) => report(&e),
    };
    std::process::exit(code.code());
}

fn report(e: &anyhow::Error) -> Exit {
    // Error chains carry libraries' and Prisma's own words: foreign text.
    output::err(secret::redact(&format!("error: {e:#}")));
    Exit::of_error(e)
}

fn run(mut argv: Vec<String>) -> anyhow::Result<Exit> {
    let project_dir = take_project_dir(&mut argv)?;
    let Some(command) = argv.first().cloned() else {
        output::out(overview());
        return Ok(Exit::Success);
    };
    let rest: Vec<String> = argv[1..].to_vec();
    if matches!(command.as_str(), "--version" | "-V" | "version") {
        output::out(format!("cargo xtask {}", env!("CARGO_PKG_VERSION")));
        return Ok(Exit::Success);
    }
    if matches!(command.as_str(), "--help" | "-h" | "help") {
        output::out(overview());
        return Ok(Exit::Success);
    }
    let Some(command) = COMMANDS.iter().find(|c| c.name == command) else {
        return Err(Usage(format!(
            "unknown command `{command}`\nhint: run `cargo xtask` to list the commands"
        ))
        .into());
    };
    let wants_help = rest
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--help" || a == "-h");
    if wants_help {
        output::out(command.help.render());
        return Ok(Exit::Success);
    }
    let ctx = util::Ctx::new(project_dir)?;
    (command.run)(&ctx, Args::new(command.name, command.help.flags, rest))
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
