//! onboard: a fresh project directory (the app's files, no .env.local, no
//! database) all the way to a migrated database, then the failure paths.
//! Everything is real: the pinned Prisma CLI runs Prisma's real schema
//! engine, its WebAssembly build through the engine host
//! (xtask/engine/schema-engine.mjs), because the native engine cannot be
//! downloaded here. Tests that migrate run `onboard --engine wasm`, as people
//! do on such machines, except the fresh-clone test: it gives no `--engine`
//! and lets the native engine's download fail (a mirror on a closed port,
//! so it fails on any machine), and onboard switches to the WebAssembly
//! engine by itself and ends with "Ready."; with `--engine native` it must
//! not switch. Each test that migrates checks the database afterwards with
//! its own client: the committed migrations recorded in `_prisma_migrations`
//! as finished, with the committed files' checksums, and their tables there;
//! a second run applies nothing and changes no file and no row. Tests where
//! Prisma must not start watch for it through the spy
//! (support/spy-engine.mjs) in front of the real engine. The scripted
//! stand-in engine is not used here: every outcome these tests need, a real
//! server produces.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::*;

const MIGRATIONS: [&str; 2] = [
    "20261101000000_init",
    "20261124000001_add_saved_comparables",
];
/// The tables the committed migrations create.
const TABLES: [&str; 3] = ["User", "Listing", "SavedComparable"];
const FALLBACK_LINE: &str = "Prisma could not download its native schema engine; using the WebAssembly engine from node_modules/prisma instead";

/// `cargo xtask --project-dir DIR onboard ARGS`, run in `dir`.
fn onboard_in(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut a = vec!["--project-dir", dir.to_str().unwrap(), "onboard"];
    a.extend_from_slice(args);
    xtask(&a, dir, env, stdin)
}

/// onboard on Prisma's real schema engine, as people run it where the
/// native one cannot be downloaded: `--engine wasm`.
fn onboard_wasm(app: &App, args: &[&str], stdin: Option<&str>) -> Run {
    let mut a = args.to_vec();
    a.extend(["--engine", "wasm"]);
    onboard_in(app.path(), &a, &[], stdin)
}

/// onboard with the real engine behind the spy, which writes down every
/// engine start (`app.engine_log()`): for tests where Prisma must not run.
fn onboard_spied(app: &App, args: &[&str]) -> Run {
    let env = app.spied_engine_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    onboard_in(app.path(), args, &env, None)
}

/// onboard with Prisma's own engine choice: the CLI tries to download its
/// native schema engine, from a mirror on a closed port (this fails here,
/// where Prisma's host cannot be reached, and on any machine that could
/// reach it).
fn onboard_offline(app: &App, args: &[&str]) -> Run {
    let mirror = format!("http://127.0.0.1:{}", free_port());
    let env = [
        ("PRISMA_ENGINES_MIRROR", mirror.as_str()),
        ("PRISMA_SCHEMA_ENGINE_BINARY", ""),
    ];
    onboard_in(app.path(), args, &env, None)
}

