//! TLS: a host that is not local gets `sslmode=require`, since RDS refuses
//! plain connections (`rds.force_ssl=1`) and Prisma reports that as P1017.
//! A weaker mode (`disable`, `allow`, `prefer`) is raised too, unless
//! `--keep-sslmode`; an invalid one is an error, as it is to every reader.

use super::{Finding, Kind, Options};
use crate::pgurl::PgUrl;

/// The modes libpq accepts (and `no-verify`, node-postgres's own).
const VALID: [&str; 7] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
    "no-verify",
];

/// The modes that may leave a connection unencrypted.
pub(super) fn is_weak(mode: &str) -> bool {
    matches!(mode, "disable" | "allow" | "prefer")
}

pub(super) fn require_tls(
    var: &str,
    url: &mut PgUrl,
    opts: &Options,
    changes: &mut Vec<Finding>,
) -> Result<(), String> {
    let current = url.param("sslmode").map(str::to_string);
    if let Some(mode) = current.as_deref().filter(|m| !VALID.contains(m)) {
        return Err(format!(
            "has sslmode=`{mode}`, which is not one of {}: fix it (sslmode=require for RDS)",
            VALID[..6].join(", ")
        ));
    }
    // Asked for: the same on every host. A local server that requires TLS
    // (the dev-db, a Docker image with ssl=on) needs it; nothing else tells
    // env-fix so, since it does not connect.
    if let Some(want) = &opts.sslmode {
        if !VALID.contains(&want.as_str()) {
            return Err(format!(
                "--sslmode {want} is not one of {}",
                VALID[..6].join(", ")
            ));
        }
        if current.as_deref() != Some(want.as_str()) {
            url.set_param("sslmode", want);
            changes.push(Finding::new(
                var,
                Kind::Sslmode,
                format!("set sslmode={want} (--sslmode)"),
            ));
        }
        return Ok(());
    }
    if url.is_local() {
        return Ok(());
    }
    match current.as_deref() {
        None => {
            url.set_param("sslmode", "require");
            changes.push(Finding::new(var, Kind::Sslmode, format!("added sslmode=require: {} is not a local host, so the connection must be encrypted (RDS refuses plain connections)", url.host())));
        }
        Some(mode) if is_weak(mode) && !opts.keep_sslmode => {
            url.set_param("sslmode", "require");
            changes.push(Finding::new(var, Kind::Sslmode, format!("raised sslmode={mode} to require: {} is not a local host, and RDS refuses plain connections (rds.force_ssl=1), which Prisma reports as P1017; --keep-sslmode keeps it", url.host())));
        }
        Some(_) => {}
    }
    Ok(())
}
