//! Each repair rule by its cases, and the errors that write nothing.

use super::*;
use crate::dotenv::Document;
use crate::secret::Secret;

fn fix(text: &str, opts: &Options) -> Result<(String, Vec<Finding>, Vec<Finding>), String> {
    let o = repair(Document::parse(text).unwrap(), opts)?;
    Ok((o.doc.render(), o.changes, o.warnings))
}

fn kinds(f: &[Finding]) -> Vec<&'static str> {
    f.iter().map(|f| f.kind.as_str()).collect()
}

const RDS: &str = "db.abc123.eu-west-1.rds.amazonaws.com";

#[test]
fn repair_rules_table() {
    let o = Options::default();
    let cases: &[(&str, &str, &[&str])] = &[
        // (value before, value after, change kinds)
        ("postgresql://app:p@ss#1$x@localhost:5432/db?connect_timeout=30&pool_timeout=30",
         "postgresql://app:p%40ss%231%24x@localhost:5432/db?connect_timeout=30&pool_timeout=30",
         &["encoding"]),
        ("postgresql://app:pw@RDS/db",
         "postgresql://app:pw@RDS/db?sslmode=require&connect_timeout=30&pool_timeout=30",
         &["sslmode", "connect_timeout", "pool_timeout"]),
        // A weak sslmode on a remote host is raised (the TLS dead loop: db-test
        // said "env-fix does it" and env-fix did not).
        ("postgresql://app:pw@RDS/db?sslmode=disable&connect_timeout=5&pool_timeout=60",
         "postgresql://app:pw@RDS/db?sslmode=require&connect_timeout=30&pool_timeout=60",
         &["sslmode", "connect_timeout"]),
        ("postgresql://app:pw@RDS/db?sslmode=prefer&connect_timeout=30&pool_timeout=30",
         "postgresql://app:pw@RDS/db?sslmode=require&connect_timeout=30&pool_timeout=30",
         &["sslmode"]),
        ("postgresql://app:pw@localhost/db?sslmode=disable&connect_timeout=0&pool_timeout=30",
         "postgresql://app:pw@localhost/db?sslmode=disable&connect_timeout=0&pool_timeout=30",
         &[]),
        ("postgresql://app:pw@localhost/db?statement_timeout=5000&connect_timeout=30&pool_timeout=30",
         "postgresql://app:pw@localhost/db?connect_timeout=30&pool_timeout=30&options=-c%20statement_timeout%3D5000",
         &["statement_timeout"]),
        ("postgresql://app:p%40ss@localhost/db?connect_timeout=31&pool_timeout=99",
         "postgresql://app:p%40ss@localhost/db?connect_timeout=31&pool_timeout=99",
         &[]),
        // A repeated parameter counts as libpq and node read it, last-wins:
        // the 5 takes effect, so it is raised, and one occurrence is left.
        ("postgresql://app:pw@localhost/db?connect_timeout=30&pool_timeout=30&connect_timeout=5",
         "postgresql://app:pw@localhost/db?connect_timeout=30&pool_timeout=30",
         &["connect_timeout"]),
        // TLS is decided on every host libpq may use: `host=` replaces the
        // URL's host, and libpq fails over to a second host.
        ("postgresql://app:pw@localhost/db?host=RDS&connect_timeout=30&pool_timeout=30",
         "postgresql://app:pw@localhost/db?host=RDS&connect_timeout=30&pool_timeout=30&sslmode=require",
         &["sslmode"]),
        ("postgresql://app:pw@localhost:5432,RDS:5432/db?connect_timeout=30&pool_timeout=30",
         "postgresql://app:pw@localhost:5432,RDS:5432/db?connect_timeout=30&pool_timeout=30&sslmode=require",
         &["sslmode"]),
        // The empty path stays: node-postgres refuses `u@?host=...`.
        ("postgresql://app:pw@/?host=/var/run/postgresql",
         "postgresql://app:pw@/?host=/var/run/postgresql&connect_timeout=30&pool_timeout=30",
         &["connect_timeout", "pool_timeout"]),
    ];
    for (before, after, expected) in cases {
        let before = before.replace("RDS", RDS);
        let after = after.replace("RDS", RDS);
        let (text, changes, _) = fix(&format!("DATABASE_URL='{before}'\n"), &o).unwrap();
        assert_eq!(text, format!("DATABASE_URL='{after}'\n"), "{before}");
        assert_eq!(kinds(&changes), *expected, "{before}");
    }
}

