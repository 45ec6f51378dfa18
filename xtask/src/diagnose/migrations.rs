//! The migrations layer: what Prisma Migrate needs beyond a session:
//! CREATEDB for the shadow database, a clean _prisma_migrations, a free
//! advisory lock.

use super::batch::{Reads, Statement};
use super::{fail, pass, warn, Code, Outcome, Settings};
use crate::pgurl::PgUrl;
use crate::prisma::table::{
    local_migrations, lock_holder, migration_rows, migrations_sql, MigrationRows, LOCK_HOLDER_SQL,
};

/// This check's statements for the batch, in its order: CREATEDB, the
/// lock's holder, then `_prisma_migrations` (last: it fails without the table).
pub(super) fn statements(schema: &str) -> [String; 3] {
    [
        "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user".to_string(),
        LOCK_HOLDER_SQL.to_string(),
        migrations_sql(schema),
    ]
}

pub(super) fn check(reads: &Reads, url: &PgUrl, s: &Settings) -> (Outcome, Option<()>) {
    let mut notes = Vec::new();
    let mut hints = Vec::new();
    let can_create = reads
        .row(Statement::CreateDb)
        .is_ok_and(|r| r.first().and_then(|v| v.as_deref()) == Some("t"));
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
    let rows = match reads.rows(Statement::Migrations) {
        Ok(rows) => Some(migration_rows(rows)),
        // Only a missing table means "not migrated yet"; anything else
        // (permission denied, a broken connection) is said as it is.
        Err(_) if reads.missing_table(Statement::Migrations) => None,
        Err(e) => {
            hints.push(format!("cannot read {schema}._prisma_migrations ({e}): Prisma needs to; check the user's grants on it"));
            None
        }
    };
    match rows {
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
        None if reads.missing_table(Statement::Migrations) => notes.push(format!(
            "no _prisma_migrations table in schema {schema} yet"
        )),
        None => {}
    }
    if let Some((pid, holder)) = reads.rows(Statement::LockHolder).ok().and_then(lock_holder) {
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
