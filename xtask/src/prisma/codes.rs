//! Reading what the Prisma CLI printed: error codes in both of its framings,
//! engine download failures, the missing-variable config error, the
//! migrations it applied; which failures are worth a retry, and the fix for
//! each, tied to the layer db-test checks.

/// A Prisma error code (`P1017`); the ones the xtask explains are variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    P1000,
    P1001,
    P1002,
    P1003,
    P1010,
    P1011,
    P1017,
    P3009,
    P3014,
    P3018,
    Other(String),
}

impl ErrorCode {
    const KNOWN: [ErrorCode; 10] = [
        ErrorCode::P1000,
        ErrorCode::P1001,
        ErrorCode::P1002,
        ErrorCode::P1003,
        ErrorCode::P1010,
        ErrorCode::P1011,
        ErrorCode::P1017,
        ErrorCode::P3009,
        ErrorCode::P3014,
        ErrorCode::P3018,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::P1000 => "P1000",
            ErrorCode::P1001 => "P1001",
            ErrorCode::P1002 => "P1002",
            ErrorCode::P1003 => "P1003",
            ErrorCode::P1010 => "P1010",
            ErrorCode::P1011 => "P1011",
            ErrorCode::P1017 => "P1017",
            ErrorCode::P3009 => "P3009",
            ErrorCode::P3014 => "P3014",
            ErrorCode::P3018 => "P3018",
            ErrorCode::Other(c) => c,
        }
    }
}

impl From<&str> for ErrorCode {
    fn from(code: &str) -> ErrorCode {
        ErrorCode::KNOWN
            .into_iter()
            .find(|k| k.as_str() == code)
            .unwrap_or_else(|| ErrorCode::Other(code.to_string()))
    }
}

/// What Prisma's output says went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// `Error: P1017: ...` or `Error: P1017` + blank line + message.
    Code(ErrorCode),
    /// The schema engine could not be downloaded.
    EngineDownload,
    /// PRISMA_SCHEMA_ENGINE_BINARY names a missing file.
    EnginePath,
    /// prisma.config.ts reads a variable that is not set.
    EnvMissing(String),
    /// `migrate dev` needed a prompt and had no terminal.
    NonInteractive,
    /// `migrate status`: migrations on disk the database has not applied
    /// (a never-migrated database, or one behind).
    NotApplied,
    /// `migrate status`: the database's history and the files disagree.
    Diverged,
    /// `migrate status`: tables exist but no `_prisma_migrations` (baseline).
    NotManaged,
    /// The schema engine ended without answering (killed, out of memory,
    /// crashed): Prisma says `Error in Schema engine`, or (`migrate
    /// deploy`) exits 0 without saying it finished.
    EngineEnded,
    /// `migrate dev`: the database drifted from the migration history and
    /// Prisma wants to reset it (it exits 130 without a terminal).
    ResetNeeded,
}

impl Failure {
    /// A stable code for JSON and summaries.
    pub fn code(&self) -> String {
        match self {
            Failure::Code(c) => c.as_str().to_string(),
            Failure::EngineDownload => "engine_download".into(),
            Failure::EnginePath => "engine_path".into(),
            Failure::EnvMissing(_) => "env_missing".into(),
            Failure::NonInteractive => "non_interactive".into(),
            Failure::NotApplied => "not_applied".into(),
            Failure::Diverged => "history_diverged".into(),
            Failure::NotManaged => "not_managed".into(),
            Failure::EngineEnded => "engine_ended".into(),
            Failure::ResetNeeded => "reset_needed".into(),
        }
    }
}

/// Removes ANSI colour sequences (at a terminal the CLI colours the code).
pub fn strip_ansi(s: &str) -> String {
    let re = regex::Regex::new(r"\x1b\[[0-9;]*[A-Za-z]").expect("ansi pattern");
    re.replace_all(s, "").into_owned()
}

