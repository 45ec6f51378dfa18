//! Env files as people keep them: a symlinked `.env.local` (a monorepo's
//! app linking the root's file, a dotfile manager), a file owned by the
//! developer and repaired as root, a file with a second name (a hard
//! link). Every writer keeps the file the user has: env-fix and
//! `dev-db --write-env` here (onboard and `--password-from` write through
//! the same two functions).

use std::fs;
use std::path::Path;

use crate::support::*;

const BROKEN: &str = "# app\nDATABASE_URL=postgresql://app:Sup3r$ecret#1@db.abc.eu-west-1.rds.amazonaws.com:5432/summitly\nOTHER='keep me'\n";
const PW: &str = "Sup3r$ecret#1";

fn env_fix(dir: &Path, args: &[&str]) -> Run {
    let mut a = vec!["--project-dir", dir.to_str().unwrap(), "env-fix"];
    a.extend_from_slice(args);
    let r = xtask(&a, dir, &[], None);
    assert_no_secret(&r.all(), PW);
    r
}

fn repaired(text: &str) -> bool {
    text.contains("Sup3r%24ecret%231@") && text.contains("OTHER='keep me'")
}

/// A monorepo's `apps/web/.env.local` linked (relatively) to the root's
/// file: env-fix repairs the root's file, in its own directory, keeps the
/// link as it was written, and says both paths. The same through an
/// absolute link and a chain of two.
#[cfg(unix)]
#[test]
fn a_symlinked_env_local_is_repaired_where_it_points_and_the_link_stays() {
    let root = TempDir::new("links");
    let web = root.path().join("apps/web");
    fs::create_dir_all(&web).unwrap();
    let real = root.path().join(".env.local");
    type MakeLink<'a> = Box<dyn Fn() + 'a>;
    let cases: [(&str, MakeLink); 3] = [
        (
            "../../.env.local",
            Box::new(|| {
                std::os::unix::fs::symlink("../../.env.local", web.join(".env.local")).unwrap()
            }),
        ),
        (
            "absolute",
            Box::new(|| std::os::unix::fs::symlink(&real, web.join(".env.local")).unwrap()),
        ),
        (
            "a chain",
            Box::new(|| {
                std::os::unix::fs::symlink("../../.env.local", web.join("middle")).unwrap();
                std::os::unix::fs::symlink("middle", web.join(".env.local")).unwrap();
            }),
        ),
    ];
    for (what, make_link) in cases {
        for f in [web.join(".env.local"), web.join("middle")] {
            let _ = fs::remove_file(f);
        }
        for e in fs::read_dir(root.path()).unwrap().flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(".env.local.bak")
            {
                fs::remove_file(e.path()).unwrap();
            }
        }
        fs::write(&real, BROKEN).unwrap();
        make_link();
        let link_text = fs::read_link(web.join(".env.local")).unwrap();
        let r = env_fix(&web, &[]);
        assert_eq!(r.code, 0, "{what}: {}", r.all());
        let meta = fs::symlink_metadata(web.join(".env.local")).unwrap();
        assert!(meta.file_type().is_symlink(), "{what}: the link is gone");
        assert_eq!(
            fs::read_link(web.join(".env.local")).unwrap(),
            link_text,
            "{what}"
        );
        let text = fs::read_to_string(&real).unwrap();
        assert!(
            repaired(&text),
            "{what}: the root's file was not repaired:\n{text}"
        );
        let shown_real = fs::canonicalize(&real).unwrap();
        assert!(
            r.stdout
                .contains(&format!("through the link, into {}", shown_real.display())),
            "{what}: {}",
            r.stdout
        );
        // The backup is beside the file it keeps, and nothing is left in the app.
        assert!(root.path().join(".env.local.bak.local").exists(), "{what}");
        let in_web: Vec<String> = fs::read_dir(&web)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "middle")
            .collect();
        assert_eq!(in_web, [".env.local"], "{what}");
    }
}

