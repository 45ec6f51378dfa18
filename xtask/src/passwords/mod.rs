//! Passwords from AWS for every command, over the shared `aws` CLI layer:
//! `--password-from` (Secrets Manager, `secrets`) and `--iam` (tokens,
//! `iam`). Finds the region (the endpoint's, else the CLI's own), fetches
//! the secret or makes the token, checks it fits the URL, and puts it in
//! the URL. Commands call `resolve` just before they connect or write.

use std::time::Instant;

use crate::aws::cli::Aws;
use crate::aws::endpoint;
pub mod iam;
pub mod secrets;
use crate::exit::bad_input;
use crate::input::PasswordSource;
use crate::output;
use crate::pgurl::{PgUrl, Reader};
use crate::secret::Secret;

/// A password or token and where it came from.
pub struct Resolved {
    pub password: Secret,
    /// `AWS Secrets Manager secret prod/db`, for status lines.
    pub what: String,
    /// How long the aws CLI took (the cost `--password-from` adds).
    pub ms: u64,
    pub iam: bool,
    /// The user name the secret stores, when it differs from the URL's
    /// (a plain `aws-secret`: a warning, not an error).
    pub other_user: Option<String>,
}

impl Resolved {
    /// One line for stderr: `password: from ... (412 ms)`.
    pub fn note(&self) -> String {
        format!("password from {} ({} ms)", self.what, self.ms)
    }
}

/// The aws CLI, in the endpoint's region for an RDS host, else the
/// CLI's own (AWS_REGION, AWS_DEFAULT_REGION, the profile's).
fn find_aws(url: &PgUrl, profile: Option<&str>) -> anyhow::Result<Aws> {
    let region = endpoint::parse(&url.host())
        .map(|e| e.region)
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_default();
    Aws::find(profile.map(String::from), region, true).ok_or_else(|| {
        anyhow::anyhow!("no `aws` command on PATH, and --password-from/--iam run it: install the AWS CLI (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html, or `pip install awscli`), then `aws configure` or `aws sso login`")
    })
}

/// Fetches the password (or makes the token) for `url` from `source`.
pub fn resolve(
    source: &PasswordSource,
    url: &PgUrl,
    profile: Option<&str>,
) -> anyhow::Result<Resolved> {
    let aws = find_aws(url, profile)?;
    let start = Instant::now();
    let ep = endpoint::parse(&url.host());
    let (password, other_user) = match source {
        PasswordSource::AwsSecret { id, key } => {
            let f = secrets::fetch(&aws, id, key.as_deref())?;
            let other = f.username.filter(|u| Some(u.as_str()) != url.user());
            (f.password, other)
        }
        PasswordSource::RdsManaged => {
            let Some(ep) = &ep else {
                return Err(bad_input(format!(
                    "--password-from aws-rds-managed finds the database from the URL's host, and {} is not an RDS endpoint (*.rds.amazonaws.com): use --password-from aws-secret:ID",
                    url.host()
                )));
            };
            let described = secrets::describe(&aws, ep)?;
            let arn = secrets::managed_secret_arn(ep, &described)?;
            let f = secrets::fetch(&aws, &arn, None)?;
            if let Some(u) = f.username.as_deref().filter(|u| Some(*u) != url.user()) {
                return Err(bad_input(format!(
                    "the RDS-managed secret of {} is the master user `{u}`'s, but the URL's user is `{}`: the password would be refused. Use user `{u}` in the URL, or --password-from aws-secret:ID with `{}`'s own secret",
                    ep.identifier,
                    url.user().unwrap_or("(none)"),
                    url.user().unwrap_or("USER")
                )));
            }
            (f.password, None)
        }
        PasswordSource::Iam => {
            if let Some(ep) = &ep {
                let described = secrets::describe(&aws, ep)?;
                iam::check_enabled(ep, &described)?;
            }
            (iam::token(&aws, url)?, None)
        }
    };
    let ms = output::ms_since(start);
    Ok(Resolved {
        password,
        what: source.describe(),
        ms,
        iam: *source == PasswordSource::Iam,
        other_user,
    })
}

/// Puts the password in the URL; for a token also `sslmode=require` at
/// least (RDS refuses IAM authentication without TLS). Returns what was
/// raised, for a note.
pub fn apply(url: &mut PgUrl, r: &Resolved) -> Option<String> {
    url.set_password(&r.password);
    if !r.iam {
        return None;
    }
    match url.param("sslmode") {
        Some("require" | "verify-ca" | "verify-full") => None,
        old => {
            let was = old.map(|o| format!(" (was {o})")).unwrap_or_default();
            url.set_param("sslmode", "require");
            Some(format!(
                "sslmode=require{was}: IAM authentication needs TLS"
            ))
        }
    }
}

/// A warning when a plain secret stores another user name than the URL's.
pub fn user_warning(r: &Resolved, url: &PgUrl) -> Option<String> {
    r.other_user.as_ref().map(|u| {
        format!(
            "the secret's `username` is `{u}` but the URL's user is `{}`: the password may belong to `{u}`",
            url.user().unwrap_or("(none)")
        )
    })
}

/// `resolve` and `apply` for a command about to connect: the notes (where
/// the password came from, sslmode raised, another user) go to stderr
/// after `label` (`migrate:`).
pub fn into_url(
    source: &PasswordSource,
    url: &mut PgUrl,
    profile: Option<&str>,
    label: &str,
) -> anyhow::Result<Resolved> {
    let r = resolve(source, url, profile)?;
    let style = output::Style::stderr();
    output::err(format!("{} {}", style.dim(label), r.note()));
    if let Some(raised) = apply(url, &r) {
        output::err(format!("{} {raised}", style.dim(label)));
    }
    if let Some(w) = user_warning(&r, url) {
        output::err(format!("{} {w}", style.yellow("warning:")));
    }
    Ok(r)
}

/// Whether two URLs name the same server and user: a fetched password or
/// token belongs to that pair, and only URLs of it may receive it.
pub fn same_server(a: &PgUrl, b: &PgUrl) -> bool {
    (a.host(), a.port(), a.user()) == (b.host(), b.port(), b.user())
}

/// The URLs a child process gets, with the password put in.
pub struct ForChild {
    pub url: String,
    /// The shadow database's URL, when it is on the same server as the
    /// same user (then it needs the same password or token).
    pub shadow: Option<String>,
    pub iam: bool,
}

/// `into_url` for a child's environment: rendered for `reader` (None: as
/// written), the shadow database's URL too when it shares server and user.
pub fn for_child(
    source: &PasswordSource,
    url: &mut PgUrl,
    shadow: Option<&str>,
    reader: Option<Reader>,
    profile: Option<&str>,
    label: &str,
) -> anyhow::Result<ForChild> {
    let r = into_url(source, url, profile, label)?;
    let render = |u: &PgUrl| match reader {
        Some(reader) => u.render_for(reader),
        None => u.render(),
    };
    let shadow = shadow
        .and_then(|s| PgUrl::parse(s).ok())
        .filter(|s| same_server(s, url))
        .map(|mut s| {
            apply(&mut s, &r);
            render(&s)
        });
    Ok(ForChild {
        url: render(url),
        shadow,
        iam: r.iam,
    })
}