/// Reads the first failure from the CLI's output.
pub fn classify(output: &str) -> Option<Failure> {
    let text = strip_ansi(output);
    let code = regex::Regex::new(r"(?m)^Error: (P\d{4})(?::|[ \t]*\r?$)").expect("code pattern");
    if let Some(c) = code.captures(&text) {
        return Some(Failure::Code(c[1].into()));
    }
    if text.contains("PRISMA_SCHEMA_ENGINE_BINARY is provided but provided path") {
        return Some(Failure::EnginePath);
    }
    let download = regex::Regex::new(
        r"(?m)^Error: request to \S*(schema-engine|binaries\.prisma\.sh)\S* failed",
    )
    .expect("download pattern");
    if download.is_match(&text) {
        return Some(Failure::EngineDownload);
    }
    let env = regex::Regex::new(r"Cannot resolve environment variable: ([A-Za-z_][A-Za-z0-9_]*)")
        .expect("env pattern");
    if let Some(c) = env.captures(&text) {
        return Some(Failure::EnvMissing(c[1].to_string()));
    }
    // The CLI's words when its engine exits on a signal or panics.
    if text.contains("Error in Schema engine") {
        return Some(Failure::EngineEnded);
    }
    if text.contains("We need to reset the") {
        return Some(Failure::ResetNeeded);
    }
    if text.contains("environment is non-interactive") {
        return Some(Failure::NonInteractive);
    }
    // `migrate status`'s own sentences (prisma 7.10.1, build/cli.js). The
    // diverged message also lists what "has not yet been applied", so it
    // is read first.
    if text.contains(
        "Your local migration history and the migrations table from your database are different",
    ) {
        return Some(Failure::Diverged);
    }
    if text.contains("have not yet been applied") {
        return Some(Failure::NotApplied);
    }
    if text.contains("The current database is not managed by Prisma Migrate") {
        return Some(Failure::NotManaged);
    }
    None
}

/// What P3018 says about the migration script that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub migration: String,
    /// The SQLSTATE ("none" when the connection broke) as Prisma prints it.
    pub sqlstate: String,
    /// The database's message (masked), first line.
    pub message: String,
}

/// Reads P3018's "Migration name", "Database error code" and "Database
/// error" (the native engine's words, which the engine host keeps).
pub fn script_error(output: &str) -> Option<ScriptError> {
    let text = strip_ansi(output);
    let name = regex::Regex::new(r"Migration name: (\S+)").expect("name pattern");
    let code = regex::Regex::new(r"Database error code: (\S+)").expect("code pattern");
    let message = regex::Regex::new(r"Database error:\s*\n\s*([^\n]+)").expect("message pattern");
    Some(ScriptError {
        migration: name.captures(&text)?[1].to_string(),
        sqlstate: code
            .captures(&text)
            .map(|c| c[1].to_string())
            .unwrap_or_else(|| "none".into()),
        message: message
            .captures(&text)
            .map(|c| crate::secret::redact(c[1].trim()))
            .unwrap_or_default(),
    })
}

/// The migration names listed after "have been applied" or "created and applied".
pub fn applied_migrations(stdout: &str) -> Vec<String> {
    let text = strip_ansi(stdout);
    let mut names = Vec::new();
    let mut in_list = false;
    for line in text.lines() {
        if line.contains("have been applied") || line.contains("have been created and applied") {
            in_list = true;
            continue;
        }
        if in_list {
            let t = line.trim_start_matches([' ', '└', '─', '├', '│']).trim();
            if let Some(name) = t.strip_suffix('/') {
                if name != "migrations" && name != "prisma/migrations" {
                    names.push(name.to_string());
                }
            } else if t.starts_with("All migrations") || t.starts_with("Your database is now") {
                in_list = false;
            }
        }
    }
    names
}

/// Whether a failure is worth trying again: the connection broke, the
/// server was out of reach for a moment, or another migration held the lock.
pub fn is_transient(f: &Failure) -> bool {
    matches!(
        f,
        Failure::Code(ErrorCode::P1017 | ErrorCode::P1001 | ErrorCode::P1002)
    )
}