#[test]
fn dollar_eaten_by_dotenv_is_repaired() {
    let (text, changes, _) = fix(
        "DATABASE_URL=postgresql://u:pa$word@localhost/db?connect_timeout=30&pool_timeout=30\n",
        &Options::default(),
    )
    .unwrap();
    assert_eq!(
        text,
        "DATABASE_URL=postgresql://u:pa%24word@localhost/db?connect_timeout=30&pool_timeout=30\n"
    );
    assert!(kinds(&changes).contains(&"dotenv"));
}

#[test]
fn statement_timeout_option_and_flag() {
    let o = Options {
        statement_timeout: Some(15000),
        ..Options::default()
    };
    let (text, changes, _) = fix("DATABASE_URL=postgresql://u:p@localhost/db?options=-c%20search_path%3Dapp&connect_timeout=30&pool_timeout=30\n", &o).unwrap();
    assert!(
        text.contains("options=-c%20search_path%3Dapp%20-c%20statement_timeout%3D15000&"),
        "{text}"
    );
    assert_eq!(kinds(&changes), ["statement_timeout"]);
    let (again, changes, _) = fix(&text, &o).unwrap();
    assert_eq!(again, text);
    assert!(changes.is_empty());
}

#[test]
fn warnings_leave_the_value_alone() {
    let o = Options {
        adapter_pg: true,
        ..Options::default()
    };
    let url = "postgresql://u:p@x.proxy-abc.eu-west-1.rds.amazonaws.com:6543/db?sslmode=require&connect_timeout=30&pool_timeout=30&pgbouncer=true&frobnicate=1";
    let (_, _, warnings) = fix(&format!("DATABASE_URL={url}\n"), &o).unwrap();
    assert_eq!(
        kinds(&warnings),
        ["rds_proxy", "pooler", "adapter_pg_sslmode", "unknown_param"]
    );
    let (_, _, warnings) = fix("DATABASE_URL=postgresql://u:p@h/db?sslmode=verify-full&connect_timeout=30&pool_timeout=30\n", &o).unwrap();
    assert_eq!(kinds(&warnings), ["sslmode_verify"]);
}

