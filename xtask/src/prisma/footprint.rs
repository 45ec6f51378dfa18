//! Whether a migration's changes are in the database: the objects its
//! `migration.sql` creates (tables, indexes, types, columns), read from
//! the file, and one SELECT that says which of them exist. After a failed
//! or interrupted run this is what tells `migrate resolve --rolled-back`
//! from `--applied`: PostgreSQL runs a migration file as one implicit
//! transaction, so normally none of it is there, but a file with its own
//! COMMIT, a statement that cannot run in a transaction, or a connection
//! lost after the commit leaves some or all of it.

use std::path::Path;

use crate::conn::Rows;

/// One object a migration creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Table(String),
    Index(String),
    Type(String),
    Column { table: String, column: String },
}

impl Object {
    /// As a sentence names it.
    pub fn describe(&self) -> String {
        match self {
            Object::Table(t) => format!("table \"{t}\""),
            Object::Index(i) => format!("index \"{i}\""),
            Object::Type(t) => format!("type \"{t}\""),
            Object::Column { table, column } => format!("column \"{table}\".\"{column}\""),
        }
    }

    /// A boolean SQL expression: whether it exists in `schema`.
    fn exists_sql(&self, schema: &str) -> String {
        let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let rel = |name: &str| {
            format!(
                "to_regclass(format('%I.%I', {}, {})) IS NOT NULL",
                lit(schema),
                lit(name)
            )
        };
        match self {
            Object::Table(t) | Object::Index(t) => rel(t),
            Object::Type(t) => format!("to_regtype(format('%I.%I', {}, {})) IS NOT NULL", lit(schema), lit(t)),
            Object::Column { table, column } => format!(
                "EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = {} AND table_name = {} AND column_name = {})",
                lit(schema),
                lit(table),
                lit(column)
            ),
        }
    }
}

/// The objects `sql` creates, in the file's order. Names are read as
/// Prisma writes them (double-quoted, optionally schema-qualified); an
/// unquoted name is folded to lower case, as PostgreSQL does.
pub fn created(sql: &str) -> Vec<Object> {
    let name = r#"(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)"#;
    let qualified = format!(r"(?:{name}\s*\.\s*)?({name})");
    let patterns = [
        (
            format!(r"(?i)\bCREATE\s+(?:UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{qualified}"),
            't',
        ),
        (
            format!(
                r"(?i)\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?({name})\s+ON\b"
            ),
            'i',
        ),
        (format!(r"(?i)\bCREATE\s+TYPE\s+{qualified}"), 'y'),
    ];
    let mut found: Vec<(usize, Object)> = Vec::new();
    for (p, kind) in &patterns {
        let re = regex::Regex::new(p).expect("footprint pattern");
        for c in re.captures_iter(sql) {
            let n = unquote(&c[1]);
            let at = c.get(0).map(|m| m.start()).unwrap_or(0);
            found.push((
                at,
                match kind {
                    't' => Object::Table(n),
                    'i' => Object::Index(n),
                    _ => Object::Type(n),
                },
            ));
        }
    }
    let alter = regex::Regex::new(&format!(
        r"(?is)\bALTER\s+TABLE\s+(?:ONLY\s+)?(?:IF\s+EXISTS\s+)?{qualified}\s+(.*?);"
    ))
    .expect("alter pattern");
    let add = regex::Regex::new(&format!(
        r"(?i)\bADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?({name})\s+[A-Za-z]"
    ))
    .expect("add pattern");
    for c in alter.captures_iter(sql) {
        let table = unquote(&c[1]);
        let at = c.get(0).map(|m| m.start()).unwrap_or(0);
        for a in add.captures_iter(&c[2]) {
            // `ADD CONSTRAINT ...`, `ADD PRIMARY KEY ...` add no column.
            let keyword = [
                "constraint",
                "primary",
                "unique",
                "foreign",
                "check",
                "exclude",
            ]
            .iter()
            .any(|k| a[1].eq_ignore_ascii_case(k));
            if !keyword {
                found.push((
                    at,
                    Object::Column {
                        table: table.clone(),
                        column: unquote(&a[1]),
                    },
                ));
            }
        }
    }
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, o)| o).collect()
}

