//! Stage 1, resolve: the URLs a migrate run gives Prisma, loaded once: DATABASE_URL (tuned as
//! env-fix would, or as written with --no-tune), SHADOW_DATABASE_URL, a
//! password from AWS or an IAM token made just before use; and the
//! preflight's and our own sessions on the same URL.

use std::time::{Duration, Instant};

use super::Plan;
use crate::conn::{self, Session};
use crate::diagnose::{self, Layer, Report, Settings, Shadow};
use crate::envload::{self, Found};
use crate::exit::bad_input;
use crate::output::{self, Style};
use crate::passwords;
use crate::pgurl::{PgUrl, Reader};
use crate::prisma;
use crate::prisma::config::CliUrl;
use crate::repair;
use crate::util::Ctx;

/// The URLs Prisma gets, loaded once.
pub(super) struct Urls {
    /// The variable prisma.config.ts's `datasource.url` reads
    /// (DATABASE_URL without a config); None when the config writes the
    /// URL itself.
    pub(super) var: Option<String>,
    pub(super) found: Found,
    /// The URL as Prisma gets it (tuned unless --no-tune).
    pub(super) url: PgUrl,
    pub(super) child_url: String,
    /// The shadow database's variable and URL as Prisma gets it.
    pub(super) shadow: Option<(String, String)>,
    /// The env files' other variables: Prisma gets them all, since the
    /// config may read any of them.
    pub(super) file_vars: Vec<(String, String)>,
    /// When the IAM token in `child_url` was made.
    pub(super) token_at: Option<Instant>,
    /// The `application_name` ending that marks the sessions Prisma opens
    /// for this run (None with --no-tune or a URL written in the config).
    pub(super) tag: Option<Tag>,
    /// The URL names a pooler or proxy (PgBouncer, RDS Proxy, ...).
    pub(super) pooled: bool,
}

/// What marks this run's Prisma sessions on the server, so the watch and
/// an interrupt find them, and only them: pg_stat_activity shows no other
/// tie between a session and the process that opened it. The process id
/// alone repeats across the machines of a CI matrix and the containers of
/// one host; 32 random bits beside it make it unique enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tag(String);

impl Tag {
    fn new() -> Tag {
        Tag(format!(
            "xtask-migrate-{}-{:08x}",
            std::process::id(),
            crate::util::random_u64() as u32
        ))
    }

    /// Puts the tag into `url`'s application_name, after the user's own
    /// (cut so that the whole stays within PostgreSQL's 63 bytes).
    fn apply(&self, url: &mut PgUrl) {
        let value = match url.param("application_name").filter(|a| !a.is_empty()) {
            Some(own) => {
                let room = 63usize.saturating_sub(self.0.len() + 1);
                let mut own = own.to_string();
                while own.len() > room {
                    own.pop();
                }
                format!("{own} {}", self.0)
            }
            None => self.0.clone(),
        };
        url.set_param("application_name", &value);
    }

    /// A LIKE pattern matching this run's sessions' application_name.
    pub(super) fn like(&self) -> String {
        format!("%{}", self.0)
    }

    /// The `pg_stat_activity` condition for the sessions this run may
    /// cancel or end: tagged, of the URL's own role, not the asking one.
    pub(super) fn ours(&self) -> String {
        format!(
            "application_name LIKE '{}' AND pid <> pg_backend_pid() AND usename = current_user",
            self.like().replace('\'', "''")
        )
    }
}

