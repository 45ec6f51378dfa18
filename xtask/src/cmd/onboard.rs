//! `cargo xtask onboard`: flags and rendering (one status line per step,
//! or one JSON object) for the steps in `onboarding`.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::exit::{bad_input, Exit};
use crate::flags::{Args, Flag, Help};
use crate::input::PasswordSource;
use crate::onboarding::{self, Notes, Opts, Status, Step};
use crate::output::{self, Columns, Json, Style};
use crate::prisma::engine::Native;
use crate::prisma::{Engine, Install};
use crate::rds::AwsOptions;
use crate::util::Ctx;

pub const HELP: Help = Help {
    intro: "\
cargo xtask onboard: take a new teammate (or an onboarding script) from clone to migrated database

Usage: cargo xtask onboard [options]

Steps, each reported on one line with its time:
  tools        Node >= 20.19, the package manager the lockfile names, the pinned Prisma CLI
               (runs the clean install when node_modules is missing or stale)
  environment  find DATABASE_URL; if there is none: create .env.local from .env.example
               (asking for the password), or with --local (or no .env.example) start the
               local dev-db and write its URL. An existing .env.local is never replaced.
  env-fix      repair the URL (encoding, sslmode, timeouts)
  db-test      the full connection check; stops here with the diagnosis on failure
  migrations   prisma migrate deploy through `cargo xtask migrate --deploy`; when Prisma
               cannot download its native schema engine (and no --engine was given),
               again on the WebAssembly engine in node_modules/prisma

",
    flags: FLAGS,
    outro: "\
Exit codes: 0 ready; 1 a step failed (its hint says what to do); 2 bad usage or input.

Example:
  cargo xtask onboard --local
  printf '%s' \"$DB_PASSWORD\" | cargo xtask onboard --password-stdin --yes --json
  cargo xtask onboard --password-from aws-secret:dev/summitly/db --yes
",
};

/// The options, as the parser accepts them and the help shows them.
#[rustfmt::skip]
const FLAGS: &[Flag] = &[
    Flag { name: "--local", value: None, help: "use the local dev-db (started if needed) for DATABASE_URL" },
    Flag { name: "--data-dir", value: Some("DIR"), help: "the dev-db's directory (default: target/dev-db)" },
    Flag { name: "--password-stdin", value: None, help: "the database password for .env.example's URL, from standard input" },
    Flag { name: "--password-from", value: Some("SOURCE"), help: "the database password from aws-secret:ID[#key] or aws-rds-managed (through your aws CLI)" },
    Flag { name: "--iam", value: None, help: "refused: onboarding writes .env.local and an IAM token expires in 15 minutes" },
    Flag { name: "--yes", value: None, help: "never prompt (also when stdin is not a terminal, or CI=true)" },
    Flag { name: "--check", value: None, help: "report env-fix repairs without writing; fail if any are needed" },
    Flag { name: "--no-migrate", value: None, help: "stop after db-test" },
    Flag { name: "--engine", value: Some("native|wasm"), help: "Prisma's schema engine for the migrations (default: native, then wasm if it cannot be downloaded)" },
    Flag { name: "--aws", value: None, help: "after db-test, run rds-check's AWS checks for an RDS host (also when db-test failed)" },
    Flag { name: "--aws-profile", value: Some("NAME"), help: "with --aws or --password-from: the aws CLI profile" },
    Flag { name: "--my-ip", value: Some("ADDR"), help: "with --aws: your public IP, for the security group and NACL checks" },
    Flag { name: "--json", value: None, help: "{\"ok\", \"steps\": [{\"name\", \"status\", \"ms\", \"detail\", \"hint\"}], \"engine\": {\"source\", \"path\", \"detail\", \"used\"}}" },
];

