//! Onboarding, from a fresh clone to a migrated database: the troubleshooting
//! page's "Quick Fix Steps" as five steps run in order (tools, environment,
//! env-fix, db-test, migrations), each safe to run again, none prompting
//! without a terminal. `cmd::onboard` renders them.

mod checks;
mod environment;
mod tools;

use std::cell::Cell;
use std::path::PathBuf;
use std::time::Instant;

use crate::input::PasswordSource;
use crate::output;
use crate::prisma::{Engine, Install};
use crate::rds::AwsOptions;
use crate::util::Ctx;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Ok,
    Fail,
    Skip,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Ok => "ok",
            StepStatus::Fail => "fail",
            StepStatus::Skip => "skip",
        }
    }
}

/// The steps, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepName {
    Tools,
    Environment,
    EnvFix,
    DbTest,
    RdsCheck,
    Migrations,
}

impl StepName {
    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Tools => "tools",
            StepName::Environment => "environment",
            StepName::EnvFix => "env-fix",
            StepName::DbTest => "db-test",
            StepName::RdsCheck => "rds-check",
            StepName::Migrations => "migrations",
        }
    }
}

/// One step's result.
pub struct Step {
    pub name: StepName,
    pub status: StepStatus,
    pub ms: u64,
    pub detail: String,
    pub hint: Option<String>,
}

/// What onboarding is asked to do.
pub struct Opts {
    pub local: bool,
    pub data_dir: Option<PathBuf>,
    pub password_stdin: bool,
    pub interactive: bool,
    pub check: bool,
    pub migrate: bool,
    pub json: bool,
    /// `--aws`: run rds-check's AWS checks after db-test.
    pub aws: Option<AwsOptions>,
    /// `--password-from`: the password for `.env.example`'s URL (or for the
    /// existing `.env.local`, set by the env-fix step).
    pub password_from: Option<PasswordSource>,
    pub aws_profile: Option<String>,
    /// `--engine`; None: native, and the WebAssembly engine when Prisma
    /// cannot download the native one.
    pub engine: Option<Engine>,
    /// The engine the migrations step ran (last), for the report.
    pub engine_used: Cell<Option<Engine>>,
    /// Set when the environment step wrote the fetched password.
    pub password_written: Cell<bool>,
    /// Set when a step failed on bad input (a secret not found): exit 2.
    pub bad_input: Cell<bool>,
}

impl Opts {
    /// Notes that a step failed on bad input (an env file that cannot be
    /// read, an invalid URL, a placeholder): onboard then exits 2, as every
    /// command does for bad input.
    fn note(&self, e: &anyhow::Error) {
        if crate::flags::Exit::of_error(e) == crate::flags::Exit::BadInput {
            self.bad_input.set(true);
        }
    }
}

/// The result of one step: ok with a detail, or failed with a hint.
type StepResult = Result<String, (String, String)>;

/// Runs the steps in order, reporting each as it ends; after a failure the
/// rest are skipped.
pub fn run(ctx: &Ctx, o: &Opts, on_step: &dyn Fn(&Step)) -> Vec<Step> {
    let install = Install::find(&ctx.project_dir);
    type StepFn<'a> = Box<dyn Fn() -> StepResult + 'a>;
    let mut plan: Vec<(StepName, StepFn)> = vec![
        (StepName::Tools, Box::new(|| tools::check(ctx, &install, o))),
        (
            StepName::Environment,
            Box::new(|| environment::check(ctx, o)),
        ),
        (StepName::EnvFix, Box::new(|| checks::fix(ctx, o))),
        (StepName::DbTest, Box::new(|| checks::check_db(ctx, o))),
    ];
    if let Some(aws) = &o.aws {
        plan.push((
            StepName::RdsCheck,
            Box::new(move || checks::rds_check(ctx, aws)),
        ));
    }
    plan.push((
        StepName::Migrations,
        Box::new(|| checks::migrations(ctx, o)),
    ));
    let mut steps: Vec<Step> = Vec::new();
    for (name, step) in plan {
        // rds-check explains a failed db-test (a security group, a stopped
        // instance), so only a failure before db-test skips it.
        let failed = steps.iter().any(|s| {
            s.status == StepStatus::Fail
                && !(name == StepName::RdsCheck && s.name == StepName::DbTest)
        });
        let s = if failed || (name == StepName::Migrations && !o.migrate) {
            let why = if failed {
                "an earlier step failed"
            } else {
                "--no-migrate"
            };
            Step {
                name,
                status: StepStatus::Skip,
                ms: 0,
                detail: why.into(),
                hint: None,
            }
        } else {
            if !o.json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                output::err_partial(format!("  …    {:<12}\r", name.as_str()));
            }
            let t = Instant::now();
            let result = step();
            let ms = output::ms_since(t);
            match result {
                Ok(detail) => Step {
                    name,
                    status: StepStatus::Ok,
                    ms,
                    detail,
                    hint: None,
                },
                Err((detail, hint)) => Step {
                    name,
                    status: StepStatus::Fail,
                    ms,
                    detail,
                    hint: Some(hint),
                },
            }
        };
        on_step(&s);
        steps.push(s);
    }
    steps
}
