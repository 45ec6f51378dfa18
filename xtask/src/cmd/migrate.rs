//! `cargo xtask migrate`: flags, the summary's JSON, and the exit status
//! for the migrate flow in `migrate`.

use std::time::Duration;

use crate::exit::{Exit, Usage};
use crate::flags::{Args, Flag, Help};
use crate::input::PasswordSource;
use crate::migrate::{self, Mode, Plan, Summary};
use crate::output::{self, Json};
use crate::prisma::{self, Engine};
use crate::util::Ctx;

pub const HELP: Help = Help {
    intro: "\
cargo xtask migrate: run Prisma Migrate with a preflight, retries and a diagnosis

Usage: cargo xtask migrate <name> [options] [-- prisma options]
       cargo xtask migrate --deploy | --status [options]

With a <name> (or --name NAME, the form Prisma and the troubleshooting page use) it runs
`prisma migrate dev --name <name>`: create and apply a migration.

The URL comes from the environment, .env.development.local, .env.local, .env.development
or .env (the first that defines DATABASE_URL). Prisma gets it, and SHADOW_DATABASE_URL
when defined, through its environment only, with sslmode, connect_timeout and
pool_timeout added as `env-fix` would (the file is not touched).

",
    flags: FLAGS,
    outro: "\
Prisma's migration lock is waited for here, without starting Prisma: a holder running a
migration is waited for up to --lock-wait; one that has run nothing for 10 s is named, not
waited for. While Prisma is quiet, what its sessions wait on is shown. Ctrl-C or SIGTERM
cancels the migration's statement on the server and says what was left; a second one exits
at once.

Exit codes: 0 success; Prisma's own status when it failed (1 if it gave none);
1 when the preflight failed or the lock stayed held; 2 bad usage or input; 130 interrupted
(Ctrl-C, SIGTERM).

Example:
  cargo xtask migrate add_saved_comparables
  cargo xtask migrate --deploy --json
  cargo xtask migrate --deploy --iam            # a fresh IAM token, in Prisma's environment only
  cargo xtask migrate --deploy --engine wasm    # where Prisma cannot download its engine
  cargo xtask migrate --deploy --lock-wait 1800 # many runners: wait up to 30 min for the lock
",
};

/// The options, as the parser accepts them and the help shows them.
#[rustfmt::skip]
const FLAGS: &[Flag] = &[
    Flag { name: "--name", value: Some("NAME"), help: "the migration's name, as the positional <name>" },
    Flag { name: "--create-only", value: None, help: "with <name>: create the migration without applying it" },
    Flag { name: "--deploy", value: None, help: "prisma migrate deploy (apply committed migrations; for CI and scripts)" },
    Flag { name: "--status", value: None, help: "prisma migrate status" },
    Flag { name: "--no-preflight", value: None, help: "start Prisma without checking the connection first" },
    Flag { name: "--no-tune", value: None, help: "pass the URL exactly as written" },
    Flag { name: "--engine", value: Some("native|wasm"), help: "Prisma's schema engine: native (its binary, downloaded on first use; default) or wasm (the WebAssembly build in node_modules/prisma: no download)" },
    Flag { name: "--retries", value: Some("N"), help: "retries for P1017, P1001 and P1002 (default 2); not for an idle cut, which a retry meets again" },
    Flag { name: "--retry-delay", value: Some("SECS"), help: "first wait between attempts, doubled each time (default 2)" },
    Flag { name: "--lock-wait", value: Some("SECS"), help: "how long to wait for Prisma's migration lock while another migration holds it, without starting Prisma or holding a connection (default 600)" },
    Flag { name: "--env-file", value: Some("PATH"), help: "read these env files instead of the usual ones (repeatable)" },
    Flag { name: "--password-from", value: Some("SOURCE"), help: "DATABASE_URL's password from aws-secret:ID[#key] or aws-rds-managed (never written to a file)" },
    Flag { name: "--iam", value: None, help: "an IAM auth token (aws rds generate-db-auth-token) as the password; sslmode=require at least" },
    Flag { name: "--aws-profile", value: Some("NAME"), help: "with --password-from or --iam: the aws CLI profile" },
    Flag { name: "--json", value: None, help: "print one summary object on stdout (Prisma's own output goes to stderr)" },
    Flag { name: "--", value: None, help: "everything after it goes to Prisma unchanged" },
];