/// Whether the file commits by itself: its own COMMIT or END, or a
/// statement that runs outside a transaction. Comments and `ON COMMIT`
/// (a temporary table's clause) do not count.
fn commits_itself(sql: &str) -> bool {
    let comments = regex::Regex::new(r"--[^\n]*").expect("comment pattern");
    let on_commit = regex::Regex::new(r"(?i)\bON\s+COMMIT\b").expect("on commit pattern");
    let code = comments.replace_all(sql, "");
    let code = on_commit.replace_all(&code, "");
    let commits =
        regex::Regex::new(r"(?i)\bCOMMIT\b|\bEND\s*;|\bCONCURRENTLY\b").expect("commit pattern");
    commits.is_match(&code)
}

fn unquote(n: &str) -> String {
    match n.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        Some(q) => q.replace("\"\"", "\""),
        None => n.to_lowercase(),
    }
}

/// How much of a migration the database has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    /// Every object it creates exists.
    All,
    /// None of them exists.
    None,
    /// Some exist (listed), some do not.
    Part {
        there: Vec<Object>,
        missing: Vec<Object>,
    },
    /// The file creates nothing this can look up (data changes, drops,
    /// renames), or the file is gone.
    Unknown,
}

/// A migration on disk and the objects it creates.
pub struct Footprint {
    pub objects: Vec<Object>,
    /// The file commits by itself (its own COMMIT, or a statement that
    /// runs outside a transaction): a failure may leave part of it.
    pub commits_itself: bool,
}

impl Footprint {
    /// Reads `prisma/migrations/NAME/migration.sql` under `project_dir`.
    pub fn read(project_dir: &Path, name: &str) -> Footprint {
        let path = project_dir
            .join("prisma")
            .join("migrations")
            .join(name)
            .join("migration.sql");
        let sql = std::fs::read_to_string(path).unwrap_or_default();
        Footprint {
            objects: created(&sql),
            commits_itself: commits_itself(&sql),
        }
    }

    /// One SELECT with one boolean column per object; None when there is
    /// nothing to look up.
    pub fn sql(&self, schema: &str) -> Option<String> {
        (!self.objects.is_empty()).then(|| {
            let cols: Vec<String> = self.objects.iter().map(|o| o.exists_sql(schema)).collect();
            format!("SELECT {}", cols.join(", "))
        })
    }

    /// The answer to `sql`.
    pub fn presence(&self, rows: Option<&Rows>) -> Presence {
        let Some(row) = rows.and_then(|r| r.first()) else {
            return Presence::Unknown;
        };
        if row.len() != self.objects.len() {
            return Presence::Unknown;
        }
        let (mut there, mut missing) = (Vec::new(), Vec::new());
        for (o, v) in self.objects.iter().zip(row) {
            if v.as_deref() == Some("t") {
                there.push(o.clone());
            } else {
                missing.push(o.clone());
            }
        }
        match (there.is_empty(), missing.is_empty()) {
            (true, _) => Presence::None,
            (false, true) => Presence::All,
            (false, false) => Presence::Part { there, missing },
        }
    }
}

impl Presence {
    /// What the schema says, and the `migrate resolve` that matches it.
    pub fn verdict(&self, name: &str) -> (String, String) {
        let list = |v: &[Object]| {
            v.iter()
                .map(Object::describe)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Presence::None => (
                "none of its changes are in the database (what it creates is not there): PostgreSQL rolled it back".into(),
                format!("`npx prisma migrate resolve --rolled-back {name}`"),
            ),
            Presence::All => (
                "its changes are in the database (everything it creates is there): it was committed".into(),
                format!("`npx prisma migrate resolve --applied {name}`"),
            ),
            Presence::Part { there, missing } => (
                format!("part of it is in the database ({} there; {} missing)", list(there), list(missing)),
                format!("finish the missing part or undo the part that is there by hand, then `npx prisma migrate resolve --applied {name}` (or `--rolled-back {name}` after undoing it)"),
            ),
            Presence::Unknown => (
                "the schema cannot tell whether its changes are there (the file creates no table, index, type or column)".into(),
                format!("check its changes by hand, then `npx prisma migrate resolve --rolled-back {name}` if they are not there, or `--applied {name}` if they are"),
            ),
        }
    }
}

