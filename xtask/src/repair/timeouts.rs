//! `connect_timeout` and `pool_timeout`: added when missing, raised when
//! lower than the minimum, never lowered. Prisma's defaults (5 s and 10 s)
//! are shorter than a cold RDS connection over a VPN. A value that is not a
//! number of seconds is an error: each reader treats it differently.

use super::{Finding, Kind, Options};
use crate::pgurl::PgUrl;

pub(super) fn raise(
    var: &str,
    url: &mut PgUrl,
    opts: &Options,
    changes: &mut Vec<Finding>,
) -> Result<(), String> {
    for (key, kind, min) in [
        (
            "connect_timeout",
            Kind::ConnectTimeout,
            opts.connect_timeout,
        ),
        ("pool_timeout", Kind::PoolTimeout, opts.pool_timeout),
    ] {
        let detail = match url.param(key).map(|v| v.parse::<u64>()) {
            None => format!("added {key}={min}"),
            // 0 means "no limit" to Prisma and libpq: never lower than any minimum.
            Some(Ok(0)) => continue,
            Some(Ok(v)) if v < min => format!("raised {key} from {v} to {min}"),
            Some(Ok(_)) => continue,
            Some(Err(_)) => {
                let old = url.param(key).unwrap_or_default();
                return Err(format!("has {key}=`{old}`, which is not a whole number of seconds: write {key}={min} (0 means no limit)"));
            }
        };
        url.set_param(key, &min.to_string());
        changes.push(Finding::new(var, kind, detail));
    }
    Ok(())
}
