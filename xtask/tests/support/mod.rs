//! Test support: run the real xtask binary, start throwaway dev-db clusters
//! through the same code users run, and check that no secret leaks.
#![allow(dead_code)]

use std::io::Write;
#[cfg(unix)]
pub mod moto;
pub mod pgbouncer;
pub mod proxy;
#[cfg(unix)]
pub mod rds;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The xtask binary cargo built for these tests, or `XTASK_BIN` (to run a
/// test against an older build: does it fail there, as a fix's test must?).
pub fn xtask_bin() -> PathBuf {
    std::env::var_os("XTASK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_xtask")))
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// The dev-db's default port, held by the test process for its whole life:
/// `dev-db up` takes 55432 when it can bind it, so two tests starting
/// clusters at once (they share one process, on parallel threads) may both
/// choose it, and one then fails (a race in the xtask, reported); with it
/// held, each start takes a free port of its own. When something else holds
/// it, the effect is the same.
pub fn hold_default_port() {
    static DEFAULT_PORT: std::sync::OnceLock<Option<std::net::TcpListener>> =
        std::sync::OnceLock::new();
    DEFAULT_PORT.get_or_init(|| std::net::TcpListener::bind("127.0.0.1:55432").ok());
}

/// Runs the xtask with `args`, in `cwd`, with extra environment and stdin.
pub fn xtask(args: &[&str], cwd: &Path, env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    hold_default_port();
    let mut cmd = Command::new(xtask_bin());
    cmd.args(args).current_dir(cwd).env("NO_COLOR", "1");
    for var in ["DATABASE_URL", "DIRECT_URL", "SHADOW_DATABASE_URL", "CI"] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start xtask");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out: Output = child.wait_with_output().expect("wait for xtask");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A directory removed when dropped. World-traversable, because as root
/// the server runs as another user that must reach the cluster inside it.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n: u64 = std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            std::time::SystemTime::now(),
        );
        let dir =
            std::env::temp_dir().join(format!("xtask-test-{tag}-{}-{n:x}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `db-test --json --var DATABASE_URL EXTRA` on `url`, passed through
/// the environment, in a fresh project directory; checks that `password`
/// appears in no output and returns the run and its JSON.
pub fn db_test_json(password: &str, url: &str, extra: &[&str]) -> (Run, serde_json::Value) {
    let dir = TempDir::new("dbtest");
    let mut args = vec!["--var", "DATABASE_URL"];
    args.extend_from_slice(extra);
    db_test_in(dir.path(), password, &args, &[("DATABASE_URL", url)])
}

/// Runs `db-test --json EXTRA` with `dir` as the project (its env files,
/// its prisma.config.ts) and `env`; checks that `password` appears in no
/// output and returns the run and its JSON.
pub fn db_test_in(
    dir: &Path,
    password: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Run, serde_json::Value) {
    let mut args = vec!["--project-dir", dir.to_str().unwrap(), "db-test", "--json"];
    args.extend_from_slice(extra);
    let r = xtask(&args, dir, env, None);
    assert_no_secret(&r.all(), password);
    let v: serde_json::Value =
        serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", r.all()));
    (r, v)
}

/// Runs git in `dir`.
pub fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git")
}

/// A port nothing listens on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Percent-encodes like the URL model does for userinfo.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Every spelling a program may print a password in: raw, percent-encoded
/// with upper or lower hex, as `encodeURIComponent` does (it keeps
/// `!'()*`), and encoded twice. Written here from the RFCs, not taken from
/// the xtask's code, so the check does not share its blind spots.
pub fn spellings(password: &str) -> Vec<String> {
    let enc = encode(password);
    let uri_component: String = password
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let mut forms = vec![
        password.to_string(),
        enc.clone(),
        lower_hex(&enc),
        uri_component.clone(),
        lower_hex(&uri_component),
        encode(&enc),
    ];
    forms.sort();
    forms.dedup();
    forms
}

fn lower_hex(s: &str) -> String {
    let mut out = String::new();
    let mut hex = 0;
    for c in s.chars() {
        if c == '%' {
            hex = 2;
            out.push(c);
        } else if hex > 0 {
            hex -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Fails when `text` contains the password in any spelling, anywhere.
pub fn assert_no_secret(text: &str, password: &str) {
    for form in spellings(password) {
        assert!(
            !text.contains(&form),
            "output contains the password (as `{form}`):\n{text}"
        );
    }
}

/// For passwords that are also ordinary words (`postgres`, `a`), which may
/// appear legitimately as a user, database or in a parameter: fails when
/// one stands where a password stands (`user:PW@`, `password=PW`, JSON
/// `"password":"PW"`).
pub fn assert_no_secret_in_urls(text: &str, password: &str) {
    for form in spellings(password) {
        for place in [
            format!(":{form}@"),
            format!("password={form}"),
            format!("\"password\":\"{form}\""),
        ] {
            assert!(
                !text.contains(&place),
                "output shows the password where a password stands (`{place}`):\n{text}"
            );
        }
    }
}

/// A throwaway RDS-like cluster started through `cargo xtask dev-db up`.
/// Stopped and deleted on drop (also on panic); its watchdog stops it
/// after 15 minutes if this process dies first.
pub struct DevDb {
    pub dir: TempDir,
    pub port: u16,
    /// The full URL with the password, as `dev-db url` prints it.
    pub url: String,
    pub password: String,
    pub tls: bool,
}

impl DevDb {
    pub fn start(extra: &[&str]) -> DevDb {
        let dir = TempDir::new("db");
        let data = dir.path().join("cluster");
        let data_s = data.to_str().unwrap().to_string();
        let mut args = vec![
            "dev-db",
            "up",
            "--data-dir",
            &data_s,
            "--port",
            "0",
            "--stop-after",
            "900",
            "--json",
        ];
        args.extend_from_slice(extra);
        let up = xtask(&args, dir.path(), &[], None);
        assert_eq!(up.code, 0, "dev-db up failed:\n{}", up.all());
        let v: serde_json::Value =
            serde_json::from_str(up.stdout.trim()).expect("dev-db up --json");
        let url = xtask(
            &["dev-db", "url", "--data-dir", &data_s],
            dir.path(),
            &[],
            None,
        );
        assert_eq!(url.code, 0, "{}", url.all());
        let url = url.stdout.trim().to_string();
        let password = password_of(&url);
        assert_no_secret(&up.all(), &password);
        DevDb {
            port: v["port"].as_u64().unwrap() as u16,
            tls: v["tls"].as_bool().unwrap(),
            url,
            password,
            dir,
        }
    }

    pub fn data_dir(&self) -> String {
        self.dir
            .path()
            .join("cluster")
            .to_str()
            .unwrap()
            .to_string()
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("cluster").join("ca.crt")
    }

    /// The password as it stands in the URL.
    pub fn password_encoded(&self) -> String {
        encode(&self.password)
    }

    /// The app's URL to `summitly` at 127.0.0.1:`port` (a proxy's or a
    /// pooler's port, another server's), with `params` after `?`.
    pub fn url_at(&self, port: u16, params: &str) -> String {
        format!(
            "postgresql://app:{}@127.0.0.1:{port}/summitly?{params}",
            self.password_encoded()
        )
    }

    /// The URL with `old` replaced, e.g. a different sslmode.
    pub fn url_with(&self, old: &str, new: &str) -> String {
        assert!(self.url.contains(old), "{} has no {old}", self.url);
        self.url.replace(old, new)
    }

    /// A superuser client over TLS (as the test's own independent check).
    pub fn admin(&self) -> postgres::Client {
        let mut c = postgres::Config::new();
        c.host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .password(&self.password)
            .dbname("postgres");
        connect(c, self.tls)
    }

    /// The app user's connection settings (TLS mode left to the caller).
    pub fn app_config(&self) -> postgres::Config {
        let mut c = postgres::Config::new();
        c.host("127.0.0.1")
            .port(self.port)
            .user("app")
            .password(&self.password)
            .dbname("summitly");
        c
    }

    /// The app user's client.
    pub fn app(&self) -> postgres::Client {
        connect(self.app_config(), self.tls)
    }

    /// A superuser client on database `dbname` (independent of the app
    /// user's password, which some tests change).
    pub fn superuser_on(&self, dbname: &str) -> postgres::Client {
        let mut c = postgres::Config::new();
        c.host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .password(&self.password)
            .dbname(dbname);
        connect(c, self.tls)
    }

    /// What `_prisma_migrations` in `summitly` records, oldest first; None
    /// when there is no such table.
    pub fn recorded(&self) -> Option<Vec<Recorded>> {
        self.recorded_in("summitly")
    }

    /// What `_prisma_migrations` in database `dbname` records.
    pub fn recorded_in(&self, dbname: &str) -> Option<Vec<Recorded>> {
        let mut c = self.superuser_on(dbname);
        let exists: bool = c
            .query_one(
                "SELECT to_regclass('public._prisma_migrations') IS NOT NULL",
                &[],
            )
            .unwrap()
            .get(0);
        if !exists {
            return None;
        }
        let rows = c
            .query(
                "SELECT migration_name, finished_at IS NOT NULL, rolled_back_at IS NOT NULL, \
                 applied_steps_count, logs FROM _prisma_migrations ORDER BY started_at",
                &[],
            )
            .unwrap();
        Some(
            rows.iter()
                .map(|r| Recorded {
                    name: r.get(0),
                    finished: r.get(1),
                    rolled_back: r.get(2),
                    steps: r.get(3),
                    logs: r.get(4),
                })
                .collect(),
        )
    }

    /// Names of the migrations `_prisma_migrations` records as finished.
    pub fn finished(&self) -> Vec<String> {
        self.recorded()
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.finished && !m.rolled_back)
            .map(|m| m.name)
            .collect()
    }

    /// Whether table `name` exists in `summitly`'s public schema.
    pub fn has_table(&self, name: &str) -> bool {
        self.has_table_in("summitly", name)
    }

    /// Whether table `name` exists in database `dbname`'s public schema.
    pub fn has_table_in(&self, dbname: &str, name: &str) -> bool {
        self.superuser_on(dbname)
            .query_one(
                "SELECT to_regclass(format('public.%I', $1::text)) IS NOT NULL",
                &[&name],
            )
            .unwrap()
            .get(0)
    }

    /// Databases named as Prisma names its temporary shadow databases.
    pub fn shadow_databases(&self) -> Vec<String> {
        self.admin()
            .query(
                "SELECT datname FROM pg_database WHERE datname LIKE 'prisma\\_migrate\\_shadow\\_db\\_%'",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
}

/// One row of `_prisma_migrations`.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub name: String,
    pub finished: bool,
    pub rolled_back: bool,
    pub steps: i32,
    pub logs: Option<String>,
}

pub fn connect(mut c: postgres::Config, tls: bool) -> postgres::Client {
    let connector = native_tls::TlsConnector::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    c.ssl_mode(if tls {
        postgres::config::SslMode::Require
    } else {
        postgres::config::SslMode::Disable
    });
    c.connect(postgres_native_tls::MakeTlsConnector::new(connector))
        .expect("connect to the dev-db")
}

impl Drop for DevDb {
    fn drop(&mut self) {
        let d = self.data_dir();
        let _ = xtask(
            &["dev-db", "down", "--data-dir", &d],
            self.dir.path(),
            &[],
            None,
        );
    }
}

/// The decoded password of a URL the tests built or were given.
pub fn password_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let userinfo = &rest[..rest.rfind('@').unwrap()];
    let enc = userinfo.split_once(':').unwrap().1;
    let bytes = enc.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&enc[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A copy of the app (prisma/, prisma.config.ts, package files) in a
/// temporary directory, using the workspace's real node_modules (the pinned
/// Prisma CLI). Prisma's native schema engine cannot be downloaded on these
/// machines; runs use the real engine from its WebAssembly build through the
/// engine host: `migrate_wasm` as people run it (`--engine wasm`),
/// `migrate_real` behind a spy that watches the processes, `real_engine_env`
/// and `spied_engine_env` for other commands; or, for outcomes no real
/// server produces, the scripted stand-in (`migrate`, `engine_env`).
pub struct App {
    pub dir: TempDir,
}

impl App {
    pub fn new(env_local: Option<&str>) -> App {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        node_modules();
        let dir = TempDir::new("app");
        copy_tree(&root.join("prisma"), &dir.path().join("prisma"));
        for f in ["prisma.config.ts", "package.json", "package-lock.json"] {
            std::fs::copy(root.join(f), dir.path().join(f)).unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("node_modules"), dir.path().join("node_modules"))
            .unwrap();
        if let Some(text) = env_local {
            std::fs::write(dir.path().join(".env.local"), text).unwrap();
        }
        App { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The same app as `apps/web` of an npm-workspaces monorepo whose root
    /// holds the lockfile and the hoisted node_modules (the pinned Prisma
    /// CLI), as `npm install` at the root lays it out. `path()` is the
    /// monorepo root; the app is `path()/apps/web`.
    pub fn monorepo(env_local: Option<&str>) -> App {
        let app = App::new(env_local);
        let root = app.path();
        let web = root.join("apps/web");
        std::fs::create_dir_all(&web).unwrap();
        for f in ["prisma", "prisma.config.ts", "package.json"] {
            std::fs::rename(root.join(f), web.join(f)).unwrap();
        }
        if env_local.is_some() {
            std::fs::rename(root.join(".env.local"), web.join(".env.local")).unwrap();
        }
        std::fs::write(
            root.join("package.json"),
            r#"{ "name": "mono", "private": true, "workspaces": ["apps/*"] }"#,
        )
        .unwrap();
        app
    }

    /// Environment for a run on the real schema engine: the engine host
    /// (xtask/engine/schema-engine.mjs) named where Prisma takes an engine
    /// binary, as `cargo xtask migrate --engine wasm` names it.
    pub fn real_engine_env(&self) -> Vec<(String, String)> {
        vec![(
            "PRISMA_SCHEMA_ENGINE_BINARY".into(),
            engine_host().display().to_string(),
        )]
    }

    /// The same real engine behind the spy (support/spy-engine.mjs), which
    /// writes each engine start (argv, the ancestors' command lines and
    /// DATABASE_URL) to `engine-spy.log` and otherwise only passes things on.
    pub fn spied_engine_env(&self) -> Vec<(String, String)> {
        let spy = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/spy-engine.mjs");
        vec![
            (
                "PRISMA_SCHEMA_ENGINE_BINARY".into(),
                spy.display().to_string(),
            ),
            (
                "SPY_ENGINE_TARGET".into(),
                engine_host().display().to_string(),
            ),
            (
                "SPY_ENGINE_LOG".into(),
                self.path().join("engine-spy.log").display().to_string(),
            ),
        ]
    }

    /// Runs `cargo xtask --project-dir APP migrate ARGS` on the real engine,
    /// behind the spy (so `attempts`, `engine_call` and
    /// `prisma_cli_process` read what really happened).
    pub fn migrate_real(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
        self.migrate_with(&self.spied_engine_env(), args, extra_env)
    }

    /// Runs `cargo xtask --project-dir APP migrate ARGS --engine wasm`, as
    /// people do where the native engine cannot be downloaded: the xtask
    /// names the engine host itself (no engine variable set here).
    pub fn migrate_wasm(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
        let mut a = args.to_vec();
        a.extend(["--engine", "wasm"]);
        self.migrate_with(&[], &a, extra_env)
    }

    /// Runs `cargo xtask --project-dir APP migrate ARGS` with `env` (an
    /// engine's environment) and `extra_env`.
    pub fn migrate_with(
        &self,
        env: &[(String, String)],
        args: &[&str],
        extra_env: &[(&str, &str)],
    ) -> Run {
        let mut all: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.extend_from_slice(extra_env);
        let mut a = vec!["--project-dir", self.path().to_str().unwrap(), "migrate"];
        a.extend_from_slice(args);
        xtask(&a, self.path(), &all, None)
    }

    /// Removes a committed migration from this copy (as if it had not been
    /// created yet).
    pub fn remove_migration(&self, dir: &str) {
        std::fs::remove_dir_all(self.path().join("prisma/migrations").join(dir)).unwrap();
    }

    /// Adds a migration `dir` whose migration.sql is `sql`.
    pub fn add_migration(&self, dir: &str, sql: &str) {
        let d = self.path().join("prisma/migrations").join(dir);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("migration.sql"), sql).unwrap();
    }

    /// The migration directories in this copy, sorted.
    pub fn migration_dirs(&self) -> Vec<String> {
        let mut dirs: Vec<String> = std::fs::read_dir(self.path().join("prisma/migrations"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().unwrap().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        dirs.sort();
        dirs
    }

    /// Environment for a run against the stand-in engine following `plan`.
    pub fn engine_env(&self, plan: &str) -> Vec<(String, String)> {
        let engine =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/stand-in-engine.mjs");
        vec![
            (
                "PRISMA_SCHEMA_ENGINE_BINARY".into(),
                engine.display().to_string(),
            ),
            ("STANDIN_PLAN".into(), plan.into()),
            (
                "STANDIN_STATE".into(),
                self.path().join("standin.state").display().to_string(),
            ),
            (
                "STANDIN_LOG".into(),
                self.path().join("standin.log").display().to_string(),
            ),
        ]
    }

    /// How many times Prisma started a migrate attempt: its engine
    /// connection checks (`cli can-connect-to-database`), one per attempt,
    /// as the stand-in or the spy wrote them down.
    pub fn attempts(&self) -> u32 {
        self.engine_log()
            .iter()
            .filter(|e| e["call"] == "can-connect-to-database")
            .count() as u32
    }

    /// The engine log's entry (stand-in or spy) for the first `call` Prisma made.
    pub fn engine_call(&self, call: &str) -> serde_json::Value {
        self.engine_log()
            .into_iter()
            .find(|e| e["call"] == call)
            .unwrap_or_else(|| panic!("Prisma never made the engine's `{call}` call"))
    }

    /// The Prisma CLI process (argv holding `migrate`) among the engine's
    /// ancestors, with its cmdline and DATABASE_URL as the stand-in read them.
    pub fn prisma_cli_process(&self) -> serde_json::Value {
        let call = self.engine_call("can-connect-to-database");
        call["ancestors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| {
                a["cmdline"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|w| w == "migrate")
            })
            .expect("the Prisma CLI process")
            .clone()
    }

    /// The stand-in's log (one JSON value per call) followed by the spy's
    /// (one per engine start).
    pub fn engine_log(&self) -> Vec<serde_json::Value> {
        ["standin.log", "engine-spy.log"]
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(self.path().join(f))
                    .unwrap_or_default()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect::<Vec<serde_json::Value>>()
            })
            .collect()
    }

    /// Runs `cargo xtask --project-dir APP migrate ARGS` with the stand-in engine.
    pub fn migrate(&self, plan: &str, args: &[&str], extra_env: &[(&str, &str)]) -> Run {
        self.migrate_with(&self.engine_env(plan), args, extra_env)
    }
}

/// The workspace's `node_modules`, with the pinned Prisma CLI in it: one
/// clear failure when `npm ci` has not run, instead of a missing file or a
/// JSON parse error further on.
pub fn node_modules() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    assert!(
        root.join("node_modules/prisma/package.json").exists(),
        "the pinned Prisma CLI is not installed: run `npm ci` in {} first",
        root.display()
    );
    root.join("node_modules")
}

/// The engine host: Prisma's real schema engine, from the WebAssembly build
/// in node_modules/prisma, behind the native engine's command line.
pub fn engine_host() -> PathBuf {
    node_modules();
    Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/schema-engine.mjs")
}

/// The engine host serving the app in `dir` (its working directory: the CLI
/// starts the engine there), if one runs (Linux /proc).
#[cfg(unix)]
pub fn engine_host_of(dir: &Path) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_string_lossy().parse().ok()?;
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).ok()?;
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
        (cmdline.contains("schema-engine.mjs") && cmdline.contains("--datamodels") && cwd == dir)
            .then_some(pid)
    })
}