/// A link to nothing stays an error: exit 2, nothing created.
#[cfg(unix)]
#[test]
fn a_dangling_link_is_an_error_and_nothing_is_created() {
    let dir = TempDir::new("dangling");
    std::os::unix::fs::symlink("../nowhere/.env.local", dir.path().join(".env.local")).unwrap();
    let r = env_fix(dir.path(), &[]);
    assert_eq!(r.code, 2, "{}", r.all());
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [".env.local"]);
    assert!(fs::symlink_metadata(dir.path().join(".env.local"))
        .unwrap()
        .file_type()
        .is_symlink());
}

/// A developer's file (uid 1000, group 1000, mode 0640), repaired as root
/// (sudo, a container running as root): the file keeps its owner, group
/// and mode, and so does its backup, which its owner can read. Run by a
/// normal user, the file is that user's own and the same holds for it.
#[cfg(unix)]
#[test]
fn a_file_repaired_as_root_keeps_its_owner_and_mode_and_so_does_its_backup() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = TempDir::new("owner");
    let file = dir.path().join(".env.local");
    fs::write(&file, BROKEN).unwrap();
    let (uid, gid) = if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&file, Some(1000), Some(1000)).unwrap();
        (1000, 1000)
    } else {
        let m = fs::metadata(&file).unwrap();
        (m.uid(), m.gid())
    };
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    let r = env_fix(dir.path(), &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(repaired(&fs::read_to_string(&file).unwrap()));
    for f in [file.clone(), dir.path().join(".env.local.bak.local")] {
        let m = fs::metadata(&f).unwrap();
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{}", f.display());
        assert_eq!(m.mode() & 0o777, 0o640, "{}", f.display());
    }
}

