//! `--engine native|wasm`: migrate on Prisma's WebAssembly schema engine
//! (the real engine host, the real CLI, a real dev-db: no stand-in), the
//! checks before Prisma starts, the fix named after a failed download, and
//! the engine db-test reports.

use crate::support::*;
use std::path::Path;

/// A mirror on a closed port: the native engine's download fails at once,
/// here and on a machine that could reach Prisma's host.
fn closed_mirror() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// The migrations `_prisma_migrations` records as finished, or None
/// when the table does not exist.
fn finished_migrations(db: &DevDb) -> Option<Vec<String>> {
    db.recorded().map(|_| db.finished())
}

fn migrate(app: &App, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut a = vec!["--project-dir", app.path().to_str().unwrap(), "migrate"];
    a.extend_from_slice(args);
    xtask(&a, app.path(), env, None)
}

#[test]
fn deploy_on_the_wasm_engine_applies_the_committed_migrations() {
    let db = DevDb::start(&[]);
    let app = App::new(Some(&format!("DATABASE_URL={}\n", db.url)));
    // A stand-in named in the environment is replaced for this run, and the
    // closed mirror shows that nothing is downloaded.
    let mirror = closed_mirror();
    let mut env = app.engine_env("ok");
    env.push(("PRISMA_ENGINES_MIRROR".into(), mirror));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = migrate(&app, &["--deploy", "--engine", "wasm", "--json"], &env);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_no_secret(&r.all(), &db.password);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is one JSON object ({e}):\n{}", r.stdout));
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["engine"], "wasm", "{v}");
    let want = [
        "20261101000000_init",
        "20261124000001_add_saved_comparables",
    ];
    assert_eq!(v["applied"], serde_json::json!(want), "{v}");
    assert_eq!(
        finished_migrations(&db).as_deref(),
        Some(&want.map(String::from)[..])
    );
    assert!(app.engine_log().is_empty(), "the stand-in must not run");
    let line = "migrate: engine: Prisma's WebAssembly schema engine (node_modules/prisma/build/schema_engine_bg.wasm, driver node-postgres)";
    assert_eq!(r.stderr.matches(line).count(), 1, "{}", r.stderr);
    assert_eq!(r.stderr.matches("engine: ").count(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("instead of PRISMA_SCHEMA_ENGINE_BINARY from your environment"),
        "{}",
        r.stderr
    );

    // Again: nothing to apply, still one engine line.
    let again = migrate(&app, &["--deploy", "--engine=wasm"], &[]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(
        again.stderr.contains("no migrations applied"),
        "{}",
        again.stderr
    );
    assert_eq!(again.stderr.matches("engine: ").count(), 1);
}

/// The app with a `prisma` package of another version that has no `.wasm`.
fn app_with_prisma_without_wasm(env_local: &str) -> App {
    let app = App::new(Some(env_local));
    let nm = app.path().join("node_modules");
    std::fs::remove_file(&nm).unwrap();
    let prisma = nm.join("prisma");
    std::fs::create_dir_all(prisma.join("build")).unwrap();
    std::fs::write(
        prisma.join("package.json"),
        r#"{ "name": "prisma", "version": "6.19.0" }"#,
    )
    .unwrap();
    app
}

#[test]
fn wasm_without_the_wasm_file_is_bad_input_and_applies_nothing() {
    let db = DevDb::start(&[]);
    let app = app_with_prisma_without_wasm(&format!("DATABASE_URL={}\n", db.url));
    let r = migrate(&app, &["--deploy", "--engine", "wasm", "--json"], &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    let file = app
        .path()
        .join("node_modules/prisma/build/schema_engine_bg.wasm");
    for want in [
        file.to_str().unwrap(),
        "6.19.0",
        "prisma 7.10.1",
        "npm ci",
        "--engine native",
    ] {
        assert!(r.stderr.contains(want), "{want}: {}", r.stderr);
    }
    assert!(
        !r.stderr.contains("running "),
        "Prisma must not start: {}",
        r.stderr
    );
    assert_eq!(finished_migrations(&db), None, "nothing applied");
    assert_no_secret(&r.all(), &db.password);
}

#[test]
fn an_unknown_engine_is_bad_usage() {
    let dir = TempDir::new("engine");
    for cmd in [&["migrate", "--deploy"][..], &["onboard"]] {
        let mut a = vec!["--project-dir", dir.path().to_str().unwrap()];
        a.extend_from_slice(cmd);
        a.extend_from_slice(&["--engine", "bogus"]);
        let r = xtask(&a, dir.path(), &[], None);
        assert_eq!(r.code, 2, "{cmd:?}: {}", r.all());
        assert!(
            r.stderr
                .contains("--engine takes native or wasm, not `bogus`"),
            "{cmd:?}: {}",
            r.stderr
        );
    }
    let help = xtask(&["migrate", "--help"], dir.path(), &[], None);
    assert!(
        help.stdout.contains("--engine native|wasm"),
        "{}",
        help.stdout
    );
}

#[test]
fn a_failed_download_names_a_command_that_works() {
    let db = DevDb::start(&[]);
    let app = App::new(Some(&format!("DATABASE_URL={}\n", db.url)));
    let mirror = closed_mirror();
    let env = [
        ("PRISMA_ENGINES_MIRROR", mirror.as_str()),
        ("PRISMA_SCHEMA_ENGINE_BINARY", ""),
    ];
    let r = migrate(&app, &["--deploy", "--json"], &env);
    assert_eq!(r.code, 1, "{}", r.all());
    let v = last_json(&r.stdout);
    assert_eq!(v["engine"], "native");
    assert_eq!(v["diagnosis"]["code"], "engine_download", "{v}");
    let hint = v["diagnosis"]["hint"].as_str().unwrap();
    let dir = app.path().to_str().unwrap();
    let cmd = format!("cargo xtask --project-dir {dir} migrate --deploy --json --engine wasm");
    assert!(hint.contains(&format!("run `{cmd}`")), "{hint}");
    assert_eq!(finished_migrations(&db), None);

    // The command the hint names, as it names it, does the job.
    let words: Vec<&str> = cmd.split(' ').skip(2).collect();
    let again = xtask(&words, app.path(), &env, None);
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(
        last_json(&again.stdout)["applied"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(finished_migrations(&db).map(|m| m.len()), Some(2));
}

/// db-test's `engine` object, for a database nobody listens on.
fn db_test_engine(dir: &Path, env: &[(&str, &str)]) -> (Run, serde_json::Value) {
    let url = format!("postgresql://app:pw-x1@127.0.0.1:{}/app", free_port());
    let mut all = vec![("DATABASE_URL", url.as_str())];
    all.extend_from_slice(env);
    let d = dir.to_str().unwrap();
    let r = xtask(&["--project-dir", d, "db-test", "--json"], dir, &all, None);
    assert_eq!(r.code, 1, "{}", r.all());
    let v = last_json(&r.stdout);
    (r, v["engine"].clone())
}

#[test]
fn db_test_says_which_engine_prisma_will_use() {
    // Named in the environment.
    let dir = TempDir::new("engine");
    let (_, e) = db_test_engine(
        dir.path(),
        &[("PRISMA_SCHEMA_ENGINE_BINARY", "/opt/engines/schema-engine")],
    );
    assert_eq!(e["source"], "env", "{e}");
    assert_eq!(e["path"], "/opt/engines/schema-engine", "{e}");

    // Not downloaded: nothing in node_modules/@prisma/engines.
    let (_, e) = db_test_engine(dir.path(), &[("PRISMA_SCHEMA_ENGINE_BINARY", "")]);
    assert_eq!(e["source"], "not_downloaded", "{e}");
    assert_eq!(e["path"], serde_json::Value::Null, "{e}");
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("`--engine wasm` needs no download"),
        "{e}"
    );

    // Downloaded, where Prisma 7.10.1 puts it.
    let engines = dir.path().join("node_modules/@prisma/engines");
    std::fs::create_dir_all(&engines).unwrap();
    std::fs::write(
        engines.join("package.json"),
        r#"{ "name": "@prisma/engines", "version": "7.10.1" }"#,
    )
    .unwrap();
    let binary = engines.join("schema-engine-debian-openssl-3.0.x");
    std::fs::write(&binary, "").unwrap();
    let (_, e) = db_test_engine(dir.path(), &[("PRISMA_SCHEMA_ENGINE_BINARY", "")]);
    assert_eq!(e["source"], "downloaded", "{e}");
    assert_eq!(e["path"], binary.to_str().unwrap(), "{e}");

    // The human line.
    let url = format!("postgresql://app:pw-x1@127.0.0.1:{}/app", free_port());
    let d = dir.path().to_str().unwrap();
    let r = xtask(
        &["--project-dir", d, "db-test"],
        dir.path(),
        &[
            ("DATABASE_URL", &url),
            ("PRISMA_SCHEMA_ENGINE_BINARY", "/opt/engines/schema-engine"),
        ],
        None,
    );
    assert!(
        r.stdout.contains("Prisma's schema engine: PRISMA_SCHEMA_ENGINE_BINARY from your environment (/opt/engines/schema-engine)"),
        "{}",
        r.stdout
    );
}
