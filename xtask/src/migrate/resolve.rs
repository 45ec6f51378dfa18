//! Stage 1, resolve: the URLs a migrate run gives Prisma, loaded once: DATABASE_URL (tuned as
//! env-fix would, or as written with --no-tune), SHADOW_DATABASE_URL, a
//! password from AWS or an IAM token made just before use; and the
//! preflight's and our own sessions on the same URL.

use std::time::{Duration, Instant};

use super::Plan;
use crate::conn::{self, Session};
use crate::diagnose::{self, Layer, Report, Settings};
use crate::envload::{self, Found};
use crate::exit::bad_input;
use crate::output::{self, Style};
use crate::passwords;
use crate::pgurl::{PgUrl, Reader};
use crate::repair;
use crate::util::Ctx;

/// The URLs Prisma gets, loaded once.
pub(super) struct Urls {
    pub(super) found: Found,
    /// DATABASE_URL as Prisma gets it (tuned unless --no-tune).
    pub(super) url: PgUrl,
    pub(super) child_url: String,
    pub(super) shadow_url: Option<String>,
    /// When the IAM token in `child_url` was made.
    pub(super) token_at: Option<Instant>,
}

impl Urls {
    pub(super) fn load(ctx: &Ctx, plan: &Plan, style: Style) -> anyhow::Result<Urls> {
        let files = envload::read_files(&ctx.project_dir, &plan.env_files)?;
        let Some(found) = envload::find("DATABASE_URL", &files) else {
            return Err(bad_input(format!(
                "DATABASE_URL is not set in {}: put it in .env.local, or run `cargo xtask dev-db up --write-env` for a local database",
                envload::looked_at(&files, &plan.env_files)
            )));
        };
        let mut url = PgUrl::parse(&found.value)
            .map_err(|e| bad_input(format!("DATABASE_URL ({}): {e}", found.source)))?;
        if plan.password.is_none()
            && url
                .password()
                .is_some_and(|p| repair::is_placeholder(p.expose()))
        {
            return Err(bad_input(format!(
                "DATABASE_URL ({}) has a placeholder instead of a password: set the real one with `printf '%s' \"$PASSWORD\" | cargo xtask env-fix --password-stdin`",
                found.source
            )));
        }
        let child_url = if plan.tune {
            for c in repair::tune("DATABASE_URL", &mut url) {
                output::err(format!("{} {}", style.dim("tune:"), c.detail));
            }
            url.render_for(Reader::Prisma)
        } else {
            found.value.clone()
        };
        // The shadow database's URL gets the same tuning, once for all attempts.
        let shadow = envload::find("SHADOW_DATABASE_URL", &files);
        let shadow_url = shadow.as_ref().map(|s| match PgUrl::parse(&s.value) {
            Ok(mut u) if plan.tune => {
                repair::tune("SHADOW_DATABASE_URL", &mut u);
                u.render_for(Reader::Prisma)
            }
            _ => s.value.clone(),
        });
        output::err(format!(
            "{} DATABASE_URL from {}: {}",
            style.dim("migrate:"),
            found.source,
            url.masked()
        ));
        let mut urls = Urls {
            found,
            url,
            child_url,
            shadow_url,
            token_at: None,
        };
        urls.fetch_password(plan)?;
        Ok(urls)
    }

    /// `--password-from` / `--iam`: the password goes into the URL Prisma
    /// gets (its environment only); a token is made here, just before use.
    pub(super) fn fetch_password(&mut self, plan: &Plan) -> anyhow::Result<()> {
        let Some(source) = &plan.password else {
            return Ok(());
        };
        let reader = plan.tune.then_some(Reader::Prisma);
        let profile = plan.aws_profile.as_deref();
        let child = passwords::for_child(
            source,
            &mut self.url,
            self.shadow_url.as_deref(),
            reader,
            profile,
            "migrate:",
        )?;
        self.child_url = child.url;
        self.shadow_url = child.shadow.or(self.shadow_url.take());
        self.token_at = child.iam.then(Instant::now);
        Ok(())
    }

    /// db-test's checks against the URL Prisma gets, up to `upto`; the
    /// session when they passed.
    pub(super) fn diagnose(&self, ctx: &Ctx, upto: Layer) -> (Report, Option<Session>) {
        let settings = Settings {
            timeout: None,
            idle_probe: None,
            upto,
            project_dir: ctx.project_dir.clone(),
            shadow_configured: self.shadow_url.is_some(),
            progress: false,
        };
        let tuned = Found {
            value: self.child_url.clone(),
            ..self.found.clone()
        };
        diagnose::diagnose_keeping("DATABASE_URL", Some(&tuned), &settings, &|_| {})
    }

    /// A session for the xtask's own queries, on the URL Prisma gets.
    pub(super) fn connect(&self, ctx: &Ctx) -> Option<Session> {
        let url = PgUrl::parse(&self.child_url).unwrap_or_else(|_| self.url.clone());
        let target = conn::target(&url, &ctx.project_dir, Duration::from_secs(5), None).ok()?;
        conn::connect(&target).ok()
    }
}
