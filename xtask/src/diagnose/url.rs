//! The url layer: the URL parses, its password is no placeholder and is
//! encoded, and the parameters the driver must not see are set aside.

use std::time::Duration;

use super::{fail, pass, warn, Outcome, Settings};
use crate::conn::{self, Target};
use crate::diagnose::Code;
use crate::envload::Found;
use crate::pgurl::TlsMode;
use crate::pgurl::{PgUrl, Reader, UrlError};
use crate::repair::is_placeholder;

/// Parses the URL and builds the connection target; warns about what other
/// readers would read differently.
pub(super) fn check(
    var: &str,
    found: Option<&Found>,
    s: &Settings,
) -> (Outcome, Option<(PgUrl, Target)>) {
    let Some(found) = found else {
        return (fail(Code::UrlMissing, format!("{var} is not set"), format!("set {var} in .env.local (postgresql://USER:PASSWORD@HOST:5432/DATABASE), or run `cargo xtask dev-db up --write-env` for a local database")), None);
    };
    let url =
        match PgUrl::parse(&found.value) {
            Ok(u) => u,
            Err(UrlError::NotPostgres { scheme }) if scheme.starts_with("prisma+") => {
                return (
                    fail(
                        Code::UrlInvalid,
                        format!(
                    "{scheme}:// is Prisma Accelerate / Prisma Postgres, not a direct connection"
                ),
                        "migrations need the direct postgresql:// URL of the database",
                    ),
                    None,
                )
            }
            Err(e) => return (
                fail(
                    Code::UrlInvalid,
                    format!("{var} ({}): {e}", found.source),
                    "fix the URL: postgresql://USER:PASSWORD@HOST:5432/DATABASE?sslmode=require",
                ),
                None,
            ),
        };
    if url.password().is_some_and(|p| is_placeholder(p.expose())) {
        return (fail(Code::PasswordPlaceholder, format!("{var} ({}) has a placeholder instead of a password", found.source), "set the real password: printf '%s' \"$PASSWORD\" | cargo xtask env-fix --password-stdin"), None);
    }
    let target = match conn::target(&url, &s.project_dir, Duration::from_secs(10), s.timeout) {
        Ok(t) => t,
        Err(e) => return (fail(Code::UrlInvalid, e, "fix the URL's parameters"), None),
    };
    let notes = notes(&url, &target);
    let problems = problems(var, &url, found);
    let o = if problems.is_empty() {
        pass(notes.join("; "))
    } else {
        warn(notes.join("; "), problems.join("; "))
    };
    (o, Some((url, target)))
}

/// What the URL says, as the driver will use it.
fn notes(url: &PgUrl, target: &Target) -> Vec<String> {
    let mut notes = vec![format!(
        "user {}, database {}, sslmode={} ({})",
        url.user().unwrap_or("-"),
        url.database().unwrap_or("-"),
        target.tls.name(),
        match target.tls {
            TlsMode::Disable => "no encryption",
            TlsMode::Prefer => "encrypt if the server offers it, do not verify",
            TlsMode::Require => "encrypt, do not verify",
            TlsMode::VerifyCa => "encrypt, verify the chain",
            TlsMode::VerifyFull => "encrypt, verify the chain and host name",
        }
    )];
    let aside: Vec<String> = url
        .not_understood_by(Reader::RustPostgres)
        .iter()
        .map(|p| p.key.clone())
        .filter(|k| k != "sslrootcert")
        .collect();
    if !aside.is_empty() {
        notes.push(format!("set aside for the driver: {}", aside.join(", ")));
    }
    notes
}

/// Why Prisma may read another URL than this check does.
fn problems(var: &str, url: &PgUrl, found: &Found) -> Vec<String> {
    let mut problems = Vec::new();
    if !url.unencoded_userinfo().is_empty() {
        problems.push("the user or password has characters that must be percent-encoded; Prisma reads a different password: run `cargo xtask env-fix`".to_string());
    }
    if let Some(written) = &found.written {
        let written_url = PgUrl::parse(written).ok();
        let written_pw = written_url.as_ref().and_then(|u| u.password());
        if written_pw != url.password() {
            problems.push("dotenv substitution changes the password as written (a `$` was eaten): run `cargo xtask env-fix`".into());
        } else {
            problems.push("dotenv reads this value differently from what is written: run `cargo xtask env-fix`".into());
        }
    }
    if let Some(note) = crate::pgurl::host_list_note(url) {
        problems.push(note);
    }
    if let Some(file) = &found.shadowed {
        problems.push(format!("the shell's {var} overrides {file}: `unset {var}`"));
    }
    problems
}