fn steps(v: &serde_json::Value) -> Vec<(String, String)> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn last_line(stdout: &str) -> &str {
    stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

/// A directory for a dev-db cluster that onboard starts (`--data-dir` is
/// `cluster_data(&dir)`), stopped by the guard also when the test panics
/// before `started_dev_db` takes it over.
fn cluster_dir() -> (TempDir, ClusterGuard) {
    hold_default_port();
    let dir = TempDir::new("onboard-db");
    let guard = ClusterGuard(dir.path().join("cluster"));
    (dir, guard)
}

fn cluster_data(dir: &TempDir) -> String {
    dir.path().join("cluster").to_str().unwrap().to_string()
}

/// The cluster onboard started in `dir`, as the tests' DevDb (its URL from
/// `dev-db url`), so its clients and checks are the same as for
/// `DevDb::start`'s; stopped and deleted on drop. `onboard` is the run
/// that started it, shown when there is no cluster.
fn started_dev_db(dir: TempDir, onboard: &Run) -> DevDb {
    let data = cluster_data(&dir);
    let r = xtask(
        &["dev-db", "url", "--data-dir", &data],
        dir.path(),
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}\nonboard:\n{}", r.all(), onboard.all());
    let url = r.stdout.trim().to_string();
    let host_port = url.rsplit_once('@').unwrap().1.split('/').next().unwrap();
    DevDb {
        port: host_port.rsplit_once(':').unwrap().1.parse().unwrap(),
        tls: url.contains("sslmode=require"),
        password: password_of(&url),
        url,
        dir,
    }
}

/// `_prisma_migrations`, every column as text, oldest first (to compare
/// before and after a run that must change nothing).
type Rows = Vec<Vec<Option<String>>>;

/// Checks, with the app user's own client, that the committed migrations
/// are applied: one row each in `_prisma_migrations`, in order, finished,
/// not rolled back, no logs, with the checksum of the committed file (as
/// Prisma computes it: SHA-256 of migration.sql); and their tables exist.
/// Returns the rows.
fn assert_migrated(db: &DevDb) -> Rows {
    let mut c = db.app();
    let rows: Rows = c
        .query(
            "SELECT id, migration_name, checksum, started_at::text, finished_at::text, \
             rolled_back_at::text, applied_steps_count::text, logs \
             FROM _prisma_migrations ORDER BY started_at, migration_name",
            &[],
        )
        .expect("_prisma_migrations exists")
        .iter()
        .map(|r| (0..8).map(|i| r.get::<_, Option<String>>(i)).collect())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r[1].as_deref().unwrap()).collect();
    assert_eq!(names, MIGRATIONS, "{rows:?}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../prisma/migrations");
    for (row, name) in rows.iter().zip(MIGRATIONS) {
        assert!(row[4].is_some(), "{name} not finished: {row:?}");
        assert!(row[5].is_none(), "{name} rolled back: {row:?}");
        assert!(row[7].is_none(), "{name} has logs: {row:?}");
        let sql = std::fs::read_to_string(root.join(name).join("migration.sql")).unwrap();
        let sum: String = c
            .query_one(
                "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')",
                &[&sql],
            )
            .unwrap()
            .get(0);
        assert_eq!(row[2].as_deref(), Some(sum.as_str()), "{name}'s checksum");
    }
    for t in TABLES {
        let exists: bool = c
            .query_one(
                "SELECT to_regclass(format('public.%I', $1::text)) IS NOT NULL",
                &[&t],
            )
            .unwrap()
            .get(0);
        assert!(exists, "table {t} missing");
    }
    rows
}

/// Every file under `dir` with its bytes (links not followed): to see
/// that a run wrote nothing.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(d: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                walk(&e.path(), out);
            } else if t.is_file() {
                out.insert(e.path(), std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, &mut out);
    out
}

