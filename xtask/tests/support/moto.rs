//! A real AWS API emulator for rds-check's tests: `moto_server` and the real
//! `aws` CLI (v1) from a Python virtual environment made under the cargo
//! target directory on first use, one server per test on a free loopback
//! port. No call leaves loopback: the CLI's endpoint is the server, its
//! config and credentials files are empty, every other AWS_* is cleared.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Run, TempDir};

/// Exact versions known to work together (moto's RDS and EC2 answers
/// change between releases; the CLI is v1 because PyPI has no v2).
/// tree-sitter parses scripts/onboard.ps1 in the tidy checks (PowerShell
/// itself cannot be installed on these machines).
pub const PINS: [&str; 8] = [
    "moto[ec2,rds,secretsmanager,server]==5.2.5",
    "awscli==1.46.3",
    "boto3==1.44.8",
    "botocore==1.44.8",
    "flask==3.1.3",
    "flask-cors==6.0.5",
    "tree-sitter==0.26.1",
    "tree-sitter-pwsh==0.38.1",
];

/// The region the fixtures live in.
pub const REGION: &str = "ca-central-1";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

extern "C" {
    fn flock(fd: i32, operation: i32) -> i32;
}

/// The venv, created once for all test binaries: an exclusive file lock
/// serialises creators (released by the OS if one dies), and a marker
/// naming the pins says it is complete.
pub fn venv() -> PathBuf {
    use std::os::unix::io::AsRawFd;
    let target = target_dir();
    std::fs::create_dir_all(&target).unwrap();
    let dir = target.join("aws-venv");
    let marker = dir.join(".complete");
    let want = PINS.join("\n");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == want) {
        return dir;
    }
    let lock = std::fs::File::create(target.join("aws-venv.lock")).unwrap();
    assert_eq!(unsafe { flock(lock.as_raw_fd(), 2) }, 0, "lock aws-venv");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == want) {
        return dir;
    }
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| Command::new(p).arg("--version").output().is_ok_and(|o| o.status.success()))
        .unwrap_or_else(|| panic!("the rds-check tests need Python 3 (with venv and pip) to run the AWS emulator moto: Debian/Ubuntu `sudo apt-get install python3 python3-venv`, macOS `brew install python`"));
    let _ = std::fs::remove_dir_all(&dir);
    let t = Instant::now();
    let made = Command::new(python)
        .args(["-m", "venv"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "`{python} -m venv` failed (Debian/Ubuntu: `sudo apt-get install python3-venv`):\n{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let pip = Command::new(dir.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(PINS)
        .output()
        .unwrap();
    assert!(
        pip.status.success(),
        "pip install {} failed:\n{}",
        PINS.join(" "),
        String::from_utf8_lossy(&pip.stderr)
    );
    std::fs::write(&marker, want).unwrap();
    eprintln!(
        "moto: created {} in {:.1} s",
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    dir
}

/// Started by the test; stops itself when the test process is gone (its
/// parent changes) or after 15 minutes, so a killed test leaves nothing.
const SERVER: &str = r#"
import os, sys, threading, time
parent, deadline = os.getppid(), time.time() + 900
def watchdog():
    while os.getppid() == parent and time.time() < deadline:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watchdog, daemon=True).start()
from moto.server import main
sys.argv[0] = "moto_server"
main(sys.argv[1:])
"#;

pub struct Moto {
    pub port: u16,
    pub venv: PathBuf,
    /// Empty aws config and credentials files, a HOME, stand-in scripts.
    pub dir: TempDir,
    child: Child,
}

impl Moto {
    pub fn start() -> Moto {
        let venv = venv();
        let dir = TempDir::new("moto");
        for f in ["config", "credentials"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let port = super::free_port();
        let child = Command::new(venv.join("bin/python"))
            .args(["-c", SERVER, "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("moto.log")).unwrap())
            .spawn()
            .expect("start moto_server");
        let m = Moto {
            port,
            venv,
            dir,
            child,
        };
        let t = Instant::now();
        while m.http("GET", "/moto-api/", "").is_none() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "moto_server did not answer"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        m
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A bare HTTP request to the server; the status line and body.
    pub fn http(&self, method: &str, path: &str, body: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        s.write_all(req.as_bytes()).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.starts_with("HTTP/1.").then_some(out)
    }

    /// The environment the xtask and the fixtures run with: nothing of the
    /// developer's own AWS setup, the venv first on PATH.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = format!(
            "{}:{}",
            self.venv.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let d = self.dir.path();
        vec![
            ("PATH".into(), path),
            ("HOME".into(), d.display().to_string()),
            ("AWS_ENDPOINT_URL".into(), self.url()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_DEFAULT_REGION".into(), REGION.into()),
            (
                "AWS_CONFIG_FILE".into(),
                d.join("config").display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                d.join("credentials").display().to_string(),
            ),
            ("AWS_PAGER".into(), String::new()),
        ]
    }

    /// Builds the account (see moto_fixture.py for the spec's keys) and
    /// returns the ids it made.
    pub fn fixture(&self, spec: serde_json::Value) -> serde_json::Value {
        self.fixture_with_secrets(spec, serde_json::json!({}))
    }

    /// `fixture`, plus Secrets Manager secrets `{name: SecretString}`,
    /// handed over on stdin (never in a command line).
    pub fn fixture_with_secrets(
        &self,
        mut spec: serde_json::Value,
        secrets: serde_json::Value,
    ) -> serde_json::Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_fixture.py");
        spec["secrets_on_stdin"] = serde_json::Value::Bool(true);
        let mut cmd = Command::new(self.venv.join("bin/python"));
        cmd.arg(script).arg(spec.to_string());
        clean_env(&mut cmd, &self.env());
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(secrets.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "fixture failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// A directory holding a scripted `aws` to put first on PATH: calls
    /// named in `plan` get the recorded answer, the rest go to the real CLI
    /// (and so to moto). Every call is logged to `calls.log` there.
    pub fn stand_in(&self, plan: serde_json::Value) -> PathBuf {
        let bin = self.dir.path().join("stand-in");
        std::fs::create_dir_all(&bin).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/stand-in-aws.py");
        let sh = format!(
            "#!/bin/sh\nSTAND_IN_PLAN='{}' exec '{}' '{}' \"$@\"\n",
            bin.join("plan.json").display(),
            self.venv.join("bin/python").display(),
            script.display()
        );
        let aws = bin.join("aws");
        std::fs::write(&aws, sh).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(bin.join("plan.json"), plan.to_string()).unwrap();
        bin
    }

    /// The emulator's environment with the stand-in of `stand_in(plan)`
    /// first on PATH; also the stand-in's folder (its logs).
    pub fn env_with_stand_in(&self, plan: serde_json::Value) -> (PathBuf, Vec<(String, String)>) {
        let bin = self.stand_in(plan);
        let env = self
            .env()
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "PATH" => (k, format!("{}:{v}", bin.display())),
                _ => (k, v),
            })
            .collect();
        (bin, env)
    }

    /// The operations the stand-in saw, as `service operation`.
    pub fn stand_in_calls(&self) -> Vec<String> {
        let log = self.dir.path().join("stand-in/calls.log");
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Only these variables, so no AWS_* (or profile) of the developer's leaks in.
pub fn clean_env(cmd: &mut Command, env: &[(String, String)]) {
    cmd.env_clear().env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
}

/// Runs `cargo xtask rds-check ARGS` with exactly `env` (plus NO_COLOR) in
/// an empty project directory.
pub fn rds_check(args: &[&str], env: &[(String, String)]) -> Run {
    run_clean(&[&["rds-check"], args].concat(), env)
}

/// Runs `cargo xtask ARGS` (a command and its options) with exactly `env`
/// (plus NO_COLOR) in an empty project directory.
pub fn run_clean(args: &[&str], env: &[(String, String)]) -> Run {
    let dir = TempDir::new("rdscheck");
    let mut cmd = Command::new(super::xtask_bin());
    cmd.arg("--project-dir")
        .arg(dir.path())
        .args(args)
        .current_dir(dir.path());
    clean_env(&mut cmd, env);
    let out = cmd.stdin(Stdio::null()).output().expect("run xtask");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