/// A file with a second name (a hard link): both names see the repair
/// (written in place after the backup, and said so), and stay one file.
#[cfg(unix)]
#[test]
fn a_hard_linked_file_is_written_in_place_and_both_names_see_it() {
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("hardlink");
    let file = dir.path().join(".env.local");
    let other = dir.path().join("env.shared");
    fs::write(&file, BROKEN).unwrap();
    fs::hard_link(&file, &other).unwrap();
    let r = env_fix(dir.path(), &["--json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["other_names"], 1, "{v}");
    assert!(
        repaired(&fs::read_to_string(&other).unwrap()),
        "the other name kept the old URL"
    );
    assert_eq!(
        fs::metadata(&file).unwrap().ino(),
        fs::metadata(&other).unwrap().ino()
    );
    assert_eq!(
        fs::read_to_string(dir.path().join(".env.local.bak.local")).unwrap(),
        BROKEN
    );
    let r = env_fix(dir.path(), &["--file", other.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.stdout.contains("nothing to do"), "{}", r.stdout);
    // Said in words too.
    fs::write(&file, BROKEN).unwrap();
    let r = env_fix(dir.path(), &[]);
    assert!(
        r.stdout
            .contains("in place, so its 1 other name(s) (hard links) see it too"),
        "{}",
        r.stdout
    );
}

/// `dev-db --write-env` through a symlinked `.env.local`: the URL goes into
/// the file the link leads to, and the link stays.
#[cfg(unix)]
#[test]
fn dev_db_write_env_writes_through_the_link() {
    let db = DevDb::start(&[]);
    let root = TempDir::new("devdb-link");
    let web = root.path().join("apps/web");
    fs::create_dir_all(&web).unwrap();
    fs::write(root.path().join(".env.local"), "OTHER=1\n").unwrap();
    std::os::unix::fs::symlink("../../.env.local", web.join(".env.local")).unwrap();
    let d = db.data_dir();
    let r = xtask(
        &[
            "--project-dir",
            web.to_str().unwrap(),
            "dev-db",
            "up",
            "--data-dir",
            &d,
            "--write-env",
        ],
        &web,
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_no_secret(&r.all(), &db.password);
    assert!(fs::symlink_metadata(web.join(".env.local"))
        .unwrap()
        .file_type()
        .is_symlink());
    let text = fs::read_to_string(root.path().join(".env.local")).unwrap();
    assert!(text.starts_with("OTHER=1\nDATABASE_URL="), "{text}");
    assert!(r.stderr.contains("through the link"), "{}", r.all());
}

/// A local server that requires TLS, with `sslmode=disable` in the URL.
/// env-fix leaves a local URL's sslmode as written, so the old hint
/// ("env-fix does it") was a dead loop. The hint now names
/// `env-fix --sslmode require`, and that command really makes db-test pass.
#[test]
fn the_local_tls_required_hint_names_a_command_that_fixes_it() {
    let db = DevDb::start(&[]);
    let dir = TempDir::new("localtls");
    let url = db.url_with("sslmode=require", "sslmode=disable");
    fs::write(
        dir.path().join(".env.local"),
        format!("DATABASE_URL=\"{url}\"\n"),
    )
    .unwrap();
    let p = dir.path().to_str().unwrap();
    let db_test = || {
        let (_, v) = db_test_in(dir.path(), &db.password, &["--var", "DATABASE_URL"], &[]);
        v["targets"][0]["diagnosis"].clone()
    };
    let d = db_test();
    assert_eq!(d["code"], "tls_required", "{d}");
    let hint = d["hint"].as_str().unwrap();
    assert!(
        hint.contains("`cargo xtask env-fix --sslmode require`"),
        "{hint}"
    );
    // The command, as the hint writes it.
    let r = xtask(
        &["--project-dir", p, "env-fix", "--sslmode", "require"],
        dir.path(),
        &[],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(db_test()["code"], "ok");
}

/// `TAGLINE=Sally's place`: Node's dotenv (Next.js) reads it as it is,
/// dotenvy sees a quote that never closes. env-fix refused the whole file;
/// now that line alone is left as it is, with a warning, and the URL's
/// line is repaired, before or after it.
#[test]
fn a_line_with_an_unclosed_quote_does_not_stop_the_repair() {
    for text in [
        format!("{BROKEN}TAGLINE=Sally's place\n"),
        format!("TAGLINE=Sally's place\n{BROKEN}"),
    ] {
        let dir = TempDir::new("tagline");
        let file = dir.path().join(".env.local");
        fs::write(&file, &text).unwrap();
        let r = env_fix(dir.path(), &["--json"]);
        assert_eq!(r.code, 0, "{text}: {}", r.all());
        let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
        let warned = v["warnings"].as_array().unwrap().iter().any(|w| {
            w["kind"] == "unreadable_line" && w["detail"].as_str().unwrap().contains("never closed")
        });
        assert!(warned, "{v}");
        let after = fs::read_to_string(&file).unwrap();
        assert!(repaired(&after), "{after}");
        assert!(after.contains("TAGLINE=Sally's place\n"), "{after}");
    }
}

/// The same file as db-test and migrate read it: the line only dotenvy
/// rejects is passed over (as Next.js reads it), so what env-fix repaired
/// is what they test. A URL line that cannot be read is still refused.
#[test]
fn db_test_reads_past_a_line_only_dotenvy_rejects() {
    let db = DevDb::start(&[]);
    let dir = TempDir::new("tagline-read");
    let p = dir.path().to_str().unwrap();
    fs::write(
        dir.path().join(".env.local"),
        format!("TAGLINE=Sally's place\nDATABASE_URL=\"{}\"\n", db.url),
    )
    .unwrap();
    let r = xtask(
        &["--project-dir", p, "db-test", "--var", "DATABASE_URL"],
        dir.path(),
        &[],
        None,
    );
    assert_no_secret(&r.all(), &db.password);
    assert_eq!(r.code, 0, "{}", r.all());
    fs::write(
        dir.path().join(".env.local"),
        format!("TAGLINE=ok\nDATABASE_URL=\"{}\n", db.url),
    )
    .unwrap();
    let r = xtask(
        &["--project-dir", p, "db-test", "--var", "DATABASE_URL"],
        dir.path(),
        &[],
        None,
    );
    assert_no_secret(&r.all(), &db.password);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr
            .contains(".env.local: line 2: a quote opened here is never closed"),
        "{}",
        r.all()
    );
}
