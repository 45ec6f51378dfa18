//! The migrations layer: what Prisma Migrate needs beyond a session:
//! CREATEDB for the shadow database, a clean _prisma_migrations, a free
//! advisory lock.

use super::batch::{Reads, Statement};
use super::{fail, pass, warn, Code, Outcome, Settings, Shadow};
use crate::pgurl::PgUrl;
use crate::prisma::table::{
    local_migrations, lock_holder, migration_rows, migrations_sql, migrations_table_sql,
    MigrationRows, LOCK_HOLDER_SQL,
};

/// This check's statements for the batch, in its order: the role's
/// privileges and limits, the lock's holder, then `_prisma_migrations`
/// (last: it fails without the table).
pub(super) fn statements(schema: &str) -> [String; 4] {
    [
        privileges_sql(schema),
        LOCK_HOLDER_SQL.to_string(),
        migrations_table_sql(schema),
        migrations_sql(schema),
    ]
}

/// What the role may do, and the connection limits that apply to it:
/// CREATEDB (the shadow database), whether the schema exists, CREATE in
/// it, CREATE in the database (Prisma creates a missing schema), the
/// role's and the database's connection limits and their use now.
fn privileges_sql(schema: &str) -> String {
    format!(
        "SELECT r.rolcreatedb OR r.rolsuper, n.oid IS NOT NULL, \
            COALESCE(has_schema_privilege(n.oid, 'CREATE'), false), \
            has_database_privilege(current_database(), 'CREATE'), \
            r.rolconnlimit, (SELECT count(*) FROM pg_stat_activity WHERE usename = current_user)::int, \
            d.datconnlimit, (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database())::int, \
            current_user, current_database() \
         FROM pg_roles r CROSS JOIN pg_database d LEFT JOIN pg_namespace n ON n.nspname = '{}' \
         WHERE r.rolname = current_user AND d.datname = current_database()",
        schema.replace('\'', "''")
    )
}

/// The connections a migrate command opens: `migrate dev` a second one
/// for the shadow database.
fn connections_needed(s: &Settings) -> i64 {
    if s.shadow == Shadow::Created {
        2
    } else {
        1
    }
}

/// The Privileges statement's row: what the role may do and its limits.
struct Role<'a>(&'a [Option<String>]);