#[test]
fn errors_write_nothing_and_never_show_the_password() {
    let o = Options::default();
    for (text, needle) in [
        (
            "DATABASE_URL=postgresql://u:[YOUR-PASSWORD]@h/db\n",
            "placeholder",
        ),
        (
            "DATABASE_URL=postgresql://u:YourPassword123@h/db\n",
            "placeholder",
        ),
        (
            "DATABASE_URL=postgresql://u:<password>@h/db\n",
            "placeholder",
        ),
        ("DATABASE_URL=a\nX=1\nDATABASE_URL=b\n", "line 1, line 3"),
        (
            "DATABASE_URL=mysql://u:hunter2@h/db\n",
            "not a PostgreSQL URL",
        ),
        (
            "DATABASE_URL=postgresql://u:hunter2@h:99999/db\n",
            "not a number",
        ),
        ("OTHER=1\n", "not defined"),
    ] {
        let err = fix(text, &o).unwrap_err();
        assert!(err.contains(needle), "{text}: {err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    let e = fix("DATABASE_URL=a\nX=1\nDATABASE_URL=b\n", &o).unwrap_err();
    assert!(e.contains("line 1, line 3"), "{e}");
}

#[test]
fn host_lists_are_warned_about_naming_the_readers() {
    let (_, _, warnings) = fix(
        "DATABASE_URL=postgresql://u:p@h1:5432,h2:5433/db?sslmode=require&connect_timeout=30&pool_timeout=30\n",
        &Options::default(),
    )
    .unwrap();
    let w = warnings
        .iter()
        .find(|w| w.kind == Kind::HostList)
        .expect("a host_list warning");
    for reader in [
        "libpq",
        "postgres crate",
        "Prisma",
        "node-postgres",
        "h1:5432, h2:5433",
    ] {
        assert!(w.detail.contains(reader), "{}", w.detail);
    }
    let (_, _, warnings) = fix(
        "DATABASE_URL=postgresql://u:p@h1:5432/db?sslmode=require&connect_timeout=30&pool_timeout=30\n",
        &Options::default(),
    )
    .unwrap();
    assert!(warnings.iter().all(|w| w.kind != Kind::HostList));
}

#[test]
fn skipped_values_are_noted() {
    let o = Options::default();
    let (text, changes, warnings) = fix("DATABASE_URL=postgresql://u:p@localhost/db?connect_timeout=30&pool_timeout=30\nDIRECT_URL=prisma+postgres://accelerate.prisma-data.net/?api_key=k\nSHADOW_DATABASE_URL=\"postgresql://${U}:${P}@h/db\"\n", &o).unwrap();
    assert!(changes.is_empty());
    assert_eq!(kinds(&warnings), ["skipped", "skipped"]);
    assert!(text.contains("prisma+postgres://accelerate"));
}

#[test]
fn password_from_stdin_is_set_encoded() {
    let o = Options {
        password: Some(Secret::new("n3w@p#ss$&/:%")),
        ..Options::default()
    };
    let (text, changes, _) = fix(
        "DATABASE_URL=\"postgresql://u:[PASSWORD]@localhost/db\"\n",
        &o,
    )
    .unwrap();
    assert_eq!(text, "DATABASE_URL=\"postgresql://u:n3w%40p%23ss%24%26%2F%3A%25@localhost/db?connect_timeout=30&pool_timeout=30\"\n");
    assert_eq!(
        kinds(&changes),
        ["password", "connect_timeout", "pool_timeout"]
    );
}

#[test]
fn placeholder_patterns() {
    for p in [
        "[PASSWORD]",
        "<password>",
        "YOUR_PASSWORD",
        "YourPassword123",
        "your-db-password",
        "changeme",
        "****",
        "{password}",
    ] {
        assert!(is_placeholder(p), "{p}");
    }
    for p in [
        "hunter2",
        "p@ss#word",
        "Xk9$&/:%!",
        "passwordless-but-real-9f8e",
    ] {
        assert!(!is_placeholder(p), "{p}");
    }
}

mod properties {
    //! Generated files and passwords: what env-fix must never break.
    use super::*;
    use crate::dotenv::tests_support::dotenvy_reads;
    use proptest::prelude::*;

    fn eol() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("\n"), Just("\r\n")]
    }

    /// Lines other than the URL: comments, blanks, variables in every style.
    fn other_line() -> impl Strategy<Value = String> {
        let key = "K_[a-z]{1,6}";
        prop_oneof![
            "# [ -~]{0,20}".prop_map(|s| s),
            Just(String::new()),
            Just("   ".to_string()),
            (key, "[A-Za-z0-9_./:@-]{0,12}", any::<bool>()).prop_map(|(k, v, export)| format!(
                "{}{k}={v}",
                if export { "export " } else { "" }
            )),
            (
                key,
                "[ -&(-\\[\\]-~]{0,12}",
                "[ -&(-\\[\\]-~]{0,6}",
                any::<bool>()
            )
                .prop_map(|(k, a, b, multi)| {
                    if multi {
                        format!("{k}='{a}\n{b}'")
                    } else {
                        format!("{k}='{a}'")
                    }
                }),
            (key, "[ -~]{0,12}", any::<bool>()).prop_map(|(k, v, comment)| {
                let escaped = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('$', "\\$");
                format!("{k}=\"{escaped}\"{}", if comment { " # note" } else { "" })
            }),
        ]
    }

    fn url_line() -> impl Strategy<Value = (String, String)> {
        // Every printable ASCII character, and some that are not ASCII.
        let password = "[!-~éß中😀]{1,16}";
        (password, 0..3usize, any::<bool>()).prop_filter_map(
            "representable",
            |(pw, style, export)| {
                let url = format!("postgresql://app:{pw}@db.example.com:5432/summitly");
                let value = match style {
                    0 if !pw.contains(['\'', '"', '\\']) => url.clone(),
                    1 if !pw.contains(['\'', '\\']) => format!("'{url}'"),
                    2 => format!("\"{}\"", url.replace('\\', "\\\\").replace('"', "\\\"")),
                    _ => return None,
                };
                Some((
                    format!(
                        "{}DATABASE_URL={value}",
                        if export { "export " } else { "" }
                    ),
                    url,
                ))
            },
        )
    }

    fn file() -> impl Strategy<Value = (String, String)> {
        (
            proptest::collection::vec((other_line(), eol()), 0..8),
            url_line(),
            0..8usize,
            eol(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(others, (line, url), at, url_eol, bom, final_newline)| {
                let mut lines: Vec<(String, &str)> = others;
                let at = at.min(lines.len());
                lines.insert(at, (line, url_eol));
                let mut text = String::from(if bom { "\u{feff}" } else { "" });
                let n = lines.len();
                for (i, (l, e)) in lines.into_iter().enumerate() {
                    text.push_str(&l);
                    if i + 1 < n || final_newline {
                        text.push_str(e);
                    }
                }
                (text, url)
            })
    }

    fn others(reads: &[(String, String)]) -> Vec<(String, String)> {
        reads
            .iter()
            .filter(|(k, _)| k != "DATABASE_URL")
            .cloned()
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        /// Any text at all: our reader accepts exactly what dotenvy accepts,
        /// reads the same values, renders back the same bytes, and env-fix
        /// never panics on it.
        #[test]
        fn any_text_parses_like_dotenvy_and_never_panics(text in "(\u{feff})?[ -~\t\r\néü中'\"#$\\=]{0,240}") {
            let ours = Document::parse(&text);
            let theirs = dotenvy_reads(&text);
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}", text);
            if let (Ok(doc), Ok(theirs)) = (ours, theirs) {
                prop_assert_eq!(doc.render(), text.clone());
                let values: Vec<(String, String)> = doc.loaded().into_iter().map(|(k, v, _)| (k, v)).collect();
                prop_assert_eq!(values, theirs);
                let _ = repair(doc, &Options::default());
            }
        }

        #[test]
        fn env_fix_keeps_everything_else_and_the_url_meaning((text, intended) in file()) {
            let before = dotenvy_reads(&text);
            let doc = Document::parse(&text);
            // Our reader accepts exactly what dotenvy accepts, and reads the same.
            prop_assert_eq!(doc.is_ok(), before.is_ok(), "{:?}", text);
            let Ok(doc) = doc else { return Ok(()) };
            let before = before.unwrap();
            prop_assert_eq!(doc.render(), text.clone());
            let ours: Vec<(String, String)> = doc.loaded().into_iter().map(|(k, v, _)| (k, v)).collect();
            prop_assert_eq!(&ours, &before);
            // Computing one value on demand agrees with loading them all.
            let vars: Vec<usize> = (0..doc.entries.len()).filter(|i| doc.entries[*i].var.is_some()).collect();
            for (n, i) in vars.iter().enumerate() {
                prop_assert_eq!(&doc.loaded_value(*i), &ours[n].1);
            }

            let Ok(want) = PgUrl::parse(&intended) else { return Ok(()) };
            prop_assume!(!is_placeholder(want.password().as_ref().map(Secret::expose).unwrap_or("")));
            let opts = Options::default();
            let out = repair(doc, &opts).map_err(TestCaseError::fail)?;
            // `${NAME}` references are left alone on purpose.
            prop_assume!(!out.warnings.iter().any(|w| w.kind == Kind::Skipped));
            let fixed = out.doc.render();
            let after = dotenvy_reads(&fixed).map_err(|e| TestCaseError::fail(format!("{e}: {fixed:?}")))?;
            prop_assert_eq!(others(&after), others(&before));
            let url = after.iter().find(|(k, _)| k == "DATABASE_URL").map(|(_, v)| v.clone()).unwrap();
            let got = PgUrl::parse(&url).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(got.user(), want.user());
            prop_assert_eq!(got.password(), want.password());
            prop_assert_eq!(got.host(), want.host());
            prop_assert_eq!(got.port(), want.port());
            prop_assert_eq!(got.database(), want.database());
            // Node's dotenv cuts unquoted values at any `#`; nothing may be left for it to cut.
            prop_assert!(!url.contains(['#', '$', ' ', '"', '\'', '\\']), "{}", url);

            let again = repair(Document::parse(&fixed).unwrap(), &opts).map_err(TestCaseError::fail)?;
            prop_assert!(again.changes.is_empty(), "{:?}", again.changes);
            prop_assert_eq!(again.doc.render(), fixed);
        }
    }
}
