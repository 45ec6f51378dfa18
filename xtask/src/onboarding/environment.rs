//! The environment step: a DATABASE_URL from the shell or an env file; else
//! `.env.local` made from `.env.example` with the password asked for (or
//! piped in), or the local dev-db's URL. An existing `.env.local` is never
//! replaced.

use std::path::Path;

use super::{Notes, Opts, StepResult};
use crate::devdb::{self, State};
use crate::envfile::{self, Write};
use crate::envload::{self, Found};
use crate::input;
use crate::pgurl::PgUrl;
use crate::repair;
use crate::secret::Secret;
use crate::util::Ctx;

pub(super) fn check(ctx: &Ctx, o: &Opts, n: &mut Notes) -> StepResult {
    let files = envload::read_files(&ctx.project_dir, &[]).map_err(|e| {
        n.note(&e);
        (e.to_string(), "fix the env file at that line".into())
    })?;
    let found = envload::find("DATABASE_URL", &files);
    let env_local = ctx.project_dir.join(".env.local");
    if o.local {
        let (state, started) = start_dev_db(ctx, o)?;
        if found
            .as_ref()
            .is_some_and(|f| same_database(&f.value, &state.url()))
        {
            return Ok(format!(
                "local dev-db {}; DATABASE_URL in .env.local points at it",
                if started { "started" } else { "running" }
            ));
        }
        if found.as_ref().is_some_and(Found::is_from_environment) {
            return Err((
                "DATABASE_URL is set in your shell and would override .env.local".into(),
                "`unset DATABASE_URL` (PowerShell: `Remove-Item Env:DATABASE_URL`), then run again"
                    .into(),
            ));
        }
        let written = envfile::write_database_url(ctx, &state.url())
            .map_err(|e| (e.to_string(), "fix .env.local, then run again".into()))?;
        let kept = match &written.replaced {
            Some((old, backup)) => format!(
                "; it was {old}, kept in {}",
                backup.file_name().unwrap_or_default().to_string_lossy()
            ),
            None => String::new(),
        };
        return Ok(format!(
            "local dev-db {} on port {}; DATABASE_URL written to .env.local{kept}",
            if started { "started" } else { "running" },
            state.port
        ));
    }
    if let Some(f) = found {
        return Ok(format!("DATABASE_URL from {}", f.source));
    }
    let example = ctx.project_dir.join(".env.example");
    if !example.exists() {
        let (state, started) = start_dev_db(ctx, o)?;
        envfile::write_database_url(ctx, &state.url())
            .map_err(|e| (e.to_string(), "fix .env.local, then run again".into()))?;
        return Ok(format!("no DATABASE_URL and no .env.example: local dev-db {} on port {}, URL written to .env.local", if started { "started" } else { "running" }, state.port));
    }
    if env_local.exists() {
        // Never replace an existing file wholesale: add the one line.
        return Err((".env.local exists but defines no DATABASE_URL".into(), "add DATABASE_URL to .env.local (see .env.example), or run with --local for the local dev-db".into()));
    }
    from_example(ctx, o, n, &example, &env_local)
}

/// `.env.local` as a copy of `.env.example` with the password filled in;
/// removed again when the repair fails.
fn from_example(
    ctx: &Ctx,
    o: &Opts,
    n: &mut Notes,
    example: &Path,
    env_local: &Path,
) -> StepResult {
    let password = password(o, n, example)?;
    std::fs::copy(example, env_local).map_err(|e| {
        (
            format!("cannot create .env.local: {e}"),
            "check the directory's permissions".into(),
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(env_local, std::fs::Permissions::from_mode(0o600));
    }
    let opts = repair::Options {
        password: Some(password.0),
        ..repair::Options::default()
    };
    let origin = password.1.clone();
    let opts = repair::Options {
        password_origin: origin.clone(),
        ..opts
    };
    match envfile::fix_file(ctx, env_local, &opts, Write::NoBackup) {
        Ok(_) => {
            n.password_written = origin.is_some();
            Ok(format!(
                ".env.local created from .env.example with {}",
                origin.unwrap_or("your password".into())
            ))
        }
        Err(e) => {
            let _ = std::fs::remove_file(env_local);
            Err((e.to_string(), "fix .env.example's DATABASE_URL".into()))
        }
    }
}

/// The password `.env.example` lacks: from AWS, piped in, or asked for at
/// a terminal; with where it came from when that was AWS.
fn password(
    o: &Opts,
    n: &mut Notes,
    example: &Path,
) -> Result<(Secret, Option<String>), (String, String)> {
    if let Some(source) = &o.password_from {
        let url = example_url(example)?;
        return super::checks::fetch(o, n, source, &url).map(|r| (r.password, Some(r.what)));
    }
    let typed = if o.password_stdin {
        input::read_password_stdin().map_err(|e| {
            (
                e.to_string(),
                "pipe the password in: printf '%s' \"$PW\" | cargo xtask onboard --password-stdin"
                    .into(),
            )
        })
    } else if o.interactive {
        input::prompt_password("Database password (from your team's vault): ")
            .map_err(|e| (e.to_string(), "use --password-stdin".into()))
    } else {
        Err((
            ".env.example needs a password and there is no terminal to ask for it".into(),
            "pass it with --password-stdin or --password-from, or use --local for the local dev-db"
                .into(),
        ))
    };
    typed.map(|p| (p, None))
}

/// `.env.example`'s DATABASE_URL, whose host and user the AWS password is for.
fn example_url(example: &Path) -> Result<PgUrl, (String, String)> {
    let hint = || "fix .env.example's DATABASE_URL".to_string();
    let text = std::fs::read_to_string(example)
        .map_err(|e| (format!("cannot read .env.example: {e}"), hint()))?;
    let doc = crate::dotenv::Document::parse(&text)
        .map_err(|e| (format!(".env.example: {e}"), hint()))?;
    let Some(&i) = doc.find("DATABASE_URL").first() else {
        return Err((".env.example defines no DATABASE_URL".into(), hint()));
    };
    PgUrl::parse(&doc.loaded_value(i))
        .map_err(|e| (format!(".env.example's DATABASE_URL: {e}"), hint()))
}

/// Whether two URLs reach the same database as the same user with the same
/// password (parameters aside): then nothing needs writing.
fn same_database(a: &str, b: &PgUrl) -> bool {
    match PgUrl::parse(a) {
        Ok(a) => {
            (a.user(), a.password(), a.host(), a.port(), a.database())
                == (b.user(), b.password(), b.host(), b.port(), b.database())
        }
        _ => false,
    }
}

fn start_dev_db(ctx: &Ctx, o: &Opts) -> Result<(State, bool), (String, String)> {
    let dir = o
        .data_dir
        .clone()
        .unwrap_or_else(|| ctx.target_dir().join("dev-db"));
    let mut cluster = devdb::Cluster::new(dir);
    devdb::up(&mut cluster, &devdb::UpOptions::default()).map_err(|e| {
        (
            format!("cannot start the local dev-db: {e:#}"),
            "see `cargo xtask dev-db --help` (PostgreSQL server binaries are needed)".into(),
        )
    })
}
