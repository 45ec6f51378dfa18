//! onboard: a fresh project directory (the app's files, no .env.local, no
//! database) all the way to a migrated database, then the failure paths.
//! Prisma's schema engine is the stand-in (see support/stand-in-engine.mjs),
//! except in the last tests: there the native engine's download fails and
//! onboarding runs Prisma's WebAssembly engine, for real.

mod support;

use support::*;

fn onboard(app: &App, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let engine = app.engine_env("ok");
    let mut all: Vec<(&str, &str)> = engine
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend_from_slice(env);
    let mut a = vec!["--project-dir", app.path().to_str().unwrap(), "onboard"];
    a.extend_from_slice(args);
    xtask(&a, app.path(), &all, stdin)
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

#[test]
fn local_onboarding_from_nothing_then_again_changes_nothing() {
    let app = App::new(None);
    let data = app.path().join("db");
    let _guard = ClusterGuard(data.clone());
    let d = data.to_str().unwrap();
    let r = onboard(
        &app,
        &["--local", "--yes", "--data-dir", d, "--json"],
        &[],
        None,
    );
    let url = xtask(&["dev-db", "url", "--data-dir", d], app.path(), &[], None)
        .stdout
        .trim()
        .to_string();
    let password = password_of(&url);
    assert_no_secret(&r.all(), &password);
    assert_eq!(r.code, 0, "{}", r.all());
    let v = last_json(&r.stdout);
    assert_eq!(v["ok"], true);
    let names: Vec<String> = steps(&v)
        .into_iter()
        .map(|(n, s)| {
            assert_eq!(s, "ok", "{n}: {v}");
            n
        })
        .collect();
    assert_eq!(
        names,
        ["tools", "environment", "env-fix", "db-test", "migrations"]
    );
    assert!(
        v["steps"][4]["detail"]
            .as_str()
            .unwrap()
            .contains("2 migration(s) applied"),
        "{v}"
    );

    // .env.local is valid: dotenvy reads a URL that authenticates.
    let env_path = app.path().join(".env.local");
    let text = std::fs::read_to_string(&env_path).unwrap();
    let vars: Vec<(String, String)> = dotenvy::from_read_iter(text.as_bytes())
        .map(|r| r.unwrap())
        .collect();
    let written = &vars.iter().find(|(k, _)| k == "DATABASE_URL").unwrap().1;
    assert_eq!(password_of(written), password);
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

    // Again: nothing changes on disk, every step passes.
    let again = onboard(
        &app,
        &["--local", "--yes", "--data-dir", d, "--json"],
        &[],
        None,
    );
    assert_eq!(again.code, 0, "{}", again.all());
    assert_eq!(std::fs::read_to_string(&env_path).unwrap(), text);
    let v = last_json(&again.stdout);
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
    assert!(
        v["steps"][4]["detail"]
            .as_str()
            .unwrap()
            .contains("nothing to apply"),
        "{v}"
    );
    // The password is in .env.local (and its backup) and in the dev-db's own
    // credential file, and nowhere else the commands wrote.
    assert_no_secret_in_files(
        app.path(),
        &password,
        &[".env.local", ".env.local.bak.local", "state.env"],
    );
    assert_no_secret(&again.all(), &password);
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
    let r = onboard(&app, &["--check", "--yes", "--json"], &[], None);
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
    let r = onboard(&app, &["--yes"], &[], None);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stdout.contains("--password-stdin"), "{}", r.stdout);
    assert!(
        !app.path().join(".env.local").exists(),
        "nothing written without a password"
    );

    let r = onboard(
        &app,
        &["--yes", "--password-stdin", "--json"],
        &[],
        Some(&format!("{}\n", db.password)),
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_no_secret(&r.all(), &db.password);
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
    let r = onboard(&app, &["--yes", "--json"], &[], None);
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
    let data = app.path().join("db");
    let _guard = ClusterGuard(data.clone());
    let env = app.engine_env("ok");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = xtask(
        &[
            "--project-dir",
            web.to_str().unwrap(),
            "onboard",
            "--local",
            "--yes",
            "--json",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &web,
        &env,
        None,
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let v = last_json(&r.stdout);
    let tools = &v["steps"][0];
    assert_eq!(tools["status"], "ok", "{v}");
    assert!(
        !tools["detail"].as_str().unwrap().contains("ran npm ci"),
        "{v}"
    );
    assert!(web.join(".env.local").exists());
    assert!(!app.path().join(".env.local").exists());
}

#[test]
fn bad_input_in_a_step_is_exit_2_as_everywhere() {
    // A placeholder password is bad input for every command; onboard used
    // to report it as a failed step with exit 1.
    let app = App::new(Some(
        "DATABASE_URL=postgresql://app:[YOUR-PASSWORD]@127.0.0.1:1/app\n",
    ));
    let r = onboard(&app, &["--yes", "--no-migrate", "--json"], &[], None);
    assert_eq!(r.code, 2, "{}", r.all());
    let v = last_json(&r.stdout);
    assert_eq!(v["ok"], false);
}

#[test]
fn a_relative_project_dir_in_a_monorepo_still_finds_the_root() {
    // `--project-dir .` from apps/web: the walk up to the lockfile and the
    // hoisted node_modules starts from the absolute path.
    let app = App::monorepo(Some(
        "DATABASE_URL=postgresql://app:pw-x1@127.0.0.1:1/app\n",
    ));
    let web = app.path().join("apps/web");
    let r = xtask(
        &[
            "--project-dir",
            ".",
            "onboard",
            "--yes",
            "--no-migrate",
            "--json",
        ],
        &web,
        &[],
        None,
    );
    let v = last_json(&r.stdout);
    assert_eq!(v["steps"][0]["name"], "tools");
    assert_eq!(v["steps"][0]["status"], "ok", "{v}");
}

/// onboard with Prisma's own engine choice: no stand-in, so the CLI tries
/// to download its native schema engine, from a mirror on a closed port
/// (this fails here, where Prisma's host cannot be reached, and on any
/// machine that could reach it).
fn onboard_without_stand_in(app: &App, args: &[&str]) -> Run {
    let mirror = format!("http://127.0.0.1:{}", free_port());
    let env = [
        ("PRISMA_ENGINES_MIRROR", mirror.as_str()),
        ("PRISMA_SCHEMA_ENGINE_BINARY", ""),
    ];
    let mut a = vec!["--project-dir", app.path().to_str().unwrap(), "onboard"];
    a.extend_from_slice(args);
    xtask(&a, app.path(), &env, None)
}

/// How many migrations `_prisma_migrations` records as finished (0 when
/// the table does not exist).
fn finished_migrations(db: &DevDb) -> i64 {
    let mut c = db.app();
    let exists: bool = c
        .query_one(
            "SELECT to_regclass('public._prisma_migrations') IS NOT NULL",
            &[],
        )
        .unwrap()
        .get(0);
    if !exists {
        return 0;
    }
    c.query_one(
        "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL",
        &[],
    )
    .unwrap()
    .get(0)
}

#[test]
fn when_the_native_engine_cannot_be_downloaded_onboarding_uses_the_wasm_one() {
    let db = DevDb::start(&[]);
    let app = App::new(Some(&format!("DATABASE_URL={}\n", db.url)));
    let r = onboard_without_stand_in(&app, &["--yes"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_no_secret(&r.all(), &db.password);
    let line = "Prisma could not download its native schema engine; using the WebAssembly engine from node_modules/prisma instead";
    assert_eq!(r.stderr.matches(line).count(), 1, "{}", r.stderr);
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
    let last = r
        .stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap();
    assert!(last.starts_with("Ready."), "{}", r.stdout);
    assert_eq!(finished_migrations(&db), 2);

    // Again, as a script: the same fallback, nothing to apply.
    let again = onboard_without_stand_in(&app, &["--yes", "--json"]);
    assert_eq!(again.code, 0, "{}", again.all());
    let v = last_json(&again.stdout);
    assert!(steps(&v).iter().all(|(_, s)| s == "ok"), "{v}");
    assert_eq!(
        v["steps"][4]["detail"],
        "prisma migrate deploy (WebAssembly engine): nothing to apply"
    );
    assert_eq!(v["engine"]["used"], "wasm", "{v}");
    assert_eq!(v["engine"]["source"], "not_downloaded", "{v}");
    assert_eq!(again.stderr.matches(line).count(), 1, "{}", again.stderr);
}

#[test]
fn onboarding_with_engine_native_does_not_fall_back_and_names_the_flag() {
    let db = DevDb::start(&[]);
    let app = App::new(Some(&format!("DATABASE_URL={}\n", db.url)));
    let r = onboard_without_stand_in(&app, &["--yes", "--engine", "native", "--json"]);
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
    assert_eq!(finished_migrations(&db), 0);
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
    let r = onboard_without_stand_in(&app, &["--yes", "--engine", "wasm", "--json"]);
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
    assert_eq!(finished_migrations(&db), 0);
}
