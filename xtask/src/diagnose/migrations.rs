//! The migrations layer: what Prisma Migrate needs beyond a session:
//! CREATEDB for the shadow database, a clean _prisma_migrations, a free
//! advisory lock.

use super::{fail, pass, warn, Code, Outcome, Settings};
use crate::pgurl::PgUrl;
use crate::prisma::table::{
    advisory_lock_holder, local_migrations, prisma_migrations, MigrationRows,
};

pub(super) fn check(
    client: &mut postgres::Client,
    url: &PgUrl,
    s: &Settings,
) -> (Outcome, Option<()>) {
    let mut notes = Vec::new();
    let mut hints = Vec::new();
    let can_create: bool = client
        .query_one(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .map(|r| r.get(0))
        .unwrap_or(false);
    if can_create {
        notes.push("may create databases (shadow database ok)".to_string());
    } else if s.shadow_configured {
        notes.push("cannot create databases; SHADOW_DATABASE_URL is set".to_string());
    } else {
        notes.push("cannot create databases".to_string());
        hints.push("`migrate dev` creates a shadow database and will fail with P3014: GRANT CREATEDB to this user, or set datasource.shadowDatabaseUrl in prisma.config.ts (SHADOW_DATABASE_URL)".to_string());
    }
    let schema = url.param("schema").unwrap_or("public").to_string();
    let mut failed = Vec::new();
    match prisma_migrations(client, &schema) {
        Some(MigrationRows { applied, failed: f }) => {
            failed = f;
            notes.push(format!("{} migration(s) applied", applied.len()));
            let local = local_migrations(&s.project_dir);
            let pending: Vec<&str> = local
                .iter()
                .filter(|m| !applied.contains(m))
                .map(String::as_str)
                .collect();
            if !pending.is_empty() {
                notes.push(format!(
                    "{} local migration(s) not applied yet: {}",
                    pending.len(),
                    pending.join(", ")
                ));
            }
        }
        None => notes.push(format!(
            "no _prisma_migrations table in schema {schema} yet"
        )),
    }
    if let Some((pid, holder)) = advisory_lock_holder(client) {
        notes.push(format!(
            "Prisma's advisory lock 72707369 is held by {holder}"
        ));
        hints.push(format!("another migration holds the lock, and Prisma gives up after 10s (P1002): wait for it, or end it with SELECT pg_terminate_backend({pid})"));
    }
    let detail = notes.join("; ");
    if !failed.is_empty() {
        return (
            fail(Code::MigrationFailed, format!("{detail}; failed migration(s): {}", failed.join(", ")), format!("Prisma refuses to migrate until they are resolved (P3009): fix the database, then `npx prisma migrate resolve --rolled-back {}` (or --applied)", failed[0])),
            None,
        );
    }
    if hints.is_empty() {
        (pass(detail), Some(()))
    } else {
        (warn(detail, hints.join("; ")), Some(()))
    }
}