impl<'a> Role<'a> {
    fn read(reads: &'a Reads) -> Option<Role<'a>> {
        reads.row(Statement::Privileges).ok().map(Role)
    }
    fn col(&self, i: usize) -> String {
        self.0.get(i).cloned().flatten().unwrap_or_default()
    }
    fn yes(&self, i: usize) -> bool {
        self.col(i) == "t"
    }

    /// What stops a migration: (what, the fix with its SQL), each.
    fn shortfalls(
        &self,
        schema: &str,
        s: &Settings,
        notes: &mut Vec<String>,
    ) -> Vec<(String, String)> {
        let (role, database) = (self.col(8), self.col(9));
        let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let mut failures = Vec::new();
        if !self.yes(1) && !self.yes(3) {
            failures.push((
                format!("schema {schema} does not exist and {role} may not create it"),
                format!("Prisma runs CREATE SCHEMA first and fails (permission denied for database {database}): as the database owner, `CREATE SCHEMA {} AUTHORIZATION {}` or `GRANT CREATE ON DATABASE {} TO {}`", quoted(schema), quoted(&role), quoted(&database), quoted(&role)),
            ));
        } else if !self.yes(1) {
            notes.push(format!(
                "schema {schema} does not exist yet; {role} may create it"
            ));
        } else if !self.yes(2) {
            failures.push((
                format!("{role} may not create objects in schema {schema}"),
                format!("every migration that creates a table fails (42501, permission denied for schema {schema}): as its owner, `GRANT CREATE ON SCHEMA {} TO {}`", quoted(schema), quoted(&role)),
            ));
        }
        let need = connections_needed(s);
        for (limit, used, what, sql) in [
            (
                4,
                5,
                format!("role {role}"),
                format!("ALTER ROLE {} CONNECTION LIMIT", quoted(&role)),
            ),
            (
                6,
                7,
                format!("database {database}"),
                format!("ALTER DATABASE {} CONNECTION LIMIT", quoted(&database)),
            ),
        ] {
            let (Ok(limit), Ok(used)) = (
                self.col(limit).parse::<i64>(),
                self.col(used).parse::<i64>(),
            ) else {
                continue;
            };
            if limit < 0 {
                continue;
            }
            // This session is counted in `used` and ends before Prisma starts.
            let free = limit - used + 1;
            notes.push(format!("{what}: connection limit {limit}, {used} in use"));
            if free < need {
                failures.push((
                    format!("{what} allows {limit} connection(s) and {used} are in use (this check's included): the migration needs {need}"),
                    format!("Prisma fails with `too many connections for {what}` (53300): close idle sessions of {what}, or raise the limit: `{sql} {}`", used - 1 + need),
                ));
            }
        }
        failures
    }
}

pub(super) fn check(reads: &Reads, url: &PgUrl, s: &Settings) -> (Outcome, Option<()>) {
    let mut notes = Vec::new();
    let mut hints = Vec::new();
    let schema = url.param("schema").unwrap_or("public").to_string();
    let role = Role::read(reads);
    let failures = role
        .as_ref()
        .map(|r| r.shortfalls(&schema, s, &mut notes))
        .unwrap_or_default();
    let can_create = role.as_ref().is_some_and(|r| r.yes(0));
    let role = role.map(|r| r.col(8)).unwrap_or_default();
    shadow(can_create, &role, s, &mut notes, &mut hints);
    let failed = history(reads, &schema, s, &mut notes, &mut hints);
    if let Some(h) = reads.rows(Statement::LockHolder).ok().and_then(lock_holder) {
        notes.push(format!(
            "Prisma's advisory lock 72707369 is held by {}",
            h.described
        ));
        hints.push(format!(
            "another session holds Prisma's migration lock: {}",
            h.advice()
        ));
    }
    let detail = notes.join("; ");
    if !failures.is_empty() {
        let (what, fixes): (Vec<String>, Vec<String>) = failures.into_iter().unzip();
        return (
            fail(
                Code::MigrationRoleLacks,
                format!("{detail}; {}", what.join("; ")),
                fixes.join("; "),
            ),
            None,
        );
    }
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

/// `_prisma_migrations`: applied, failed, and the local migrations not
/// applied yet; the failed ones returned.
fn history(
    reads: &Reads,
    schema: &str,
    s: &Settings,
    notes: &mut Vec<String>,
    hints: &mut Vec<String>,
) -> Vec<String> {
    let mut failed = Vec::new();
    let missing = reads
        .row(Statement::MigrationsTable)
        .is_ok_and(|r| r.first().and_then(|v| v.as_deref()) == Some("f"));
    let rows = match reads.rows(Statement::Migrations) {
        // Only a missing table means "not migrated yet"; anything else
        // (permission denied, a broken connection) is said as it is.
        _ if missing => None,
        Ok(rows) => Some(migration_rows(rows)),
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
        None if missing => notes.push(format!(
            "no _prisma_migrations table in schema {schema} yet"
        )),
        None => {}
    }
    failed
}

/// What `migrate dev`'s shadow database needs of the role.
fn shadow(
    can_create: bool,
    role: &str,
    s: &Settings,
    notes: &mut Vec<String>,
    hints: &mut Vec<String>,
) {
    if can_create {
        notes.push("may create databases (shadow database ok)".to_string());
    } else if s.shadow == Shadow::Configured {
        notes.push("cannot create databases; SHADOW_DATABASE_URL is set".to_string());
    } else if s.shadow == Shadow::Unused {
        notes.push("cannot create databases (migrate deploy needs no shadow database)".to_string());
    } else {
        notes.push("cannot create databases".to_string());
        hints.push(format!("`migrate dev` creates a shadow database and will fail with P3014: `ALTER ROLE \"{}\" CREATEDB` (as an admin), or set datasource.shadowDatabaseUrl in prisma.config.ts (SHADOW_DATABASE_URL)", role.replace('"', "\"\"")));
    }
}