impl Presence {
    /// The same after a failed script: PostgreSQL rolled its transaction
    /// back, so what the schema has was there before it ran.
    pub fn verdict_after_rollback(&self, name: &str) -> (String, String) {
        match self {
            Presence::All => (
                "PostgreSQL rolled the failed script back, yet everything it creates exists: it was there before the script ran (made by hand, or by another tool)".into(),
                format!("if it is what the migration makes, `npx prisma migrate resolve --applied {name}`; if not, drop it and `npx prisma migrate resolve --rolled-back {name}`"),
            ),
            Presence::Part { there, .. } => (
                format!(
                    "PostgreSQL rolled the failed script back, yet {} exist: they were there before it ran",
                    there.iter().map(Object::describe).collect::<Vec<_>>().join(", ")
                ),
                format!("drop them or change the migration, then `npx prisma migrate resolve --rolled-back {name}`"),
            ),
            Presence::None | Presence::Unknown => (
                "PostgreSQL rolled it back (the file runs as one transaction): none of its changes are in the database".into(),
                format!("`npx prisma migrate resolve --rolled-back {name}`"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_prisma_generated_sql_creates() {
        // The shape `prisma migrate dev` writes (the app's own init).
        let sql = r#"-- CreateEnum
CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN');

-- CreateTable
CREATE TABLE "User" (
    "id" SERIAL NOT NULL,
    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");

-- AlterTable
ALTER TABLE "Listing" ADD COLUMN     "notes" TEXT,
ADD COLUMN     "score" INTEGER NOT NULL DEFAULT 0;

-- AddForeignKey
ALTER TABLE "Saved" ADD CONSTRAINT "Saved_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id");
"#;
        assert_eq!(
            created(sql),
            [
                Object::Type("Role".into()),
                Object::Table("User".into()),
                Object::Index("User_email_key".into()),
                Object::Column {
                    table: "Listing".into(),
                    column: "notes".into()
                },
                Object::Column {
                    table: "Listing".into(),
                    column: "score".into()
                },
            ]
        );
    }

    #[test]
    fn hand_written_forms() {
        let sql = "create table if not exists public.slow (i int); SELECT pg_sleep(3);\nCREATE INDEX CONCURRENTLY idx ON slow(i);";
        assert_eq!(
            created(sql),
            [Object::Table("slow".into()), Object::Index("idx".into())]
        );
        assert!(created("SELECT pg_sleep(30);\nUPDATE \"User\" SET x = 1;").is_empty());
    }

    #[test]
    fn files_that_commit_by_themselves() {
        assert!(commits_itself(
            "CREATE TABLE a (i int);\nCOMMIT;\nCREATE TABLE b (i int);"
        ));
        assert!(commits_itself("BEGIN; CREATE TABLE a (i int); END;\n"));
        assert!(commits_itself("CREATE INDEX CONCURRENTLY i ON t (c);"));
        assert!(!commits_itself(
            "-- commit this later\nCREATE TEMP TABLE t (i int) ON COMMIT DROP;"
        ));
        assert!(!commits_itself("CREATE TABLE \"User\" (id int);"));
    }

    #[test]
    fn presence_from_the_answer() {
        let f = Footprint {
            objects: vec![Object::Table("A".into()), Object::Index("i".into())],
            commits_itself: false,
        };
        let row = |a: &str, b: &str| vec![vec![Some(a.to_string()), Some(b.to_string())]];
        assert_eq!(f.presence(Some(&row("t", "t"))), Presence::All);
        assert_eq!(f.presence(Some(&row("f", "f"))), Presence::None);
        assert!(matches!(
            f.presence(Some(&row("t", "f"))),
            Presence::Part { .. }
        ));
        assert_eq!(f.presence(None), Presence::Unknown);
        assert!(f
            .sql("public")
            .unwrap()
            .contains("to_regclass(format('%I.%I', 'public', 'A'))"));
        assert!(Presence::None
            .verdict("20261201_x")
            .1
            .contains("--rolled-back 20261201_x"));
    }
}
