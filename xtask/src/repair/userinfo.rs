//! The user name and password: a password given on standard input, a
//! template's placeholder left in place, characters a URL must not carry
//! bare (the encoding itself happens when the URL is rendered).

use std::sync::OnceLock;

use super::{Finding, Kind, Options};
use crate::pgurl::PgUrl;

/// Whether a password is a template's placeholder rather than a password.
pub fn is_placeholder(password: &str) -> bool {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(
        r"(?i)^(\[[^\]]*\]|<[^>]*>|\{[^}]*\}|your[-_ ]?(db[-_ ]?|database[-_ ]?)?pass(word)?.*|password|pass|changeme|change[-_]me|secret|placeholder|\*+|x{3,}|\.\.\.+)$",
    )
    .expect("placeholder pattern"));
    re.is_match(password.trim())
}

/// `--password-stdin` or `--password-from`: the new password replaces the old one.
pub(super) fn set_password(
    var: &str,
    url: &mut PgUrl,
    opts: &Options,
    changes: &mut Vec<Finding>,
) -> Result<(), String> {
    if let Some(p) = &opts.password {
        url.set_password(p);
        let origin = opts.password_origin.as_deref().unwrap_or("standard input");
        changes.push(Finding::new(
            var,
            Kind::Password,
            format!("password set from {origin}"),
        ));
    }
    Ok(())
}

/// A placeholder is refused: no repair turns it into the real password.
pub(super) fn refuse_placeholder(
    _var: &str,
    url: &mut PgUrl,
    _opts: &Options,
    _changes: &mut Vec<Finding>,
) -> Result<(), String> {
    match url.password() {
        Some(p) if is_placeholder(p.expose()) => Err("has a placeholder instead of a password: set the real one with `printf '%s' \"$PASSWORD\" | cargo xtask env-fix --password-stdin`".into()),
        _ => Ok(()),
    }
}

/// Reports the user or password written with characters that must be
/// percent-encoded; rendering the URL encodes them.
pub(super) fn encode(
    var: &str,
    url: &mut PgUrl,
    opts: &Options,
    changes: &mut Vec<Finding>,
) -> Result<(), String> {
    if opts.password.is_none() {
        for (part, _) in url.unencoded_userinfo() {
            changes.push(Finding::new(var, Kind::Encoding, format!("percent-encoded the {part}: it had characters a URL must not carry bare (such as @ # $ & / : % or a space)")));
        }
    }
    Ok(())
}
