//! Warnings about a URL that env-fix leaves as it is: RDS Proxy and pooler
//! hosts used for migrations, `sslmode=verify-*` (which Prisma Migrate does
//! not understand), node-postgres's stricter `require`, unknown parameters,
//! and host lists, which only some readers support.

use super::{Finding, Kind, Options};
use crate::pgurl::{self, PgUrl};
use crate::poolers;

pub(super) fn url_warnings(var: &str, url: &PgUrl, opts: &Options, warnings: &mut Vec<Finding>) {
    let host = url.host();
    if host.contains(".proxy-") {
        warnings.push(Finding::new(var, Kind::RdsProxy, format!("{host} is an RDS Proxy endpoint: it pins sessions that take advisory locks and can cut migrations (P1017/P1002); point migrations at the instance endpoint (DIRECT_URL or datasource.url in prisma.config.ts)")));
    }
    if url.param("pgbouncer") == Some("true") || url.port() == 6543 {
        warnings.push(Finding::new(var, Kind::Pooler, format!("{host}:{} looks like a connection pooler (pgbouncer=true or port 6543): migrations need a direct connection on 5432", url.port())));
    }
    // `options` (what --statement-timeout writes) is refused at startup by
    // PgBouncer before 1.20 and by RDS Proxy: the session never starts.
    if let (Some(options), Some(pooler)) = (url.param("options"), poolers::named_by(url)) {
        let role = url.user().unwrap_or("app");
        let sql: Vec<String> = poolers::option_settings(options)
            .iter()
            .map(|(k, v)| poolers::alter_role_sql(role, k, v))
            .collect();
        warnings.push(Finding::new(var, Kind::OptionsViaPooler, format!("{} ({}) may refuse the `options` parameter at startup (PgBouncer: `unsupported startup parameter: options`; RDS Proxy: command-line options are not supported): set it on the role instead{}, or use this URL's options only on a direct connection", pooler.kind.label(), pooler.why, if sql.is_empty() { String::new() } else { format!(": `{}`", sql.join("; ")) })));
    }
    if let Some(mode) = url.param("sslmode").filter(|m| super::tls::is_weak(m)) {
        if !url.is_local() {
            warnings.push(Finding::new(var, Kind::Sslmode, format!("sslmode={mode} kept (--keep-sslmode) for {host}, which is not local: RDS refuses unencrypted connections (rds.force_ssl=1) and Prisma then reports P1017")));
        }
    }
    if let Some(mode @ ("verify-ca" | "verify-full")) = url.param("sslmode") {
        warnings.push(Finding::new(var, Kind::SslmodeVerify, format!("sslmode={mode} is not understood by Prisma Migrate, which falls back to `prefer` (and ignores sslrootcert); it verifies nothing there. Keep it for node-postgres, or use sslmode=require for migrations")));
    }
    if opts.adapter_pg
        && url.param("sslmode") == Some("require")
        && url.param("uselibpqcompat").is_none()
        && !url.is_local()
    {
        warnings.push(Finding::new(var, Kind::AdapterPgSslmode, "the app uses @prisma/adapter-pg: node-postgres treats sslmode=require as verify-full, which fails against RDS's Amazon CA; trust it (sslrootcert=global-bundle.pem or NODE_EXTRA_CA_CERTS) or add uselibpqcompat=true"));
    }
    if let Some(note) = pgurl::host_list_note(url) {
        warnings.push(Finding::new(var, Kind::HostList, note));
    }
    for p in url.params() {
        if !pgurl::known_to_any(&p.key) {
            warnings.push(Finding::new(var, Kind::UnknownParam, format!("parameter `{}` is understood by none of Prisma, node-postgres, libpq and the postgres crate: check its spelling", p.key)));
        }
    }
}
