//! The URL model against the local libpq, the reference for what a URL
//! means: `libpq_oracle.py` calls `PQconninfoParse` through ctypes, and
//! every case compares what libpq reports with what `PgUrl` reports. Nothing
//! is skipped: without python3 or libpq the test fails naming what to
//! install (CI installs libpq with postgresql-client).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use super::*;

const KEYS: [&str; 7] = [
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "sslmode",
    "connect_timeout",
];

/// How `PgUrl` relates to libpq on a case.
#[derive(Clone, Copy)]
enum Expect {
    /// The same keywords and values; where libpq refuses the URL, `PgUrl`
    /// refuses it too or flags a parameter that libpq does not understand.
    Same,
    /// libpq accepts, `PgUrl` refuses with a message: why.
    Stricter(&'static str),
    /// libpq refuses, `PgUrl` reads it: why.
    Looser(&'static str),
}
use Expect::*;

/// libpq's own URI cases: src/interfaces/libpq/test/regress.in in
/// postgres/postgres (the inputs, not their expected output: the local
/// libpq is asked instead).
const LIBPQ_REGRESS: &[(&str, Expect)] = &[
    ("postgresql://uri-user:secret@host:12345/db", Same),
    ("postgresql://uri-user@host:12345/db", Same),
    ("postgresql://uri-user@host/db", Same),
    ("postgresql://host:12345/db", Same),
    ("postgresql://host/db", Same),
    ("postgresql://uri-user@host:12345/", Same),
    ("postgresql://uri-user@host/", Same),
    ("postgresql://uri-user@", Same),
    ("postgresql://host:12345/", Same),
    ("postgresql://host:12345", Same),
    ("postgresql://host/", Same),
    ("postgresql://host", Same),
    ("postgresql://", Same),
    ("postgresql://?hostaddr=127.0.0.1", Same),
    ("postgresql://example.com?hostaddr=63.1.2.4", Same),
    ("postgresql://%68ost/", Same),
    ("postgresql://host/db?user=uri-user", Same),
    ("postgresql://host/db?user=uri-user&port=12345", Same),
    ("postgresql://host/db?u%73er=someotheruser&port=12345", Same),
    ("postgresql://host/db?u%7aer=someotheruser&port=12345", Same),
    ("postgresql://host:12345?user=uri-user", Same),
    ("postgresql://host?user=uri-user", Same),
    ("postgresql://host?", Same),
    ("postgresql://[::1]:12345/db", Same),
    ("postgresql://[::1]/db", Same),
    ("postgresql://[2001:db8::1234]/", Same),
    (
        "postgresql://[200z:db8::1234]/",
        Stricter("`z` is no hex digit: libpq passes the text on and fails at connect"),
    ),
    ("postgresql://[::1]", Same),
    ("postgres://", Same),
    ("postgres:///", Same),
    ("postgres:///db", Same),
    ("postgres://uri-user@/db", Same),
    ("postgres://?host=/path/to/socket/dir", Same),
    ("postgresql://host?uzer=", Same),
    ("postgre://", Same),
    ("postgres://[::1", Same),
    ("postgres://[]", Same),
    ("postgres://[::1]z", Same),
    ("postgresql://host?zzz", Same),
    ("postgresql://host?value1&value2", Same),
    ("postgresql://host?key=key=value", Same),
    ("postgres://host?dbname=%XXfoo", Same),
    (
        "postgresql://a%00b",
        Looser("%00 decodes to a NUL that no resolver accepts; the connect fails"),
    ),
    (
        "postgresql://%zz",
        Looser("in the host, a lone `%` is literal (the userinfo before it may hold a raw password like 50%off)"),
    ),
    ("postgresql://%1", Looser("a lone `%` in the host, as above")),
    ("postgresql://%", Looser("a lone `%` in the host, as above")),
    ("postgres://@host", Same),
    ("postgres://host:/", Same),
    ("postgres://:12345/", Same),
    ("postgres://otheruser@?host=/no/such/directory", Same),
    ("postgres://otheruser@/?host=/no/such/directory", Same),
    ("postgres://otheruser@:12345?host=/no/such/socket/path", Same),
    ("postgres://otheruser@:12345/db?host=/path/to/socket", Same),
    ("postgres://:12345/db?host=/path/to/socket", Same),
    ("postgres://:12345?host=/path/to/socket", Same),
    ("postgres://%2Fvar%2Flib%2Fpostgresql/dbname", Same),
];

/// The classes of issue 12 item 13, and node-postgres's pg-connection-string
/// cases (packages/pg-connection-string/test/parse.ts in brianc/node-postgres)
/// where it reads hosts. Node disagrees with libpq on two of them: it keeps
/// `%2F` encoded in a database name (`localhost/%2Fdbname` is database
/// `%2Fdbname` there, `/dbname` in libpq), and with `?host=` it makes an
/// encoded socket host part of the database name (`%2Funix%2Fsocket/dbname`).
const CLASSES: &[(&str, Expect)] = &[
    ("postgresql://u@localhost/db?host=db.example.com", Same),
    (
        "postgresql://u@localhost:5432/db?host=db.example.com&port=6543",
        Same,
    ),
    ("postgresql://u@db.example.com/db?hostaddr=10.1.2.3", Same),
    ("postgresql://u@h1,h2/db?hostaddr=10.1.2.3,10.1.2.4", Same),
    ("postgresql://u@h1:5432,h2:5433/db", Same),
    ("postgresql://u@h1,h2:5433/db", Same),
    ("postgresql://u@h1:,h2:/db", Same),
    ("postgresql://u@localhost:5432,db.example.com:5432/db", Same),
    (
        "postgresql://h/db?connect_timeout=5&connect_timeout=30",
        Same,
    ),
    ("postgresql://h/db?sslmode=require&sslmode=disable", Same),
    ("postgresql://h/db?dbname=other&user=v", Same),
    ("postgres://u@/?host=/var/run/postgresql", Same),
    ("postgresql://u:p@[fe80::1%25eth0]:5432/db", Same),
    ("postgresql://u@h/db?host=", Same),
    (
        "postgres://user:pass@localhost/dbname?host=/unix/socket",
        Same,
    ),
    ("postgres://user:pass@%2Funix%2Fsocket/dbname", Same),
    ("postgres://user:pass@localhost/%2Fdbname", Same),
    (
        "postgres://user:pass@%2Funix%2Fsocket/dbname?host=localhost",
        Same,
    ),
    ("postgres://user:pass@/dbname?host=/unix/socket", Same),
    ("postgres://localhost/post%20gres", Same),
    (
        "postgresql://localhost:5432:5432/db",
        Stricter("libpq reads port `5432:5432` and fails at connect; we name the doubled port"),
    ),
];

/// Runs the oracle on every URL at once: libpq's answer per URL.
fn libpq(urls: &[&str]) -> Vec<Result<BTreeMap<String, String>, String>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/src/pgurl/libpq_oracle.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}): install Python 3 to run the libpq oracle")
        });
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(urls.join("\n").as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the libpq oracle failed: {}(install libpq: apt-get install postgresql-client)",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let answers: Vec<_> = text
        .lines()
        .map(|line| {
            let mut fields = line.split('\u{1f}');
            match fields.next() {
                Some("ok") => Ok(fields
                    .filter_map(|f| f.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()),
                _ => Err(fields.collect::<Vec<_>>().join(" ")),
            }
        })
        .collect();
    assert_eq!(answers.len(), urls.len(), "one answer per URL: {text}");
    answers
}

fn ours(url: &PgUrl) -> BTreeMap<String, String> {
    KEYS.iter()
        .filter_map(|k| url.libpq_option(k).map(|v| (k.to_string(), v)))
        .collect()
}

#[test]
fn urls_read_as_the_local_libpq_reads_them() {
    let cases: Vec<(&str, Expect)> = LIBPQ_REGRESS.iter().chain(CLASSES).copied().collect();
    let urls: Vec<&str> = cases.iter().map(|(u, _)| *u).collect();
    let mut wrong = Vec::new();
    for ((url, expect), theirs) in cases.iter().zip(libpq(&urls)) {
        let mine = PgUrl::parse(url);
        let flagged = |u: &PgUrl| !u.not_understood_by(Reader::Libpq).is_empty();
        let verdict = match (expect, &theirs, &mine) {
            (Same, Ok(t), Ok(m)) if *t == ours(m) => None,
            (Same, Err(_), Err(_)) => None,
            (Same, Err(_), Ok(m)) if flagged(m) => None,
            (Stricter(_), Ok(_), Err(_)) => None,
            (Looser(_), Err(_), Ok(_)) => None,
            (Stricter(why) | Looser(why), _, _) => Some(format!(
                "{url}: no longer differs as noted ({why}): libpq {theirs:?}, PgUrl {:?}",
                mine.as_ref().map(ours)
            )),
            (Same, _, _) => Some(format!(
                "{url}: libpq {theirs:?}, PgUrl {:?}",
                mine.as_ref().map(ours)
            )),
        };
        wrong.extend(verdict);
    }
    assert!(
        wrong.is_empty(),
        "PgUrl and libpq disagree:\n{}",
        wrong.join("\n")
    );
}

/// What is rendered back is read by libpq as the original was: a repaired
/// URL means the same to it.
#[test]
fn rendered_urls_mean_the_same_to_libpq() {
    let mut urls = Vec::new();
    for (url, expect) in LIBPQ_REGRESS.iter().chain(CLASSES) {
        if let (Same, Ok(mut u)) = (expect, PgUrl::parse(url)) {
            if u.not_understood_by(Reader::Libpq).is_empty() {
                let before = url.to_string();
                u.set_param("application_name", "xtask");
                urls.push((before, u.render()));
            }
        }
    }
    let flat: Vec<&str> = urls
        .iter()
        .flat_map(|(a, b)| [a.as_str(), b.as_str()])
        .collect();
    let answers = libpq(&flat);
    for (i, (before, after)) in urls.iter().enumerate() {
        // libpq's messages quote the URL: compare what it read, or that it refused.
        assert_eq!(
            answers[2 * i].as_ref().ok(),
            answers[2 * i + 1].as_ref().ok(),
            "{before} -> {after}"
        );
    }
}
