//! Onboarding, from a fresh clone to a migrated database: the troubleshooting
//! page's "Quick Fix Steps" as five steps run in order (tools, environment,
//! env-fix, db-test, migrations), each safe to run again, none prompting
//! without a terminal. `cmd::onboard` renders them.

mod checks;
mod environment;
mod tools;

use std::path::PathBuf;
use std::time::Instant;

use crate::input::PasswordSource;
use crate::output;
use crate::prisma::{Engine, Install};
use crate::rds::AwsOptions;
use crate::util::Ctx;

pub use crate::checklist::Status;

stable_names! {
    /// The steps, in the order they run.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum StepName {
        Tools = "tools",
        Environment = "environment",
        EnvFix = "env-fix",
        DbTest = "db-test",
        RdsCheck = "rds-check",
        Migrations = "migrations",
    }
}

/// One step's result.
pub struct Step {
    pub name: StepName,
    pub status: Status,
    pub ms: u64,
    pub detail: String,
    pub hint: Option<String>,
}

impl Step {
    /// This step as a checklist line (steps have no code of their own).
    pub fn line(&self) -> crate::checklist::Line<'_> {
        crate::checklist::Line {
            name: self.name.as_str(),
            status: self.status,
            code: None,
            ms: self.ms,
            detail: &self.detail,
            hint: self.hint.as_deref(),
        }
    }
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
}

/// What the steps found beyond their lines, handed forward from step to
/// step and returned with them.
#[derive(Debug, Default)]
pub struct Notes {
    /// The engine the migrations step ran (last), for the report.
    pub engine_used: Option<Engine>,
    /// The environment step wrote the fetched password (env-fix need not).
    pub password_written: bool,
    /// A step failed on bad input (a secret not found): exit 2.
    pub bad_input: bool,
}

impl Notes {
    /// Notes that a step failed on bad input (an env file that cannot be
    /// read, an invalid URL, a placeholder): onboard then exits 2, as every
    /// command does for bad input.
    fn note(&mut self, e: &anyhow::Error) {
        if crate::exit::Exit::of_error(e) == crate::exit::Exit::BadInput {
            self.bad_input = true;
        }
    }
}

/// The result of one step: ok with a detail, or failed with a hint.
type StepResult = Result<String, (String, String)>;

/// Runs the steps in order, reporting each as it ends; after a failure the
/// rest are skipped.
pub fn run(ctx: &Ctx, o: &Opts, on_step: &dyn Fn(&Step)) -> (Vec<Step>, Notes) {
    let install = Install::find(&ctx.project_dir);
    type StepFn<'a> = Box<dyn Fn(&mut Notes) -> StepResult + 'a>;
    let mut plan: Vec<(StepName, StepFn)> = vec![
        (
            StepName::Tools,
            Box::new(|_| tools::check(ctx, &install, o)),
        ),
        (
            StepName::Environment,
            Box::new(|n| environment::check(ctx, o, n)),
        ),
        (StepName::EnvFix, Box::new(|n| checks::fix(ctx, o, n))),
        (StepName::DbTest, Box::new(|n| checks::check_db(ctx, n))),
    ];
    if let Some(aws) = &o.aws {
        plan.push((
            StepName::RdsCheck,
            Box::new(move |_| checks::rds_check(ctx, aws)),
        ));
    }
    plan.push((
        StepName::Migrations,
        Box::new(|n| checks::migrations(ctx, o, n)),
    ));
    let mut steps: Vec<Step> = Vec::new();
    let mut notes = Notes::default();
    for (name, step) in plan {
        // rds-check explains a failed db-test (a security group, a stopped
        // instance), so only a failure before db-test skips it.
        let failed = steps.iter().any(|s| {
            s.status == Status::Fail && !(name == StepName::RdsCheck && s.name == StepName::DbTest)
        });
        let s = if failed || (name == StepName::Migrations && !o.migrate) {
            let why = if failed {
                "an earlier step failed"
            } else {
                "--no-migrate"
            };
            Step {
                name,
                status: Status::Skip,
                ms: 0,
                detail: why.into(),
                hint: None,
            }
        } else {
            if !o.json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                output::err_partial(format!("  …    {:<12}\r", name.as_str()));
            }
            let t = Instant::now();
            let result = step(&mut notes);
            let ms = output::ms_since(t);
            match result {
                Ok(detail) => Step {
                    name,
                    status: Status::Pass,
                    ms,
                    detail,
                    hint: None,
                },
                Err((detail, hint)) => Step {
                    name,
                    status: Status::Fail,
                    ms,
                    detail,
                    hint: Some(hint),
                },
            }
        };
        on_step(&s);
        steps.push(s);
    }
    (steps, notes)
}
