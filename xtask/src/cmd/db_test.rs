//! `cargo xtask db-test`: flags and rendering for the layer-by-layer
//! diagnosis in `diagnose`: one status line per check, a verdict, or one
//! JSON object.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::diagnose::{self, Check, Layer, Report, Settings, Shadow, Status};
use crate::envload::{self, EnvFile, Found};
use crate::exit::{bad_input, Exit};
use crate::flags::{Args, Flag, Help};
use crate::input::PasswordSource;
use crate::output::{self, Columns, Json, Style};
use crate::passwords;
use crate::pgurl::PgUrl;
use crate::prisma::config::CliUrl;
use crate::prisma::engine::Native;
use crate::prisma::Install;
use crate::rds::{self, AwsOptions};
use crate::repair::DEFAULT_VARS;
use crate::util::Ctx;

pub const HELP: Help = Help {
    intro: "\
cargo xtask db-test: diagnose the database connection layer by layer

Usage: cargo xtask db-test [options]

Checks DATABASE_URL (and DIRECT_URL, SHADOW_DATABASE_URL when defined, and the
variables prisma.config.ts gives Prisma's CLI), in order:
  url         parses; placeholder or unencoded password; parameters the driver must not see
  dns         the addresses the host resolves to
  tcp         connect to each address (refused and timed out are different findings)
  tls         the server's answer to the TLS request, the handshake, certificate checks
  auth        startup and authentication (wrong password, missing database, no slots, ...)
  query       SELECT version()
  pooler      PostgreSQL itself, or a pooler or proxy that owns the session (and whether
              it pools transactions, which migrations cannot go through)
  server      connections against max_connections, the timeouts Prisma's sessions get
              and where each comes from, encryption, rds.force_ssl
  migrations  privileges (schema, database, CREATEDB), role and database connection
              limits, _prisma_migrations, who holds advisory lock 72707369
  idle        with --idle-probe SECS: stay idle, then query again (the P1017 pattern)

The URL comes from the environment first, then .env.development.local, .env.local,
.env.development, .env (the first that defines it wins), as Next.js reads them.

",
    flags: FLAGS,
    outro: "\
Exit codes: 0 every target passes (warnings allowed), 1 a check failed,
2 bad usage or input (no URL, an invalid URL, a placeholder password).

Example:
  cargo xtask db-test
  cargo xtask db-test --var DIRECT_URL --idle-probe 400 --json
  cargo xtask db-test --iam                     # a fresh IAM token, never written anywhere
",
};

/// The options, as the parser accepts them and the help shows them.
#[rustfmt::skip]
const FLAGS: &[Flag] = &[
    Flag { name: "--var", value: Some("NAME"), help: "a variable to test (repeatable)" },
    Flag { name: "--env-file", value: Some("PATH"), help: "read these files instead of the usual ones (repeatable)" },
    Flag { name: "--timeout", value: Some("SECS"), help: "bound for each network step (default: the URL's connect_timeout, else 10)" },
    Flag { name: "--idle-probe", value: Some("SECS"), help: "keep the connection idle this long, then query again" },
    Flag { name: "--quick", value: None, help: "stop after the server check (no migration checks)" },
    Flag { name: "--aws", value: None, help: "for an RDS host, also run rds-check's AWS checks (security group, status, parameters, ...)" },
    Flag { name: "--password-from", value: Some("SOURCE"), help: "test with the password from aws-secret:ID[#key] or aws-rds-managed (through your aws CLI)" },
    Flag { name: "--iam", value: None, help: "test with an IAM auth token (aws rds generate-db-auth-token) as the password; sslmode=require at least" },
    Flag { name: "--aws-profile", value: Some("NAME"), help: "with --aws, --password-from or --iam: the aws CLI profile" },
    Flag { name: "--my-ip", value: Some("ADDR"), help: "with --aws: your public IP, for the security group and NACL checks" },
    Flag { name: "--json", value: None, help: "{\"ok\", \"targets\": [{\"var\", \"source\", ..., \"checks\": [...], \"diagnosis\"}], \"engine\": {\"source\", \"path\", \"detail\"}, \"migrate_url\": the variable prisma.config.ts gives Prisma's CLI}" },
];

/// One line per check: `  pass  tcp            0 ms  connected to ...`.
const COLUMNS: Columns = Columns {
    gap: 2,
    name: 10,
    ms: 5,
};

pub fn run(ctx: &Ctx, mut args: Args) -> anyhow::Result<Exit> {
    let vars = args.values("--var")?;
    let env_files: Vec<PathBuf> = args
        .values("--env-file")?
        .into_iter()
        .map(|f| ctx.resolve(Path::new(&f)))
        .collect();
    let timeout: Option<u64> = args.parsed("--timeout", "seconds")?;
    let idle: Option<u64> = args.parsed("--idle-probe", "seconds")?;
    let quick = args.flag("--quick");
    let json = args.flag("--json");
    let source = PasswordSource::from_flags(
        "db-test",
        args.value("--password-from")?,
        args.flag("--iam"),
    )?;
    let profile = args.value("--aws-profile")?;
    let aws = AwsOptions::from_flags(&mut args, profile.clone())?;
    args.finish()?;
    if timeout == Some(0) {
        return Err(crate::exit::Usage(
            "--timeout must be at least 1 second\nhint: run `cargo xtask db-test --help`".into(),
        )
        .into());
    }
    let files = envload::read_files(&ctx.project_dir, &env_files)?;
    let (cli, shadow_var) = envload::cli_url(&ctx.project_dir, &files)?;
    let explicit = !vars.is_empty();
    let vars = vars_to_test(vars, &cli, shadow_var.as_deref());
    let settings = Settings {
        timeout: timeout.map(Duration::from_secs),
        idle_probe: idle.map(Duration::from_secs),
        upto: if quick {
            Layer::Server
        } else {
            Layer::Migrations
        },
        project_dir: ctx.project_dir.clone(),
        migrates: true,
        shadow: Shadow::for_dev(
            shadow_var.is_some() || envload::find("SHADOW_DATABASE_URL", &files).is_some(),
        ),
        progress: !json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let results = test_all(
        &vars,
        explicit,
        &cli,
        &files,
        &env_files,
        &settings,
        &source,
        &profile,
        aws.as_ref(),
        json,
    )?;
    let ok = results
        .iter()
        .all(|(r, a)| r.ok() && a.as_ref().is_none_or(rds::Report::ok));
    let engine = engine_report(ctx, json);
    if json {
        print_json(&results, ok, engine, cli.name());
    }
    Ok(if results.iter().any(|(r, _)| r.bad_input()) {
        Exit::BadInput
    } else {
        Exit::ok_if(ok)
    })
}

/// The variables to test: those asked for, else the usual ones plus the
/// variables prisma.config.ts gives Prisma's CLI (its URL second, its
/// shadowDatabaseUrl last).
fn vars_to_test(asked: Vec<String>, cli: &CliUrl, shadow_var: Option<&str>) -> Vec<String> {
    if !asked.is_empty() {
        return asked;
    }
    let mut v: Vec<String> = DEFAULT_VARS.iter().map(|s| s.to_string()).collect();
    if !v.iter().any(|n| n == cli.name()) {
        v.insert(1, cli.name().to_string());
    }
    if let Some(s) = shadow_var.filter(|s| !v.iter().any(|n| n == s)) {
        v.push(s.to_string());
    }
    v
}

/// Tests each variable in turn (DIRECT_URL and SHADOW_DATABASE_URL only
/// when defined), the one Prisma's CLI uses as such.
#[allow(clippy::too_many_arguments)]
fn test_all(
    vars: &[String],
    explicit: bool,
    cli: &CliUrl,
    files: &[EnvFile],
    env_files: &[PathBuf],
    settings: &Settings,
    source: &Option<PasswordSource>,
    profile: &Option<String>,
    aws: Option<&AwsOptions>,
    json: bool,
) -> anyhow::Result<Vec<(Report, Option<rds::Report>)>> {
    if !json && cli.name() != "DATABASE_URL" {
        output::out(format!(
            "prisma.config.ts: Prisma's CLI migrates through {} (its datasource.url); DATABASE_URL is the app's",
            cli.name()
        ));
    }
    let mut results = Vec::new();
    let mut first = None;
    for (i, var) in vars.iter().enumerate() {
        let found = if var == cli.name() {
            envload::find_cli(cli, files)
        } else {
            envload::find(var, files)
        };
        let found = password_for(
            var,
            found,
            i == 0,
            &mut first,
            source.as_ref(),
            profile.as_deref(),
        )?;
        // DIRECT_URL and SHADOW_DATABASE_URL are tested only when defined
        // (unless Prisma's CLI needs it).
        if found.is_none() && !explicit && i > 0 && var != cli.name() {
            continue;
        }
        if !json {
            print_header(var, found.as_ref(), files, env_files);
        }
        let settings = Settings {
            migrates: var == cli.name(),
            ..settings.clone()
        };
        results.push(test_one(var, found.as_ref(), &settings, aws, json));
    }
    Ok(results)
}

/// Which schema engine `migrate` would have Prisma run: a line, or the
/// `engine` object of `--json`.
fn engine_report(ctx: &Ctx, json: bool) -> Json {
    let install = Install::find(&ctx.project_dir);
    let engine = Native::find(&install);
    if !json {
        output::out(format!(
            "Prisma's schema engine: {}",
            engine.describe(&install)
        ));
    }
    engine.to_json(&install)
}

/// `--json`: one object, each target with rds-check's report when run.
fn print_json(results: &[(Report, Option<rds::Report>)], ok: bool, engine: Json, cli: &str) {
    let targets = results.iter().map(|(r, a)| {
        let mut j = report_json(r);
        if let (Json::Obj(pairs), Some(a)) = (&mut j, a) {
            pairs.push(("aws".into(), a.to_json()));
        }
        j
    });
    output::json(&Json::obj([
        ("ok", Json::Bool(ok)),
        ("targets", Json::Arr(targets.collect())),
        ("engine", engine),
        ("migrate_url", Json::str(cli)),
    ]));
}

/// The fetched password or token belongs to the first URL's server and
/// user: another variable gets it only when it names the same ones (a local
/// shadow database must not receive the production password).
fn password_for(
    var: &str,
    found: Option<Found>,
    is_first: bool,
    first: &mut Option<PgUrl>,
    source: Option<&PasswordSource>,
    profile: Option<&str>,
) -> anyhow::Result<Option<Found>> {
    let url = found.as_ref().and_then(|f| PgUrl::parse(&f.value).ok());
    if is_first {
        *first = url.clone();
    }
    let same = match (&url, first.as_ref()) {
        (Some(u), Some(f)) => passwords::same_server(u, f),
        _ => false,
    };
    match is_first || same {
        true => with_password(var, found, source, profile),
        false => Ok(found),
    }
}

/// `--password-from` / `--iam`: the URL with the password put in (a token
/// made now, just before the checks connect), in memory only.
fn with_password(
    var: &str,
    found: Option<Found>,
    source: Option<&PasswordSource>,
    profile: Option<&str>,
) -> anyhow::Result<Option<Found>> {
    let (Some(source), Some(f)) = (source, found.clone()) else {
        return Ok(found);
    };
    let mut url =
        PgUrl::parse(&f.value).map_err(|e| bad_input(format!("{var} ({}): {e}", f.source)))?;
    passwords::into_url(source, &mut url, profile, "db-test:")?;
    Ok(Some(Found {
        value: url.render(),
        written: None,
        ..f
    }))
}

/// db-test's checks for one variable, then (with --aws, for an RDS host)
/// rds-check's, printed as they come unless the output is JSON.
fn test_one(
    var: &str,
    found: Option<&Found>,
    settings: &Settings,
    aws: Option<&AwsOptions>,
    json: bool,
) -> (Report, Option<rds::Report>) {
    let style = Style::stdout();
    let report = diagnose::diagnose(var, found, settings, &|c: &Check| {
        if !json {
            print_check(c, style);
        }
    });
    if !json {
        print_verdict(&report, style);
    }
    let aws_report = match (aws, &report.url) {
        (Some(opts), Some(url)) if rds::is_rds_host(&url.host()) => {
            let a = rds::run_checks(url, opts);
            if !json {
                output::out(format!("  rds-check for {}:", url.host()));
                a.print(style);
                output::out("");
            }
            Some(a)
        }
        _ => None,
    };
    (report, aws_report)
}

fn print_header(var: &str, found: Option<&Found>, files: &[EnvFile], explicit: &[PathBuf]) {
    match found {
        Some(f) => {
            let shown = PgUrl::parse(&f.value)
                .map(|u| u.masked())
                .unwrap_or_else(|_| "(not a valid URL)".into());
            output::out(format!("{var} from {}: {shown}", f.source));
            if let Some(file) = &f.shadowed {
                output::out(format!(
                    "  {} {var} is set in your shell and overrides {file}, which has a different value: `unset {var}` (PowerShell: `Remove-Item Env:{var}`) to use the file",
                    Style::stdout().yellow("warning:")
                ));
            }
        }
        None => output::out(format!(
            "{var}: not found in {}",
            envload::looked_at(files, explicit)
        )),
    }
}

fn print_check(c: &Check, style: Style) {
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        // Clear the "connecting to ..." progress line before the result.
        output::err_partial("\x1b[2K\r");
    }
    c.line().print(COLUMNS, style);
}

fn print_verdict(r: &Report, style: Style) {
    if r.ok() {
        output::out(format!(
            "  verdict: {} (every check passed{})\n",
            style.green("ok"),
            if r.checks.iter().any(|c| c.status == Status::Warn) {
                "; see the warnings"
            } else {
                ""
            }
        ));
    } else {
        output::out(format!(
            "  verdict: {} at layer {}: {}\n",
            style.red(r.diagnosis.code.as_str()),
            layer_name(r),
            r.diagnosis.hint
        ));
    }
}

pub fn report_json(r: &Report) -> Json {
    let url = r.url.as_ref();
    Json::obj([
        ("var", Json::str(&r.var)),
        ("source", Json::str(&r.source)),
        (
            "host",
            url.map(|u| Json::str(u.host())).unwrap_or(Json::Null),
        ),
        (
            "port",
            url.map(|u| Json::num(u.port())).unwrap_or(Json::Null),
        ),
        ("database", Json::opt_str(url.and_then(|u| u.database()))),
        ("user", Json::opt_str(url.and_then(|u| u.user()))),
        (
            "sslmode",
            url.map(|u| Json::str(u.tls_mode().map(|m| m.name()).unwrap_or("invalid")))
                .unwrap_or(Json::Null),
        ),
        (
            "checks",
            Json::Arr(r.checks.iter().map(|c| c.line().to_json()).collect()),
        ),
        (
            "diagnosis",
            Json::obj([
                ("code", Json::Lit(r.diagnosis.code.as_str())),
                ("layer", Json::Lit(layer_name(r))),
                ("hint", Json::str(&r.diagnosis.hint)),
            ]),
        ),
    ])
}

/// The failing layer's name, `-` when every check passed.
fn layer_name(r: &Report) -> &'static str {
    r.diagnosis.layer.map(Layer::as_str).unwrap_or("-")
}