impl Urls {
    pub(super) fn load(ctx: &Ctx, plan: &Plan, style: Style) -> anyhow::Result<Urls> {
        let files = envload::read_files(&ctx.project_dir, &plan.env_files)?;
        let file_vars = envload::file_vars(&files);
        let config = prisma::config::start(&ctx.project_dir, &file_vars)
            .finish()
            .map_err(|e| bad_input(e.to_string()))?;
        let source = prisma::config::cli_url(&config, &file_vars);
        let Some(found) = envload::find_cli(&source, &files) else {
            return Err(bad_input(format!(
                "{} is not set in {}: put it in .env.local, or run `cargo xtask dev-db up --write-env` for a local database",
                source.name(),
                envload::looked_at(&files, &plan.env_files)
            )));
        };
        let var = match &source {
            CliUrl::Var(v) => Some(v.clone()),
            CliUrl::Literal(..) => None,
        };
        let name = source.name().to_string();
        let mut url = PgUrl::parse(&found.value)
            .map_err(|e| bad_input(format!("{name} ({}): {e}", found.source)))?;
        if plan.password.is_none()
            && url
                .password()
                .is_some_and(|p| repair::is_placeholder(p.expose()))
        {
            return Err(bad_input(format!(
                "{name} ({}) has a placeholder instead of a password: set the real one with `printf '%s' \"$PASSWORD\" | cargo xtask env-fix --password-stdin`",
                found.source
            )));
        }
        // A URL written in the config itself reaches Prisma as written.
        // Through a pooler a pid on the server may serve another client
        // after ours has gone: nothing is tagged, so nothing is cancelled.
        let pooled = crate::poolers::named_by(&url).is_some();
        let tag = (plan.tune && var.is_some() && !pooled).then(Tag::new);
        let child_url = match &tag {
            Some(tag) => {
                for c in repair::tune(&name, &mut url) {
                    output::err(format!("{} {}", style.dim("tune:"), c.detail));
                }
                let mut tagged = url.clone();
                tag.apply(&mut tagged);
                tagged.render_for(Reader::Prisma)
            }
            None => found.value.clone(),
        };
        // Sessions of another role could not be cancelled by ours: the
        // shadow URL is tagged only when it uses the same role.
        let shadow_tag = tag.as_ref().filter(|_| {
            shadow_user(&config, &file_vars, &files).is_none_or(|u| Some(u.as_str()) == url.user())
        });
        let shadow = shadow_url(&config, &file_vars, &files, plan, shadow_tag);
        output::err(format!(
            "{} {name} from {}: {}",
            style.dim("migrate:"),
            found.source,
            url.masked()
        ));
        say_sources(&source, &files, config.note.as_deref(), style);
        let mut urls = Urls {
            var,
            found,
            url,
            child_url,
            shadow,
            file_vars,
            token_at: None,
            tag,
            pooled,
        };
        urls.fetch_password(plan)?;
        Ok(urls)
    }

    /// The variable name for messages.
    pub(super) fn name(&self) -> &str {
        self.var.as_deref().unwrap_or("datasource.url")
    }

    /// Prisma's environment: the env files' variables, then the URLs as
    /// tuned here over them.
    pub(super) fn child_env(&self) -> Vec<(String, String)> {
        let mut env = self.file_vars.clone();
        if let Some(var) = &self.var {
            env.push((var.clone(), self.child_url.clone()));
        }
        if let Some((var, url)) = &self.shadow {
            env.push((var.clone(), url.clone()));
        }
        env
    }

    /// `--password-from` / `--iam`: the password goes into the URL Prisma
    /// gets (its environment only); a token is made here, just before use.
    pub(super) fn fetch_password(&mut self, plan: &Plan) -> anyhow::Result<()> {
        let Some(source) = &plan.password else {
            return Ok(());
        };
        let reader = plan.tune.then_some(Reader::Prisma);
        let profile = plan.aws_profile.as_deref();
        let shadow_url = self.shadow.as_ref().map(|(_, u)| u.as_str());
        let child = passwords::for_child(
            source,
            &mut self.url,
            shadow_url,
            reader,
            profile,
            "migrate:",
        )?;
        self.child_url = match (&self.tag, PgUrl::parse(&child.url)) {
            (Some(tag), Ok(mut u)) => {
                tag.apply(&mut u);
                u.render_for(Reader::Prisma)
            }
            _ => child.url,
        };
        if let (Some(url), Some((_, old))) = (child.shadow, self.shadow.as_mut()) {
            *old = url;
        }
        self.token_at = child.iam.then(Instant::now);
        Ok(())
    }

    /// db-test's checks against the URL Prisma gets, up to `upto`; the
    /// session when they passed.
    pub(super) fn diagnose(
        &self,
        ctx: &Ctx,
        upto: Layer,
        shadow: Shadow,
    ) -> (Report, Option<Session>) {
        let settings = Settings {
            upto,
            ..Settings::for_migrate_url(ctx.project_dir.clone(), shadow)
        };
        // The URL Prisma gets, without the run's tag: the preflight's
        // session is not one of Prisma's.
        let value = match self.tag {
            Some(_) => self.url.render_for(Reader::Prisma),
            None => self.child_url.clone(),
        };
        let tuned = Found {
            value,
            ..self.found.clone()
        };
        diagnose::diagnose_keeping(self.name(), Some(&tuned), &settings, &|_| {})
    }

    /// A session for the xtask's own queries, on the URL Prisma gets but
    /// named `xtask` (it is not one of the run's tagged sessions).
    pub(super) fn connect(&self, ctx: &Ctx) -> Option<Session> {
        conn::connect(&self.side_target(ctx)?).ok()
    }

