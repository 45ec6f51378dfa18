//! `cargo bench -p xtask`: the xtask measured side by side with the tools a
//! developer would otherwise use (psql, pg_isready, a direct Prisma run).
//! It reports; it never fails on a missed target. Runs alternate A B A B so
//! machine drift cancels; warm-up runs are dropped; only prebuilt binaries
//! are timed. The table goes to stdout and to target/bench/report.md.

fn main() {
    #[cfg(unix)]
    bench::main();
    #[cfg(not(unix))]
    println!("the benchmarks measure with wait4 and compare with psql: run them on Linux or macOS");
}

// The fault proxy the tests use, here with its latency fault.
#[cfg(unix)]
#[path = "../tests/support/proxy.rs"]
mod proxy;

#[cfg(unix)]
#[path = "compare/latency.rs"]
mod latency;

#[cfg(unix)]
#[path = "compare/runners.rs"]
mod runners;

/// Unix only: peak memory comes from wait4.
#[cfg(unix)]
mod bench {
    use std::io::Write;
    use std::net::TcpListener;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    /// The xtask as users run it: the dev profile (`cargo xtask`), built
    /// here, since cargo builds the bench's own copy with the release
    /// profile. XTASK_BENCH_PROFILE=release times that copy instead.
    pub(crate) fn xtask() -> PathBuf {
        static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        BIN.get_or_init(|| {
            if std::env::var("XTASK_BENCH_PROFILE").as_deref() == Ok("release") {
                return PathBuf::from(env!("CARGO_BIN_EXE_xtask"));
            }
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let ok = Command::new(cargo)
                .args(["build", "-p", "xtask", "--bin", "xtask"])
                .current_dir(workspace())
                .status()
                .expect("cargo build");
            assert!(ok.success(), "cargo build -p xtask");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace().join("target"));
            target.join("debug").join("xtask")
        })
        .clone()
    }

    /// `cargo bench -p xtask -- WORD` runs only the groups whose name
    /// contains WORD (loopback, latency, envfix, runners).
    fn wanted(group: &str) -> bool {
        let words: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        words.is_empty() || words.iter().any(|w| group.contains(w.as_str()))
    }

    fn workspace() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    pub(crate) fn pg_bin(name: &str) -> PathBuf {
        if let Ok(dir) = std::env::var("PG_BIN") {
            return Path::new(&dir).join(name);
        }
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|rd| rd.flatten().map(|e| e.path().join("bin")).collect())
            .unwrap_or_default();
        dirs.sort();
        dirs.into_iter()
            .rev()
            .map(|d| d.join(name))
            .find(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from(name))
    }

    /// One timed run: wall time and the child's peak resident memory.
    pub(crate) struct Sample {
        pub(crate) wall: Duration,
        pub(crate) max_rss_kib: u64,
    }

    // The child is reaped by wait4 in `wait_rusage`, which also gives its peak RSS.
    #[allow(clippy::zombie_processes)]
    pub(crate) fn run(cmd: &mut Command) -> Sample {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let start = Instant::now();
        let child = cmd.spawn().expect("start command");
        let (wall, rss) = wait_rusage(child.id(), start);
        Sample {
            wall,
            max_rss_kib: rss,
        }
    }

    /// Waits with wait4 so the child's own peak RSS is known.
    fn wait_rusage(pid: u32, start: Instant) -> (Duration, u64) {
        let mut status = 0;
        // SAFETY: a zeroed rusage is valid; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        (start.elapsed(), usage.ru_maxrss as u64)
    }

    pub(crate) fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }

    pub(crate) struct Row {
        pub(crate) what: String,
        pub(crate) runs: usize,
        pub(crate) samples: Vec<f64>,
        pub(crate) reference: Option<(String, f64)>,
        pub(crate) target: String,
        pub(crate) extra: String,
    }

    impl Row {
        fn med(&self) -> f64 {
            median(self.samples.clone())
        }
        fn line(&self) -> String {
            let min = self.samples.iter().cloned().fold(f64::MAX, f64::min);
            let max = self.samples.iter().cloned().fold(0.0, f64::max);
            let (ratio, vs) = match &self.reference {
                Some((name, m)) => (format!("{:.2}", self.med() / m), name.clone()),
                None => ("-".into(), "-".into()),
            };
            format!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {} | {} |{}",
                self.what,
                self.runs,
                self.med(),
                min,
                max,
                vs,
                ratio,
                self.target,
                self.extra
            )
        }
    }

    /// Alternates A and B `n` times after `warm` warm-up rounds; returns ms samples.
    pub(crate) fn alternate(
        n: usize,
        warm: usize,
        a: &mut dyn FnMut() -> Sample,
        b: &mut dyn FnMut() -> Sample,
    ) -> (Vec<Sample>, Vec<Sample>) {
        for _ in 0..warm {
            a();
            b();
        }
        let (mut sa, mut sb) = (Vec::new(), Vec::new());
        for _ in 0..n {
            sa.push(a());
            sb.push(b());
        }
        (sa, sb)
    }

    pub(crate) fn ms(s: &[Sample]) -> Vec<f64> {
        s.iter().map(|x| x.wall.as_secs_f64() * 1000.0).collect()
    }

    pub fn main() {
        // `cargo bench` passes --bench; anything else (a filter) is ignored.
        let machine = machine();
        println!("xtask benchmarks on {machine}");
        let dir = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let data = dir.join("db");
        let d = data.to_str().unwrap().to_string();
        let up = Command::new(xtask())
            .args([
                "dev-db",
                "up",
                "--port",
                "0",
                "--stop-after",
                "1200",
                "--data-dir",
                &d,
            ])
            .output()
            .unwrap();
        assert!(
            up.status.success(),
            "dev-db up: {}",
            String::from_utf8_lossy(&up.stderr)
        );
        let url = String::from_utf8(
            Command::new(xtask())
                .args(["dev-db", "url", "--data-dir", &d])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap()
        .trim()
        .to_string();
        let mut rows = Vec::new();

        let app = migrate_app(&dir);
        if app.is_none() {
            println!("(skipping the migrate rows: run `npm ci` first)");
        }
        if wanted("loopback") {
            loopback(&url, &dir, app.as_deref(), &mut rows);
        }
        if wanted("envfix") {
            envfix(&dir, &mut rows);
        }
        if wanted("latency") {
            crate::latency::rows(&url, &dir, app.as_deref(), &mut rows);
        }
        if let (true, Some(app)) = (wanted("runners"), app.as_deref()) {
            let host = Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/schema-engine.mjs");
            crate::runners::rows(&dir, app, &host, &mut rows);
        }

        let _ = Command::new(xtask())
            .args(["dev-db", "down", "--purge", "--data-dir", &d])
            .output();
        let _ = std::fs::remove_dir_all(&dir);

        let mut report = format!("Machine: {machine}\n\n| what | runs | median ms | min ms | max ms | reference | ratio | target | notes |\n|---|---|---|---|---|---|---|---|---|\n");
        for r in &rows {
            report.push_str(&r.line());
            report.push('\n');
        }
        println!("\n{report}");
        let out = workspace().join("target").join("bench");
        std::fs::create_dir_all(&out).unwrap();
        let mut f = std::fs::File::create(out.join("report.md")).unwrap();
        f.write_all(report.as_bytes()).unwrap();
        println!("written to {}", out.join("report.md").display());
    }

    /// The rows on loopback: db-test against psql, the silent listener, the
    /// closed port, sslmode=disable, migrate's own overhead.
    fn loopback(url: &str, dir: &Path, app: Option<&Path>, rows: &mut Vec<Row>) {
        let url = url.to_string();
        // 1. db-test checks 1-7 against psql running the same queries over TLS.
        let server_sql = "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()), (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), current_setting('max_connections'), current_setting('superuser_reserved_connections'), current_setting('statement_timeout'), current_setting('idle_in_transaction_session_timeout'), current_setting('idle_session_timeout'), current_setting('tcp_keepalives_idle'), (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())";
        let (a, b) = alternate(
            20,
            2,
            &mut || {
                run(Command::new(xtask())
                    .args(["db-test", "--quick", "--json"])
                    .env("DATABASE_URL", &url)
                    .current_dir(dir))
            },
            &mut || {
                run(Command::new(pg_bin("psql")).args([
                    url.as_str(),
                    "-X",
                    "-q",
                    "-c",
                    "SELECT version()",
                    "-c",
                    server_sql,
                ]))
            },
        );
        let psql_med = median(ms(&b));
        rows.push(Row {
            what: "db-test checks 1-7, TLS dev-db".into(),
            runs: 20,
            samples: ms(&a),
            reference: Some(("psql, same queries".into(), psql_med)),
            target: "ratio <= 1.0".into(),
            extra: format!(" psql median {psql_med:.1} ms"),
        });
        let rss = a.iter().map(|s| s.max_rss_kib).max().unwrap_or(0);
        rows.push(Row {
            what: "db-test peak memory (max RSS, MiB)".into(),
            runs: 20,
            samples: a.iter().map(|s| s.max_rss_kib as f64 / 1024.0).collect(),
            reference: None,
            target: "<= 20 MiB".into(),
            extra: format!(" max {:.1} MiB", rss as f64 / 1024.0),
        });

        // 2. A listener that accepts and stays silent, connect_timeout=3.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let sport = silent.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in silent.incoming().flatten() {
                held.push(s);
            }
        });
        let silent_url =
            format!("postgresql://app:x@127.0.0.1:{sport}/db?sslmode=require&connect_timeout=3");
        let (a, b) = alternate(
            3,
            0,
            &mut || {
                run(Command::new(xtask())
                    .args(["db-test", "--quick", "--json"])
                    .env("DATABASE_URL", &silent_url)
                    .current_dir(dir))
            },
            &mut || {
                run(Command::new(pg_bin("psql")).args([
                    silent_url.as_str(),
                    "-X",
                    "-c",
                    "select 1",
                ]))
            },
        );
        let mut isready = Vec::new();
        for _ in 0..3 {
            isready.push(run(Command::new(pg_bin("pg_isready")).args([
                "-h",
                "127.0.0.1",
                "-p",
                &sport.to_string(),
                "-t",
                "3",
            ])));
        }
        let psql_m = median(ms(&b));
        let isready_m = median(ms(&isready));
        rows.push(Row {
            what: "verdict on a silent listener, connect_timeout=3".into(),
            runs: 3,
            samples: ms(&a),
            reference: Some(("psql".into(), psql_m)),
            target: "<= 3500 ms, <= both refs".into(),
            extra: format!(" psql {psql_m:.0} ms, pg_isready -t 3 {isready_m:.0} ms"),
        });

        // 3. A closed port, and sslmode=disable against the TLS-only server.
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let closed_url = format!("postgresql://app:x@127.0.0.1:{closed}/db");
        let (a, b) = alternate(
            10,
            1,
            &mut || {
                run(Command::new(xtask())
                    .args(["db-test", "--quick", "--json"])
                    .env("DATABASE_URL", &closed_url)
                    .current_dir(dir))
            },
            &mut || {
                run(Command::new(pg_bin("psql")).args([
                    closed_url.as_str(),
                    "-X",
                    "-c",
                    "select 1",
                ]))
            },
        );
        rows.push(Row {
            what: "verdict on a closed port".into(),
            runs: 10,
            samples: ms(&a),
            reference: Some(("psql".into(), median(ms(&b)))),
            target: "-".into(),
            extra: String::new(),
        });
        let plain_url = url.replace("sslmode=require", "sslmode=disable");
        let (a, b) = alternate(
            10,
            1,
            &mut || {
                run(Command::new(xtask())
                    .args(["db-test", "--quick", "--json"])
                    .env("DATABASE_URL", &plain_url)
                    .current_dir(dir))
            },
            &mut || {
                run(Command::new(pg_bin("psql")).args([plain_url.as_str(), "-X", "-c", "select 1"]))
            },
        );
        rows.push(Row {
            what: "verdict on sslmode=disable vs TLS-only server".into(),
            runs: 10,
            samples: ms(&a),
            reference: Some(("psql".into(), median(ms(&b)))),
            target: "-".into(),
            extra: String::new(),
        });

        // 4. migrate --no-preflight against the same Prisma command run directly,
        //    both with Prisma's real schema engine (the WebAssembly build, through
        //    the engine host: the native binary cannot be downloaded here). The
        //    committed migrations are applied by the first run; the rest are the
        //    no-op deploy a CI job runs most of the time.
        if let Some(app) = app {
            let host = Path::new(env!("CARGO_MANIFEST_DIR")).join("engine/schema-engine.mjs");
            let standin =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/stand-in-engine.mjs");
            let tuned = format!("{url}&connect_timeout=30&pool_timeout=30");
            // `npx prisma migrate deploy` run directly, on `engine`.
            let npx_deploy = |engine: &Path, env: &[(&str, &str)]| {
                let mut c = Command::new("npx");
                c.args(["--no-install", "prisma", "migrate", "deploy"])
                    .env("DATABASE_URL", &tuned)
                    .env("PRISMA_SCHEMA_ENGINE_BINARY", engine)
                    .envs(env.iter().copied())
                    .current_dir(app);
                run(&mut c)
            };
            let (a, b) = alternate(
                16,
                1,
                &mut || {
                    let mut c = Command::new(xtask());
                    c.args([
                        "--project-dir",
                        app.to_str().unwrap(),
                        "migrate",
                        "--deploy",
                        "--no-preflight",
                        "--engine",
                        "wasm",
                    ])
                    .env("DATABASE_URL", &url)
                    .current_dir(app);
                    run(&mut c)
                },
                &mut || npx_deploy(&host, &[]),
            );
            let direct = median(ms(&b));
            let overhead = median(ms(&a)) - direct;
            rows.push(Row {
                what: "migrate --deploy --no-preflight --engine wasm (nothing to apply)".into(),
                runs: 16,
                samples: ms(&a),
                reference: Some(("npx prisma migrate deploy, same engine".into(), direct)),
                target: "overhead <= 50 ms".into(),
                extra: format!(" overhead {overhead:+.0} ms"),
            });

            // 5. What the WebAssembly engine costs each Prisma command: the same
            //    deploy with an engine that starts Node and answers at once
            //    (the stand-in) is the reference; the difference is loading and
            //    compiling the 5 MB module, the adapter, and the engine's own work.
            let (w, s) = alternate(12, 1, &mut || npx_deploy(&host, &[]), &mut || {
                npx_deploy(&standin, &[("STANDIN_PLAN", "ok")])
            });
            let cost = median(ms(&w)) - median(ms(&s));
            rows.push(Row {
                what: "WebAssembly engine start-up, per Prisma command (npx prisma migrate deploy)"
                    .into(),
                runs: 12,
                samples: ms(&w),
                reference: Some(("same with a stand-in engine".into(), median(ms(&s)))),
                target: "-".into(),
                extra: format!(" engine cost {cost:+.0} ms"),
            });
            let (v, n) = alternate(
                12,
                1,
                &mut || run(Command::new(&host).arg("--version").current_dir(app)),
                &mut || run(Command::new("node").arg("-e").arg("0").current_dir(app)),
            );
            rows.push(Row {
                what: "engine host --version (Node + compile the .wasm)".into(),
                runs: 12,
                samples: ms(&v),
                reference: Some(("node -e 0".into(), median(ms(&n)))),
                target: "-".into(),
                extra: String::new(),
            });
        }
    }

    /// env-fix on a large file.
    fn envfix(dir: &Path, rows: &mut Vec<Row>) {
        // 5. env-fix --dry-run on a 10,000-line file with the URL near the end.
        let proj = dir.join("big");
        std::fs::create_dir_all(&proj).unwrap();
        let mut text = String::new();
        for i in 0..9_990 {
            match i % 4 {
                0 => text.push_str(&format!("# setting {i}\n")),
                1 => text.push_str(&format!("FEATURE_{i}=on\n")),
                2 => text.push_str(&format!("QUOTED_{i}=\"value with spaces {i}\"\n")),
                _ => text.push_str(&format!("export SINGLE_{i}='literal $x {i}'\n")),
            }
        }
        text.push_str("DATABASE_URL=postgresql://app:Sup3r$ecret#1@db.abc.eu-west-1.rds.amazonaws.com:5432/summitly\n");
        for i in 0..9 {
            text.push_str(&format!("TAIL_{i}=x\n"));
        }
        std::fs::write(proj.join(".env.local"), &text).unwrap();
        let mut samples = Vec::new();
        for i in 0..22 {
            let s = run(Command::new(xtask()).args([
                "--project-dir",
                proj.to_str().unwrap(),
                "env-fix",
                "--dry-run",
            ]));
            if i >= 2 {
                samples.push(s);
            }
        }
        let rss = samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0);
        rows.push(Row {
            what: "env-fix --dry-run, 10,000-line file".into(),
            runs: 20,
            samples: ms(&samples),
            reference: None,
            target: "<= 20 ms, <= 20 MiB".into(),
            extra: format!(" max RSS {:.1} MiB", rss as f64 / 1024.0),
        });
    }

    /// A copy of the app (its Prisma schema and pinned CLI) for the migrate
    /// rows; None before `npm ci`.
    fn migrate_app(dir: &Path) -> Option<PathBuf> {
        if !workspace().join("node_modules/prisma").exists() {
            return None;
        }
        let app = dir.join("app");
        std::fs::create_dir_all(&app).unwrap();
        for f in ["prisma.config.ts", "package.json", "package-lock.json"] {
            std::fs::copy(workspace().join(f), app.join(f)).unwrap();
        }
        copy_tree(&workspace().join("prisma"), &app.join("prisma"));
        std::os::unix::fs::symlink(workspace().join("node_modules"), app.join("node_modules"))
            .unwrap();
        Some(app)
    }

    fn machine() -> String {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        format!("{cores} cores, {cpu}")
    }

    pub(crate) fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_tree(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }
}