#[test]
fn local_onboarding_from_nothing_then_again_changes_nothing() {
    let app = App::new(None);
    let (cluster, _guard) = cluster_dir();
    let data = cluster_data(&cluster);
    let args = ["--local", "--yes", "--data-dir", &data, "--json"];
    let r = onboard_wasm(&app, &args, None);
    let db = started_dev_db(cluster, &r);
    assert_no_secret(&r.all(), &db.password);
    assert_eq!(r.code, 0, "{}", r.all());
    let v = last_json(&r.stdout);
    assert_eq!(v["ok"], true);
    let names: Vec<String> = steps(&v)
        .into_iter()
        .map(|(n, s)| {
            assert_eq!(s, "pass", "{n}: {v}");
            n
        })
        .collect();
    assert_eq!(
        names,
        ["tools", "environment", "env-fix", "db-test", "migrations"]
    );
    assert_eq!(
        v["steps"][4]["detail"],
        "prisma migrate deploy (WebAssembly engine): 2 migration(s) applied"
    );
    assert_eq!(v["engine"]["used"], "wasm", "{v}");
    let rows = assert_migrated(&db);

    // .env.local is valid: dotenvy reads a URL that authenticates.
    let env_path = app.path().join(".env.local");
    let text = std::fs::read_to_string(&env_path).unwrap();
    let vars: Vec<(String, String)> = dotenvy::from_read_iter(text.as_bytes())
        .map(|r| r.unwrap())
        .collect();
    let written = &vars.iter().find(|(k, _)| k == "DATABASE_URL").unwrap().1;
    assert_eq!(password_of(written), db.password);
    let check = xtask(
        &[
            "--project-dir",
            app.path().to_str().unwrap(),
            "db-test",
            "--json",
        ],
        app.path(),
        &[],
        None,
    );
    assert_eq!(check.code, 0, "{}", check.all());

    // Again: every step passes, nothing is applied, no file and no row changes.
    let before = files(app.path());
    let again = onboard_wasm(&app, &args, None);
    assert_eq!(again.code, 0, "{}", again.all());
    let v = last_json(&again.stdout);
    assert!(steps(&v).iter().all(|(_, s)| s == "pass"), "{v}");
    assert!(
        v["steps"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("points at it"),
        "{v}"
    );
    assert!(
        v["steps"][2]["detail"]
            .as_str()
            .unwrap()
            .contains("nothing to repair"),
        "{v}"
    );
    assert_eq!(
        v["steps"][4]["detail"],
        "prisma migrate deploy (WebAssembly engine): nothing to apply"
    );
    assert_eq!(assert_migrated(&db), rows, "a row changed");
    assert_eq!(files(app.path()), before, "a file changed");
    // The password is in .env.local (and its backup) and in the dev-db's own
    // credential file, and nowhere else the commands wrote.
    assert_no_secret_in_files(
        app.path(),
        &db.password,
        &[".env.local", ".env.local.bak.local"],
    );
    assert_no_secret_in_files(db.dir.path(), &db.password, &["state.env"]);
    assert_no_secret(&again.all(), &db.password);
}

#[test]
fn check_on_a_broken_env_local_fails_and_writes_nothing() {
    let db = DevDb::start(&[]);
    // The password written raw, as people paste it: it must be encoded.
    let broken = format!(
        "DATABASE_URL=postgresql://app:{}@127.0.0.1:{}/summitly?sslmode=require\n",
        db.password.replace('$', "\\$"),
        db.port
    );
    let app = App::new(Some(&broken));
    let r = onboard_spied(&app, &["--check", "--yes", "--json"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let v = last_json(&r.stdout);
    assert_eq!(
        steps(&v)[2],
        ("env-fix".to_string(), "fail".to_string()),
        "{v}"
    );
    assert!(v["steps"][2]["hint"]
        .as_str()
        .unwrap()
        .contains("cargo xtask env-fix"));
    assert_eq!(
        std::fs::read_to_string(app.path().join(".env.local")).unwrap(),
        broken
    );
    assert!(!app.path().join(".env.local.bak.local").exists());
    assert!(app.engine_log().is_empty(), "Prisma must not run");
    assert!(db.recorded().is_none(), "nothing migrated");
    assert_no_secret(&r.all(), &db.password);
}

#[test]
fn env_example_needs_a_password_source_when_not_interactive() {
    let db = DevDb::start(&[]);
    let app = App::new(None);
    std::fs::write(
        app.path().join(".env.example"),
        format!("# copy to .env.local\nDATABASE_URL=\"postgresql://app:[YOUR-PASSWORD]@127.0.0.1:{}/summitly?sslmode=require\"\nNEXT_PUBLIC_SITE=summitly\n", db.port),
    )
    .unwrap();
    let r = onboard_wasm(&app, &["--yes"], None);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("--password-stdin"), "{}", r.stdout);
    assert!(
        !app.path().join(".env.local").exists(),
        "nothing written without a password"
    );
    assert!(db.recorded().is_none(), "nothing migrated");

    let r = onboard_wasm(
        &app,
        &["--yes", "--password-stdin"],
        Some(&format!("{}\n", db.password)),
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_no_secret(&r.all(), &db.password);
    assert!(
        r.stdout
            .contains("prisma migrate deploy (WebAssembly engine): 2 migration(s) applied"),
        "{}",
        r.stdout
    );
    assert!(last_line(&r.stdout).starts_with("Ready."), "{}", r.stdout);
    // Prisma's engine authenticated with the password as written: migrated.
    assert_migrated(&db);
    let text = std::fs::read_to_string(app.path().join(".env.local")).unwrap();
    assert!(
        text.starts_with("# copy to .env.local\n") && text.ends_with("NEXT_PUBLIC_SITE=summitly\n"),
        "{text}"
    );
    assert!(!text.contains("[YOUR-PASSWORD]"));
}

#[test]
fn a_failing_database_stops_at_db_test_with_the_diagnosis() {
    let app = App::new(Some(&format!("DATABASE_URL=postgresql://app:n0pe%40x@127.0.0.1:{}/summitly?sslmode=require&connect_timeout=30&pool_timeout=30\n", free_port())));
    let r = onboard_spied(&app, &["--yes", "--json"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let v = last_json(&r.stdout);
    assert_eq!(steps(&v)[3], ("db-test".to_string(), "fail".to_string()));
    assert_eq!(steps(&v)[4], ("migrations".to_string(), "skip".to_string()));
    assert!(
        v["steps"][3]["detail"]
            .as_str()
            .unwrap()
            .starts_with("tcp_refused"),
        "{v}"
    );
    assert!(app.engine_log().is_empty(), "Prisma must not run");
    assert_no_secret(&r.all(), "n0pe@x");
}

#[cfg(unix)]
#[test]
fn shell_wrapper_checks_cargo_and_passes_the_exit_status_through() {
    use std::os::unix::fs::PermissionsExt;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/onboard.sh");
    let bin = TempDir::new("wrapper");
    // A PATH with only what the wrapper needs besides cargo.
    let dirname = ["/usr/bin/dirname", "/bin/dirname"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap();
    std::os::unix::fs::symlink(dirname, bin.path().join("dirname")).unwrap();
    let run = || {
        std::process::Command::new("/bin/sh")
            .arg(&script)
            .arg("--yes")
            .env("PATH", bin.path())
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(out.status.code(), Some(2), "no cargo: exit 2");
    assert!(String::from_utf8_lossy(&out.stderr).contains("rustup.rs"));
    // A cargo that records its arguments and fails with 7: the wrapper passes both on.
    let fake = bin.path().join("cargo");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$@\" > {}/args\nexit 7\n",
            bin.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(
        std::fs::read_to_string(bin.path().join("args"))
            .unwrap()
            .trim(),
        "xtask onboard --yes"
    );
}

#[test]
fn a_monorepo_app_is_onboarded_without_reinstalling() {
    // onboard used to run `npm ci` in apps/web and then fail the same way,
    // in a loop, when the packages were hoisted to the monorepo's root.
    let app = App::monorepo(None);
    let web = app.path().join("apps/web");
    let (cluster, _guard) = cluster_dir();
    let data = cluster_data(&cluster);
    let r = onboard_in(
        &web,
        &[
            "--local",
            "--yes",
            "--json",
            "--data-dir",
            &data,
            "--engine",
            "wasm",
        ],
        &[],
        None,
    );
    let db = started_dev_db(cluster, &r);
    assert_eq!(r.code, 0, "{}", r.all());
    let v = last_json(&r.stdout);
    assert!(steps(&v).iter().all(|(_, s)| s == "pass"), "{v}");
    let tools = &v["steps"][0];
    assert!(
        !tools["detail"].as_str().unwrap().contains("ran npm ci"),
        "{v}"
    );
    // The WebAssembly engine came from the root's hoisted prisma package and
    // migrated the app's database with apps/web's migrations.
    assert_eq!(
        v["steps"][4]["detail"],
        "prisma migrate deploy (WebAssembly engine): 2 migration(s) applied"
    );
    assert_migrated(&db);
    assert!(web.join(".env.local").exists());
    assert!(!app.path().join(".env.local").exists());
    assert_no_secret(&r.all(), &db.password);
}

#[test]
fn bad_input_in_a_step_is_exit_2_as_everywhere() {
    // A placeholder password is bad input for every command; onboard used
    // to report it as a failed step with exit 1.
    let app = App::new(Some(
        "DATABASE_URL=postgresql://app:[YOUR-PASSWORD]@127.0.0.1:1/app\n",
    ));
    let r = onboard_spied(&app, &["--yes", "--no-migrate", "--json"]);
    assert_eq!(r.code, 2, "{}", r.all());
    let v = last_json(&r.stdout);
    assert_eq!(v["ok"], false);
    assert!(app.engine_log().is_empty(), "Prisma must not run");
}

#[test]
fn a_relative_project_dir_in_a_monorepo_still_finds_the_root() {
    // `--project-dir .` from apps/web: the walk up to the lockfile and the
    // hoisted node_modules starts from the absolute path, for the tools step
    // and for the engine the migrations run on.
    let db = DevDb::start(&[]);
    let app = App::monorepo(Some(&format!("DATABASE_URL={}\n", db.url)));
    let web = app.path().join("apps/web");
    let r = xtask(
        &[
            "--project-dir",
            ".",
            "onboard",
            "--yes",
            "--engine",
            "wasm",
            "--json",
        ],
        &web,
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let v = last_json(&r.stdout);
    assert_eq!(v["steps"][0]["name"], "tools");
    assert!(steps(&v).iter().all(|(_, s)| s == "pass"), "{v}");
    assert_eq!(
        v["steps"][4]["detail"],
        "prisma migrate deploy (WebAssembly engine): 2 migration(s) applied"
    );
    assert_migrated(&db);
    assert_no_secret(&r.all(), &db.password);
}

#[test]
fn a_fresh_clone_is_ready_on_the_wasm_engine_when_the_native_one_cannot_be_downloaded() {
    // The README's run: no .env.local, no .env.example, no database, no
    // flag but the cluster's place; the native engine's download fails.
    let app = App::new(None);
    let (cluster, _guard) = cluster_dir();
    let data = cluster_data(&cluster);
    let r = onboard_offline(&app, &["--data-dir", &data]);
    let db = started_dev_db(cluster, &r);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_no_secret(&r.all(), &db.password);
    assert_eq!(r.stderr.matches(FALLBACK_LINE).count(), 1, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "no DATABASE_URL and no .env.example: local dev-db started on port {}, URL written to .env.local",
            db.port
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("prisma migrate deploy (WebAssembly engine): 2 migration(s) applied"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("schema engine: the migrations ran on Prisma's WebAssembly engine"),
        "{}",
        r.stdout
    );
    assert!(last_line(&r.stdout).starts_with("Ready."), "{}", r.stdout);
    let rows = assert_migrated(&db);

    // Again, as a script: the same fallback, nothing applied, nothing changed.
    let before = files(app.path());
    let again = onboard_offline(&app, &["--data-dir", &data, "--json"]);
    assert_eq!(again.code, 0, "{}", again.all());
    let v = last_json(&again.stdout);
    assert!(steps(&v).iter().all(|(_, s)| s == "pass"), "{v}");
    assert_eq!(
        v["steps"][4]["detail"],
        "prisma migrate deploy (WebAssembly engine): nothing to apply"
    );
    assert_eq!(v["engine"]["used"], "wasm", "{v}");
    assert_eq!(v["engine"]["source"], "not_downloaded", "{v}");
    assert_eq!(
        again.stderr.matches(FALLBACK_LINE).count(),
        1,
        "{}",
        again.stderr
    );
    assert_eq!(assert_migrated(&db), rows, "a row changed");
    assert_eq!(files(app.path()), before, "a file changed");
    assert_no_secret(&again.all(), &db.password);
}

#[test]
fn onboarding_with_engine_native_does_not_fall_back_and_names_the_flag() {
    let db = DevDb::start(&[]);
    let app = App::new(Some(&format!("DATABASE_URL={}\n", db.url)));
    let r = onboard_offline(&app, &["--yes", "--engine", "native", "--json"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        !r.stderr.contains("using the WebAssembly engine"),
        "{}",
        r.stderr
    );
    let v = last_json(&r.stdout);
    assert_eq!(steps(&v)[4], ("migrations".to_string(), "fail".to_string()));
    assert_eq!(
        v["steps"][4]["detail"],
        "prisma migrate deploy failed: engine_download"
    );
    let dir = app.path().to_str().unwrap();
    let hint = v["steps"][4]["hint"].as_str().unwrap();
    assert!(
        hint.contains(&format!(
            "run `cargo xtask --project-dir {dir} onboard --yes --json --engine wasm`"
        )),
        "{hint}"
    );
    assert_eq!(v["engine"]["used"], "native", "{v}");
    assert!(db.recorded().is_none(), "nothing migrated");
}

#[test]
fn onboarding_with_engine_wasm_and_no_wasm_file_is_bad_input() {
    // The tools step passes (a prisma package, no lockfile to install
    // from); the migrations step finds no `.wasm` in it.
    let db = DevDb::start(&[]);
    let app = App::new(Some(&format!("DATABASE_URL={}\n", db.url)));
    let nm = app.path().join("node_modules");
    std::fs::remove_file(&nm).unwrap();
    let prisma = nm.join("prisma");
    std::fs::create_dir_all(&prisma).unwrap();
    std::fs::write(
        prisma.join("package.json"),
        r#"{ "name": "prisma", "version": "6.19.0" }"#,
    )
    .unwrap();
    std::fs::write(
        app.path().join("package.json"),
        r#"{ "name": "x", "private": true }"#,
    )
    .unwrap();
    std::fs::remove_file(app.path().join("package-lock.json")).unwrap();
    let r = onboard_offline(&app, &["--yes", "--engine", "wasm", "--json"]);
    assert_eq!(r.code, 2, "{}", r.all());
    let v = last_json(&r.stdout);
    assert_eq!(
        steps(&v)[4],
        ("migrations".to_string(), "fail".to_string()),
        "{v}"
    );
    assert!(
        v["steps"][4]["detail"]
            .as_str()
            .unwrap()
            .contains("schema_engine_bg.wasm does not exist"),
        "{v}"
    );
    assert!(
        v["steps"][4]["hint"]
            .as_str()
            .unwrap()
            .contains("--engine native"),
        "{v}"
    );
    assert!(db.recorded().is_none(), "nothing migrated");
}
