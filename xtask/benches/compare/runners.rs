//! Many runners, one database: N runners start `migrate --deploy` at once
//! against one dev-db with max_connections 25, and the one pending
//! migration runs 60 s (`SELECT pg_sleep(60)`), on Prisma's real engine
//! (the WebAssembly build). Beside each xtask row, the same N runners of
//! `npx prisma migrate deploy` run directly. For each row: how many
//! succeeded, the wall time, the peak number of client sessions on the
//! server (sampled every 100 ms through psql, its own session not
//! counted), and how many times the migration started, from
//! `_prisma_migrations`. One run each: the 60 s migration dominates.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use crate::bench::{pg_bin, xtask, Row};

const SLOW: &str = "20261204000000_sixty_second_backfill";

/// The rows; `app` is the migrate project when `npm ci` ran.
pub(super) fn rows(dir: &Path, app: &Path, engine: &Path, rows: &mut Vec<Row>) {
    let mut single = None;
    for n in [1usize, 5, 20] {
        for direct in [false, true] {
            let db = Db::up(&dir.join(format!("runners-{n}-{direct}")));
            let project = dir.join(format!("runners-app-{n}-{direct}"));
            copy_app(app, &project);
            std::fs::write(
                project.join(".env.local"),
                format!("DATABASE_URL={}\n", db.url),
            )
            .unwrap();
            // The committed migrations first, then the slow one on disk.
            let ok = runner(&project, engine, false).status().unwrap().success();
            assert!(ok, "the first deploy");
            let slow = project.join("prisma/migrations").join(SLOW);
            std::fs::create_dir_all(&slow).unwrap();
            std::fs::write(
                slow.join("migration.sql"),
                "CREATE TABLE \"Backfill\" (\"id\" INTEGER);\nSELECT pg_sleep(60);\n",
            )
            .unwrap();
            let (codes, wall, peak) = at_once(n, &db, || runner(&project, engine, direct));
            let ok = codes.iter().filter(|c| **c == Some(0)).count();
            let started = db.scalar(&format!(
                "SELECT count(*) FROM _prisma_migrations WHERE migration_name = '{SLOW}'"
            ));
            let who = if direct {
                "npx prisma migrate deploy"
            } else {
                "cargo xtask migrate --deploy --engine wasm"
            };
            let secs = wall.as_secs_f64();
            if !direct && n == 1 {
                single = Some(secs);
            }
            let vs = single
                .map(|s| format!("; {:.1}s more than 1 xtask runner", secs - s))
                .unwrap_or_default();
            rows.push(Row {
                what: format!("{n} runner(s) at once: {who}, a 60 s migration, max_connections 25"),
                runs: 1,
                samples: vec![secs * 1000.0],
                reference: None,
                target: if direct { "report".into() } else { "all succeed, applied once, peak far below N".into() },
                extra: format!(
                    " {ok} of {n} succeeded; peak {peak} client sessions; the migration started {started} time(s){vs}"
                ),
            });
            db.down();
        }
    }
}

/// One runner: the xtask (through the wait stage) or Prisma directly, on
/// the engine host, with the URL from the project's `.env.local`.
fn runner(project: &Path, engine: &Path, direct: bool) -> Command {
    let mut c = if direct {
        let mut c = Command::new("npx");
        c.args(["--no-install", "prisma", "migrate", "deploy"]);
        let url = std::fs::read_to_string(project.join(".env.local")).unwrap();
        c.env(
            "DATABASE_URL",
            url.trim().trim_start_matches("DATABASE_URL="),
        );
        c.env("PRISMA_SCHEMA_ENGINE_BINARY", engine);
        c
    } else {
        let mut c = Command::new(xtask());
        c.args([
            "--project-dir",
            project.to_str().unwrap(),
            "migrate",
            "--deploy",
            "--engine",
            "wasm",
            "--json",
        ]);
        c.env_remove("DATABASE_URL");
        c
    };
    c.current_dir(project)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Starts `n` runners at once; their exit codes, the wall time until the
/// last ended, and the peak of client sessions meanwhile.
fn at_once(n: usize, db: &Db, make: impl Fn() -> Command) -> (Vec<Option<i32>>, Duration, i64) {
    let done = AtomicBool::new(false);
    let peak = AtomicI64::new(0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                // psql's own session is one of them.
                let now = db.scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
                ) - 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let t0 = Instant::now();
        let children: Vec<_> = (0..n).map(|_| make().spawn().unwrap()).collect();
        let codes = children
            .into_iter()
            .map(|mut c| c.wait().unwrap().code())
            .collect();
        let wall = t0.elapsed();
        done.store(true, Ordering::SeqCst);
        (codes, wall, peak.load(Ordering::SeqCst))
    })
}

/// A dev-db of its own, max_connections 25.
struct Db {
    data: PathBuf,
    url: String,
}

impl Db {
    fn up(data: &Path) -> Db {
        let d = data.to_str().unwrap();
        let up = Command::new(xtask())
            .args([
                "dev-db",
                "up",
                "--port",
                "0",
                "--max-connections",
                "25",
                "--stop-after",
                "900",
                "--data-dir",
                d,
            ])
            .output()
            .unwrap();
        assert!(
            up.status.success(),
            "dev-db up: {}",
            String::from_utf8_lossy(&up.stderr)
        );
        let url = Command::new(xtask())
            .args(["dev-db", "url", "--data-dir", d])
            .output()
            .unwrap();
        Db {
            data: data.to_path_buf(),
            url: String::from_utf8(url.stdout).unwrap().trim().to_string(),
        }
    }

    fn scalar(&self, sql: &str) -> i64 {
        let out = Command::new(pg_bin("psql"))
            .args([&self.url, "-X", "-Atc", sql])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(-1)
    }

    fn down(&self) {
        let _ = Command::new(xtask())
            .args([
                "dev-db",
                "down",
                "--purge",
                "--data-dir",
                self.data.to_str().unwrap(),
            ])
            .output();
    }
}

fn copy_app(app: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["prisma.config.ts", "package.json", "package-lock.json"] {
        std::fs::copy(app.join(f), to.join(f)).unwrap();
    }
    crate::bench::copy_tree(&app.join("prisma"), &to.join("prisma"));
    std::os::unix::fs::symlink(app.join("node_modules"), to.join("node_modules")).unwrap();
}