/// stdout as exactly one JSON object (what `--json` promises scripts).
pub fn one_json(r: &Run) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}):\n{}\n{}",
            r.stdout, r.stderr
        )
    });
    assert!(v.is_object(), "{v}");
    assert_eq!(r.stdout.trim().lines().count(), 1, "{}", r.stdout);
    v
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The last line of stdout parsed as JSON (commands print it after other output).
pub fn last_json(stdout: &str) -> serde_json::Value {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON in:\n{stdout}"));
    serde_json::from_str(line).unwrap()
}

/// Stops a dev-db cluster that a command under test started (onboard
/// --local), also when the test panics.
pub struct ClusterGuard(pub PathBuf);

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        let d = self.0.to_str().unwrap().to_string();
        let _ = xtask(
            &["dev-db", "down", "--data-dir", &d],
            Path::new("/"),
            &[],
            None,
        );
    }
}

/// Fails when any file under `dir` (links not followed) other than those
/// named in `allowed` contains the password, raw or percent-encoded. The
/// stand-in engine's and the spy's logs (`standin.*`, `engine-spy.log`) are
/// evidence kept by the test and are skipped.
pub fn assert_no_secret_in_files(dir: &Path, password: &str, allowed: &[&str]) {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let t = e.file_type().unwrap();
            if t.is_symlink() {
                continue;
            }
            if t.is_dir() {
                walk(&e.path(), out);
            } else {
                out.push(e.path());
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if allowed.contains(&name.as_str())
            || name.starts_with("standin.")
            || name == "engine-spy.log"
        {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
        for form in spellings(password) {
            assert!(
                !text.contains(&form),
                "{} contains the password",
                f.display()
            );
        }
    }
}

/// The app on the dev-db, with its committed migrations applied by a real
/// `migrate --deploy --engine wasm`.
pub fn deployed_app(db: &DevDb) -> App {
    let app = App::new(Some(&format!("DATABASE_URL={}\n", db.url)));
    let r = app.migrate_wasm(&["--deploy", "--json"], &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(db.finished(), app.migration_dirs());
    app
}

/// Processes on this machine whose command line names `dir` (Prisma's
/// CLI, the engine host), zombies waiting for init aside, within 5 s.
#[cfg(unix)]
pub fn left_running(dir: &Path) -> Vec<String> {
    let dir = dir.to_str().unwrap().to_string();
    let running = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s[s.rfind(')').unwrap() + 2..].starts_with('Z'))
            .unwrap_or(false)
    };
    let ours = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|p| p.chars().all(|c| c.is_ascii_digit()) && running(p))
            .filter_map(|p| {
                let c = std::fs::read(format!("/proc/{p}/cmdline")).ok()?;
                let c = String::from_utf8_lossy(&c).replace('\0', " ");
                c.contains(&dir).then(|| format!("{p}: {c}"))
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ours().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    ours()
}

/// None of those may outlive a run.
#[cfg(unix)]
pub fn assert_nothing_left_running(dir: &Path) {
    assert_eq!(
        left_running(dir),
        Vec::<String>::new(),
        "processes left behind"
    );
}
