//! The onboarding wrappers: `scripts/onboard.sh` passes every flag on to
//! `cargo xtask onboard` (run with a recording `cargo`), and
//! `scripts/onboard.ps1` parses without errors (PyPI's tree-sitter with
//! tree-sitter-pwsh, from the tests' venv: PowerShell itself cannot be
//! installed on these machines). And the flags they pass exist in every
//! command's help.
#![cfg(unix)]

use std::path::Path;
use std::process::Command;

use crate::support::TempDir;

#[test]
fn onboard_ps1_parses_without_errors() {
    let venv = crate::support::moto::venv();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let check = r#"
import sys, tree_sitter, tree_sitter_pwsh
parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_pwsh.language()))
bad = []
def walk(n):
    if n.is_error or n.is_missing:
        bad.append(f"line {n.start_point[0] + 1}: {n.type} {n.text[:60]!r}")
    for c in n.children:
        walk(c)
for path in sys.argv[1:]:
    walk(parser.parse(open(path, "rb").read()).root_node)
print("\n".join(bad))
"#;
    let broken = TempDir::new("ps1");
    let broken_ps1 = broken.path().join("broken.ps1");
    std::fs::write(&broken_ps1, "if ($x -eq 1 {\n  & cargo xtask @args\n").unwrap();
    let parse = |p: &Path| {
        let out = Command::new(venv.join("bin/python"))
            .args(["-c", check])
            .arg(p)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert!(!parse(&broken_ps1).is_empty(), "the checker finds errors");
    assert_eq!(
        parse(&root.join("scripts/onboard.ps1")),
        "",
        "scripts/onboard.ps1"
    );
}

#[test]
fn onboard_sh_passes_the_flags_through() {
    let bin = TempDir::new("fakecargo");
    let log = bin.path().join("args");
    let cargo = bin.path().join("cargo");
    std::fs::write(
        &cargo,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/onboard.sh");
    let args = [
        "--password-from",
        "aws-secret:dev/db#pw",
        "--aws-profile",
        "dev",
        "--yes",
    ];
    let out = Command::new("sh")
        .arg(&script)
        .args(args)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let got = std::fs::read_to_string(&log).unwrap();
    let want: Vec<&str> = ["xtask", "onboard"].into_iter().chain(args).collect();
    assert_eq!(got.lines().collect::<Vec<_>>(), want);
}

#[test]
fn help_shows_the_new_flags_everywhere() {
    let dir = TempDir::new("help");
    for cmd in ["env-fix", "db-test", "migrate", "onboard"] {
        let r = crate::support::xtask(&[cmd, "--help"], dir.path(), &[], None);
        assert_eq!(r.code, 0);
        for f in ["--password-from SOURCE", "--iam", "--aws-profile NAME"] {
            assert!(r.stdout.contains(f), "{cmd} --help lacks {f}");
        }
    }
}
