//! `statement_timeout` in the one form all four readers honour:
//! `options=-c statement_timeout=MS`. Prisma drops a bare
//! `statement_timeout=` parameter and libpq rejects it.

use super::{Finding, Kind, Options};
use crate::pgurl::PgUrl;

pub(super) fn into_options(
    var: &str,
    url: &mut PgUrl,
    opts: &Options,
    changes: &mut Vec<Finding>,
) -> Result<(), String> {
    if let Some(ms) = url.move_statement_timeout_into_options() {
        changes.push(Finding::new(var, Kind::StatementTimeout, format!("moved statement_timeout={ms} into options=-c statement_timeout={ms}: Prisma drops the bare parameter and libpq rejects it")));
    }
    if let Some(ms) = opts.statement_timeout {
        if url.options_statement_timeout() != Some(ms) {
            url.set_option_setting("statement_timeout", &ms.to_string());
            changes.push(Finding::new(
                var,
                Kind::StatementTimeout,
                format!("set options=-c statement_timeout={ms}"),
            ));
        }
    }
    Ok(())
}