pub fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<Exit> {
    let json = args.flag("--json");
    let deploy = args.flag("--deploy");
    let status = args.flag("--status");
    let create_only = args.flag("--create-only");
    let plan_args = Plan {
        mode: Mode::Dev,
        name: None,
        preflight: !args.flag("--no-preflight"),
        tune: !args.flag("--no-tune"),
        retries: args.parsed("--retries", "a number")?.unwrap_or(2),
        retry_delay: Duration::from_secs_f64(
            args.parsed("--retry-delay", "seconds")?.unwrap_or(2.0),
        ),
        lock_wait: args
            .parsed("--lock-wait", "seconds")?
            .map(Duration::from_secs_f64)
            .unwrap_or(migrate::DEFAULT_LOCK_WAIT),
        env_files: args
            .values("--env-file")?
            .into_iter()
            .map(|f| ctx.resolve(std::path::Path::new(&f)))
            .collect(),
        passthrough: std::mem::take(&mut args.passthrough),
        // stdout carries the one JSON object; Prisma's own output goes to stderr.
        prisma_stdout_to_stderr: json,
        password: PasswordSource::from_flags(
            "migrate",
            args.value("--password-from")?,
            args.flag("--iam"),
        )?,
        aws_profile: args.value("--aws-profile")?,
        engine: args
            .parsed("--engine", "native or wasm")?
            .unwrap_or(Engine::Native),
        wasm_rerun: Some(prisma::engine::command_with(
            &std::env::args().skip(1).collect::<Vec<_>>(),
            Engine::Wasm,
        )),
    };
    let name = match (args.value("--name")?, args.positional()) {
        (Some(a), Some(b)) if a != b => {
            return Err(Usage(format!("two migration names, `{a}` and `{b}`: give one\nhint: run `cargo xtask migrate --help`")).into())
        }
        (a, b) => a.or(b),
    };
    args.finish()?;
    let mode = match (deploy, status, create_only) {
        (true, false, false) => Mode::Deploy,
        (false, true, false) => Mode::Status,
        (false, false, true) => Mode::CreateOnly,
        (false, false, false) => Mode::Dev,
        _ => return Err(Usage("choose one of --deploy, --status, --create-only\nhint: run `cargo xtask migrate --help`".into()).into()),
    };
    let name = match (mode, name) {
        (Mode::Dev | Mode::CreateOnly, Some(n)) => Some(prisma::validate_name(&n)?),
        (Mode::Dev | Mode::CreateOnly, None) => {
            return Err(Usage("migrate needs a migration name, e.g. `cargo xtask migrate add_saved_comparables` (or --deploy to apply committed migrations)\nhint: run `cargo xtask migrate --help`".into()).into())
        }
        (_, Some(n)) => return Err(Usage(format!("--{} takes no migration name (got `{n}`)\nhint: run `cargo xtask migrate --help`", mode.as_str())).into()),
        (_, None) => None,
    };
    let plan = Plan {
        mode,
        name,
        ..plan_args
    };
    let summary = migrate::migrate(ctx, &plan)?;
    if json {
        output::json(&summary_json(&summary));
    }
    Ok(summary.exit)
}

/// One wait the watch saw: what, how long, who was in the way, which
/// timeout would end it.
fn wait_json(w: &migrate::Wait) -> Json {
    Json::obj([
        ("kind", Json::Lit(w.kind.as_str())),
        ("pid", Json::num(w.pid as f64)),
        ("seconds", Json::num(w.seconds as f64)),
        ("said", Json::str(migrate::watch_sentence(w))),
        (
            "holder",
            match &w.holder {
                Some(h) => Json::obj([
                    ("pid", Json::num(h.pid as f64)),
                    ("described", Json::str(&h.described)),
                    ("stale", Json::Bool(h.stale)),
                ]),
                None => Json::Null,
            },
        ),
        (
            "timeout",
            w.limit
                .as_ref()
                .map(|l| Json::str(l.describe()))
                .unwrap_or(Json::Null),
        ),
    ])
}

/// `--json`: one object with the attempts, what was applied and the verdict.
fn summary_json(s: &Summary) -> Json {
    let attempts = s.attempts.iter().map(|a| {
        Json::obj([
            (
                "exit_code",
                a.exit_code.map(Json::num).unwrap_or(Json::Null),
            ),
            (
                "error_code",
                a.failure
                    .as_ref()
                    .map(|f| Json::str(f.code()))
                    .unwrap_or(Json::Null),
            ),
            ("ms", Json::num(a.ms as f64)),
        ])
    });
    Json::obj([
        ("ok", Json::Bool(s.ok)),
        ("mode", Json::Lit(s.mode.as_str())),
        ("engine", Json::Lit(s.engine.as_str())),
        ("attempts", Json::Arr(attempts.collect())),
        (
            "applied",
            Json::Arr(s.applied.iter().map(Json::str).collect()),
        ),
        ("waits", Json::Arr(s.waits.iter().map(wait_json).collect())),
        ("lock_wait_ms", Json::num(s.lock_waited.as_millis() as f64)),
        ("ms", Json::num(s.elapsed.as_millis() as f64)),
        (
            "diagnosis",
            match &s.diagnosis {
                Some((verdict, hint)) => Json::obj([
                    ("code", Json::str(verdict.code())),
                    ("hint", Json::str(hint)),
                ]),
                None => Json::Null,
            },
        ),
    ])
}
