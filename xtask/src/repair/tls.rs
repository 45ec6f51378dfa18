//! TLS: a host that is not local gets `sslmode=require`, since RDS refuses
//! plain connections (`rds.force_ssl=1`) and Prisma reports that as P1017.

use super::{Finding, Kind, Options};
use crate::pgurl::PgUrl;

pub(super) fn require_tls(
    var: &str,
    url: &mut PgUrl,
    _opts: &Options,
    changes: &mut Vec<Finding>,
) -> Result<(), String> {
    if !url.is_local() && url.param("sslmode").is_none() {
        url.set_param("sslmode", "require");
        changes.push(Finding::new(var, Kind::Sslmode, format!("added sslmode=require: {} is not a local host, so the connection must be encrypted (RDS refuses plain connections)", url.host())));
    }
    Ok(())
}