/// A short explanation and the fix, tied to the layer db-test checks.
/// `wasm_rerun` is the same command with `--engine wasm` (None when it
/// already ran the WebAssembly engine), the fix for a failed download.
pub fn explain(f: &Failure, non_tty: bool, wasm_rerun: Option<&str>) -> (String, String) {
    let (what, fix): (&str, String) = match f {
        Failure::Code(c) => match c {
            ErrorCode::P1000 => ("authentication failed", "the password is wrong, or its @ # $ & are not percent-encoded, or dotenv ate a `$`: run `cargo xtask env-fix` (layer: auth)".into()),
            ErrorCode::P1001 => ("the database server could not be reached", "security group inbound rule for your IP on 5432, instance status and endpoint, VPN (layer: tcp)".into()),
            ErrorCode::P1002 => ("timed out waiting for Prisma's advisory lock 72707369", "another migration holds the lock, or a pooler / RDS Proxy is in the path: wait, end the holder, or use the instance endpoint (layer: migrations)".into()),
            ErrorCode::P1003 => ("the database does not exist", "check the database name in the URL (layer: auth)".into()),
            ErrorCode::P1010 => ("the server denied access", "if it says `no encryption`, add sslmode=require (`cargo xtask env-fix`); otherwise check the user's grants (layer: auth)".into()),
            ErrorCode::P1011 => ("the TLS connection failed", "check sslmode and the server's certificate; Prisma Migrate ignores sslrootcert and verify-* (layer: tls)".into()),
            ErrorCode::P1017 => ("the server closed the connection", "TLS required but not used, an idle timeout (server, NAT, VPN), a pooler port, a restart or connection limits: see db-test's verdict below".into()),
            ErrorCode::P3009 => ("failed migrations are recorded in the database", "fix the cause, then `npx prisma migrate resolve --rolled-back NAME` (or --applied) (layer: migrations)".into()),
            ErrorCode::P3014 => ("Prisma could not create the shadow database", "GRANT CREATEDB to the user, or set datasource.shadowDatabaseUrl in prisma.config.ts (SHADOW_DATABASE_URL) (layer: migrations)".into()),
            ErrorCode::P3018 => ("a migration failed to apply", "fix the SQL of that migration, then `npx prisma migrate resolve --rolled-back NAME` and run again".into()),
            ErrorCode::Other(_) => ("Prisma reported an error", "see Prisma's message above".into()),
        },
        Failure::EngineDownload => ("Prisma could not download its schema engine", download_fix(wasm_rerun)),
        Failure::EnginePath => ("PRISMA_SCHEMA_ENGINE_BINARY names a file that does not exist", "point it at the schema-engine binary, or unset it".into()),
        Failure::EnvMissing(v) => ("prisma.config.ts could not read a variable", format!("{v} is not set: put it in .env.local (cargo xtask env-fix checks it)")),
        Failure::NotApplied => ("the database has not applied every migration in prisma/migrations (a new or never-migrated database, or one behind)", "apply them: `cargo xtask migrate --deploy` (or `cargo xtask migrate NAME` in development)".into()),
        Failure::Diverged => ("the database's migration history and prisma/migrations differ", "a migration was edited, removed or applied from another branch: in development `npx prisma migrate reset` (deletes data); in production reconcile with `npx prisma migrate resolve`".into()),
        Failure::NotManaged => ("the database has tables but no _prisma_migrations: Prisma Migrate does not manage it yet", "baseline it: `npx prisma migrate resolve --applied <first migration>` (https://pris.ly/d/migrate-baseline)".into()),
        Failure::ResetNeeded => ("the database drifted from the migration history (changed outside migrations, or a migration file was edited): `migrate dev` wants to reset it", "on a development database: `npx prisma migrate reset --force` (all its data is lost), then run the same command again; on a shared one, see `cargo xtask migrate --status` first".into()),
        Failure::EngineEnded => ("Prisma's schema engine ended without answering (killed, out of memory, or a crash); nothing says the migration finished", "see what was applied with `cargo xtask migrate --status`, then run the same command again; if it ends the same way again, it is a crash: report Prisma's output above".into()),
        Failure::NonInteractive => ("`migrate dev` needed to ask a question and there is no terminal", if non_tty { "in scripts and CI use `cargo xtask migrate --deploy`, or run `migrate dev` at a terminal".into() } else { "run it at a terminal, or use --deploy".into() }),
    };
    (what.to_string(), fix)
}

