//! Every read-only check after authentication in one round trip: the
//! query, server and migrations checks' statements go to the server as one
//! simple-protocol batch, and each check reads its own statement's rows.
//! The `_prisma_migrations` read comes last; where the table does not
//! exist it returns no rows and logs no error (`prisma::table`).

use std::time::Duration;

use super::{migrations, server, Layer, Settings};
use crate::conn::{Batch, BatchError, Rows, Session};
use crate::pgurl::PgUrl;

/// The statements, in the order they are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Statement {
    Version,
    Server,
    Timeouts,
    Privileges,
    LockHolder,
    MigrationsTable,
    Migrations,
}

const ORDER: [Statement; 7] = [
    Statement::Version,
    Statement::Server,
    Statement::Timeouts,
    Statement::Privileges,
    Statement::LockHolder,
    Statement::MigrationsTable,
    Statement::Migrations,
];

/// What the batch returned, by statement.
pub(super) struct Reads {
    batch: Batch,
}

impl Reads {
    /// A statement's rows, or why there are none.
    pub(super) fn rows(&self, s: Statement) -> Result<&Rows, String> {
        let i = ORDER.iter().position(|x| *x == s).unwrap_or(0);
        match self.batch.results.get(i) {
            Some(rows) => Ok(rows),
            None if i == self.batch.results.len() => Err(self
                .batch
                .error
                .as_ref()
                .map(BatchError::text)
                .unwrap_or_else(|| "no answer".into())),
            None => Err("not run: an earlier statement failed".into()),
        }
    }

    /// The first row of a statement.
    pub(super) fn row(&self, s: Statement) -> Result<&[Option<String>], String> {
        self.rows(s)?
            .first()
            .map(Vec::as_slice)
            .ok_or_else(|| "no row".to_string())
    }
}

/// Sends the statements the checks up to `s.upto` need, in one round trip.
pub(super) fn read(session: &mut Session, url: &PgUrl, s: &Settings, bound: Duration) -> Reads {
    let schema = url.param("schema").unwrap_or("public");
    let mut sql = vec!["SELECT version(), pg_backend_pid()".to_string()];
    if s.upto >= Layer::Server {
        sql.push(server::SQL.to_string());
        sql.push(server::TIMEOUTS_SQL.to_string());
    }
    if s.upto >= Layer::Migrations {
        sql.extend(migrations::statements(schema));
    }
    Reads {
        batch: session.batch(&sql.join(";\n"), bound),
    }
}