pub fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<Exit> {
    let yes = args.flag("--yes");
    let source = PasswordSource::from_flags(
        "onboard",
        args.value("--password-from")?,
        args.flag("--iam"),
    )?;
    let aws_profile = args.value("--aws-profile")?;
    let mut o = Opts {
        local: args.flag("--local"),
        data_dir: args.value("--data-dir")?.map(PathBuf::from),
        password_stdin: args.flag("--password-stdin"),
        check: args.flag("--check"),
        migrate: !args.flag("--no-migrate"),
        json: args.flag("--json"),
        interactive: false,
        aws: AwsOptions::from_flags(&mut args, aws_profile.clone())?,
        password_from: source,
        aws_profile,
        engine: args.parsed("--engine", "native or wasm")?,
    };
    args.finish()?;
    if o.password_from == Some(PasswordSource::Iam) {
        return Err(bad_input("onboard --iam: onboarding writes .env.local, and an IAM token expires 15 minutes after it is made. Nothing was written. Put DATABASE_URL without a password in .env.local, then run `cargo xtask db-test --iam` and `cargo xtask migrate --deploy --iam`"));
    }
    if o.local && o.password_from.is_some() {
        return Err(crate::exit::Usage("--local uses the local dev-db and its own password; --password-from is for the database .env.example names: give one\nhint: run `cargo xtask onboard --help`".into()).into());
    }
    if o.password_stdin && o.password_from.is_some() {
        return Err(crate::exit::Usage("--password-stdin and --password-from are two sources of the password: give one\nhint: run `cargo xtask onboard --help`".into()).into());
    }
    let ci = std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false);
    o.interactive = !yes && !ci && std::io::stdin().is_terminal();
    let style = Style::stderr();
    let (steps, notes) = onboarding::run(ctx, &o, &|s| {
        if !o.json {
            report(s, style);
        }
    });
    Ok(finish(ctx, &o, &steps, &notes, style))
}

/// The JSON object, or the engine line and the verdict; the exit status.
fn finish(ctx: &Ctx, o: &Opts, steps: &[Step], notes: &Notes, style: Style) -> Exit {
    let failed = steps.iter().find(|s| s.status == Status::Fail);
    let install = Install::find(&ctx.project_dir);
    let native = Native::find(&install);
    let used = notes.engine_used;
    if o.json {
        let mut engine = native.to_json(&install);
        if let Json::Obj(pairs) = &mut engine {
            let used = used.map(|e| Json::Lit(e.as_str())).unwrap_or(Json::Null);
            pairs.push(("used".into(), used));
        }
        output::json(&Json::obj([
            ("ok", Json::Bool(failed.is_none())),
            (
                "steps",
                Json::Arr(steps.iter().map(|s| s.line().to_json()).collect()),
            ),
            ("engine", engine),
        ]));
        return exit(notes, failed.is_none());
    }
    output::out(match used {
        Some(Engine::Wasm) => format!(
            "  schema engine: the migrations ran on Prisma's WebAssembly engine; {}",
            native.describe(&install)
        ),
        _ => format!("  schema engine: {}", native.describe(&install)),
    });
    if let Some(s) = failed {
        output::out(format!(
            "\n{} at step {}: {}",
            style.red("Not ready"),
            s.name.as_str(),
            s.hint.clone().unwrap_or_default()
        ));
    } else {
        output::out(format!(
            "\n{} Next: `cargo xtask migrate <name>` after you change prisma/schema.prisma; `cargo xtask db-test` when a connection fails.",
            style.green("Ready.")
        ));
    }
    exit(notes, failed.is_none())
}

/// Exit 2 when a step failed on bad input, else 0 or 1.
fn exit(notes: &Notes, ok: bool) -> Exit {
    if notes.bad_input {
        Exit::BadInput
    } else {
        Exit::ok_if(ok)
    }
}

/// One line per step: `  ok   tools         12571 ms  node v20.20.2, ...`.
const COLUMNS: Columns = Columns {
    gap: 1,
    name: 12,
    ms: 6,
};

fn report(s: &Step, style: Style) {
    s.line().print(COLUMNS, style);
}