    /// Where `connect` connects, for a session opened on another thread.
    pub(super) fn side_target(&self, ctx: &Ctx) -> Option<conn::Target> {
        let mut url = match self.tag {
            Some(_) => self.url.clone(),
            None => PgUrl::parse(&self.child_url).unwrap_or_else(|_| self.url.clone()),
        };
        if self.tag.is_some() {
            url.set_param("application_name", "xtask");
        }
        // Our own looks need no more than this, whatever the URL allows.
        let bound = Some(Duration::from_secs(10));
        conn::target(&url, &ctx.project_dir, Duration::from_secs(5), bound).ok()
    }
}

/// Where the CLI's URL comes from, when that needs saying.
fn say_sources(cli: &CliUrl, files: &[envload::EnvFile], config_note: Option<&str>, style: Style) {
    if let Some(note) = source_note(cli, files) {
        output::err(format!("{} {note}", style.dim("migrate:")));
    }
    if let Some(note) = config_note {
        output::err(format!(
            "{} prisma.config.ts not read ({note}): using DATABASE_URL",
            style.yellow("migrate:")
        ));
    }
}

/// Which is which, when the CLI's URL is not DATABASE_URL.
fn source_note(cli: &CliUrl, files: &[envload::EnvFile]) -> Option<String> {
    match cli {
            CliUrl::Var(v) if v == "DATABASE_URL" => None,
            CliUrl::Var(v) => Some(match envload::find("DATABASE_URL", files) {
                Some(d) => format!("prisma.config.ts's datasource.url reads {v}: Prisma's CLI migrates through {v}; DATABASE_URL ({}) is the app's runtime URL and is not checked here", d.source),
                None => format!("prisma.config.ts's datasource.url reads {v}"),
            }),
            CliUrl::Literal(path, _) => Some(format!("{path} writes datasource.url itself (no env variable): checked as written, not tuned")),
        }
}

/// The user the shadow database's URL names, if there is one.
fn shadow_user(
    config: &prisma::config::Read,
    file_vars: &[(String, String)],
    files: &[envload::EnvFile],
) -> Option<String> {
    let var = shadow_var(config, file_vars)?;
    let s = envload::find(&var, files)?;
    PgUrl::parse(&s.value).ok()?.user().map(str::to_string)
}

/// The shadow database's variable: prisma.config.ts's shadowDatabaseUrl,
/// else SHADOW_DATABASE_URL.
fn shadow_var(config: &prisma::config::Read, file_vars: &[(String, String)]) -> Option<String> {
    match config.datasource.as_ref().and_then(|d| d.shadow.as_deref()) {
        Some(v) => prisma::config::var_holding(v, file_vars).map(str::to_string),
        None => Some("SHADOW_DATABASE_URL".to_string()),
    }
}

/// The shadow database's variable (prisma.config.ts's shadowDatabaseUrl,
/// else SHADOW_DATABASE_URL) and its URL, with the same tuning, once for
/// all attempts.
fn shadow_url(
    config: &prisma::config::Read,
    file_vars: &[(String, String)],
    files: &[envload::EnvFile],
    plan: &Plan,
    tag: Option<&Tag>,
) -> Option<(String, String)> {
    shadow_var(config, file_vars).and_then(|v| {
        let s = envload::find(&v, files)?;
        let value = match PgUrl::parse(&s.value) {
            Ok(mut u) if plan.tune => {
                repair::tune(&v, &mut u);
                if let Some(tag) = tag {
                    tag.apply(&mut u);
                }
                u.render_for(Reader::Prisma)
            }
            _ => s.value.clone(),
        };
        Some((v, value))
    })
}

#[cfg(test)]
mod tests {
    use super::Tag;
    use crate::pgurl::PgUrl;

    #[test]
    fn the_tag_follows_the_users_own_application_name_within_63_bytes() {
        let tag = Tag("xtask-migrate-4242-0abcd".into());
        let mut u = PgUrl::parse("postgresql://u:p@h/db?sslmode=require").unwrap();
        tag.apply(&mut u);
        assert_eq!(
            u.param("application_name"),
            Some("xtask-migrate-4242-0abcd")
        );
        let long = "a".repeat(70);
        let mut u =
            PgUrl::parse(&format!("postgresql://u:p@h/db?application_name={long}")).unwrap();
        tag.apply(&mut u);
        let v = u.param("application_name").unwrap();
        assert!(v.len() <= 63, "{v}");
        assert!(
            v.starts_with("aaaa") && v.ends_with(" xtask-migrate-4242-0abcd"),
            "{v}"
        );
        assert_eq!(tag.like(), "%xtask-migrate-4242-0abcd");
    }
}