/// After a failed engine download: the WebAssembly engine, which needs none,
/// then the two ways to give Prisma a native one.
fn download_fix(wasm_rerun: Option<&str>) -> String {
    let others = "set PRISMA_ENGINES_MIRROR to a reachable mirror, or PRISMA_SCHEMA_ENGINE_BINARY to an engine binary already on disk";
    match wasm_rerun {
        Some(cmd) => format!("this machine cannot reach the engine download host: run `{cmd}` (Prisma's WebAssembly schema engine from node_modules/prisma: nothing to download), or {others}"),
        None => format!("this machine cannot reach the engine download host: {others}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(name: &str) -> String {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prisma-7.10.1");
        let out = std::fs::read_to_string(dir.join(format!("{name}.stdout"))).unwrap();
        let err = std::fs::read_to_string(dir.join(format!("{name}.stderr"))).unwrap();
        format!("{out}\n{err}")
    }

    #[test]
    fn classifies_the_real_cli_output() {
        let cases = [
            ("migrate-dev-P1017", Some(Failure::Code("P1017".into()))),
            ("migrate-dev-P1001", Some(Failure::Code("P1001".into()))),
            ("migrate-dev-P1000", Some(Failure::Code("P1000".into()))),
            ("migrate-dev-rpc-P1017", Some(Failure::Code("P1017".into()))),
            ("migrate-dev-rpc-P1002", Some(Failure::Code("P1002".into()))),
            ("migrate-dev-rpc-P3014", Some(Failure::Code("P3014".into()))),
            ("migrate-deploy-P1017", Some(Failure::Code("P1017".into()))),
            ("engine-download-blocked", Some(Failure::EngineDownload)),
            ("engine-path-missing", Some(Failure::EnginePath)),
            (
                "missing-database-url",
                Some(Failure::EnvMissing("DATABASE_URL".into())),
            ),
            ("migrate-dev-success", None),
            ("migrate-deploy-success", None),
        ];
        for (name, want) in cases {
            assert_eq!(classify(&fixture(name)), want, "{name}");
        }
    }

    #[test]
    fn both_framings_and_colour() {
        assert_eq!(
            classify("Error: P1017: Server has closed the connection."),
            Some(Failure::Code("P1017".into()))
        );
        assert_eq!(
            classify("Error: \x1b[31mP1017\x1b[39m\n\nServer has closed the connection.\n"),
            Some(Failure::Code("P1017".into()))
        );
        assert_eq!(
            classify("Error: P1017\r\n\r\nServer has closed"),
            Some(Failure::Code("P1017".into()))
        );
        assert_eq!(classify("Hint: see P1017 docs"), None);
        assert_eq!(
            classify("Prisma Migrate has detected that the environment is non-interactive"),
            Some(Failure::NonInteractive)
        );
    }

    #[test]
    fn reads_applied_migrations() {
        assert_eq!(
            applied_migrations(&fixture("migrate-dev-success")),
            ["20261124000001_add_saved_comparables"]
        );
        assert_eq!(
            applied_migrations(&fixture("migrate-deploy-success")),
            ["20261124000001_add_saved_comparables"]
        );
        assert!(applied_migrations(&fixture("migrate-dev-P1017")).is_empty());
    }

    #[test]
    fn migrate_status_outcomes() {
        // The CLI's own sentences (prisma 7.10.1, build/cli.js); `migrate
        // status` exits 1 with them and no error code, which was `unknown`.
        let behind = "2 migrations found in prisma/migrations\nFollowing migrations have not yet been applied:\n20261101000000_init\n";
        assert_eq!(classify(behind), Some(Failure::NotApplied));
        assert_eq!(classify("Your local migration history and the migrations table from your database are different:"), Some(Failure::Diverged));
        assert_eq!(
            classify("The current database is not managed by Prisma Migrate.\n"),
            Some(Failure::NotManaged)
        );
        assert!(!is_transient(&Failure::NotApplied));
        assert!(explain(&Failure::NotApplied, true, None)
            .1
            .contains("migrate --deploy"));
    }

    #[test]
    fn transient_codes() {
        for c in ["P1017", "P1001", "P1002"] {
            assert!(is_transient(&Failure::Code(c.into())));
        }
        for c in [
            "P1000", "P1003", "P1010", "P1011", "P3009", "P3014", "P3018", "P9999",
        ] {
            assert!(!is_transient(&Failure::Code(c.into())));
        }
        assert!(!is_transient(&Failure::EngineDownload));
    }

    #[test]
    fn a_failed_download_names_the_command_that_needs_none() {
        let cmd = "cargo xtask migrate --deploy --engine wasm";
        let (_, fix) = explain(&Failure::EngineDownload, true, Some(cmd));
        assert!(fix.contains(&format!("run `{cmd}`")), "{fix}");
        assert!(fix.contains("PRISMA_SCHEMA_ENGINE_BINARY"), "{fix}");
        let (_, fix) = explain(&Failure::EngineDownload, true, None);
        assert!(!fix.contains("--engine"), "{fix}");
    }

    #[test]
    fn reads_the_failed_script_from_p3018() {
        // As Prisma 7.10.1 prints P3018 from the engine host
        // (xtask/engine/errors.mjs, which writes the native engine's words;
        // migrate.rs's P3018 test checks the same lines on a real run).
        let out = "Error: P3018\n\nA migration failed to apply. New migrations cannot be applied before the error is recovered from. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve\n\nMigration name: 20261201000000_half\n\nDatabase error code: 57014\n\nDatabase error:\nERROR: canceling statement due to statement timeout\n";
        let e = script_error(out).unwrap();
        assert_eq!(e.migration, "20261201000000_half");
        assert_eq!(e.sqlstate, "57014");
        assert_eq!(
            e.message,
            "ERROR: canceling statement due to statement timeout"
        );
        assert_eq!(
            script_error("Error: P1017\n\nServer has closed the connection."),
            None
        );
    }
}
