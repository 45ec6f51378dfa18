//! The URL model's cases: parsing, rendering back, encoding, readers.

use super::*;

/// The password as text, for comparing.
fn pw(u: &PgUrl) -> Option<String> {
    u.password().map(|p| p.expose().to_string())
}

fn parse(s: &str) -> PgUrl {
    PgUrl::parse(s).unwrap()
}

#[test]
fn parts_of_a_plain_url() {
    let u =
        parse("postgresql://app:secret@db.example.com:6543/summitly?sslmode=require&schema=public");
    assert_eq!(u.user(), Some("app"));
    assert_eq!(pw(&u).as_deref(), Some("secret"));
    assert_eq!(u.host(), "db.example.com");
    assert_eq!(u.port(), 6543);
    assert_eq!(u.database(), Some("summitly"));
    assert_eq!(u.param("sslmode"), Some("require"));
    assert_eq!(u.param("schema"), Some("public"));
}

#[test]
fn unchanged_urls_render_back_byte_for_byte() {
    for s in [
        "postgresql://app:secret@db.example.com:6543/summitly?sslmode=require&schema=public",
        "postgres://u:p%40ss%2Fw@[::1]:5432/db",
        "postgresql://u@h1:5432,h2:5433/db?application_name=web&",
        "postgresql://localhost/db?",
        "postgresql:///db?host=%2Fvar%2Frun%2Fpostgresql",
        "postgresql://u:p%2fx@h/d%20b?options=-c%20statement_timeout%3D5000",
        "postgres://u@/?host=%2Fdir",
        "postgresql://h/?a=1&a=2",
    ] {
        assert_eq!(parse(s).render(), s, "{s}");
    }
}

#[test]
fn raw_special_characters_in_password_are_read_and_encoded() {
    let cases = [
        ("postgresql://u:p@ss@host:5432/db", "p@ss", "p%40ss"),
        ("postgresql://u:a#b$c&d@host/db", "a#b$c&d", "a%23b%24c%26d"),
        ("postgresql://u:ab/cd@host/db", "ab/cd", "ab%2Fcd"),
        (
            "postgresql://u:ab@cd/ef@host/db",
            "ab@cd/ef",
            "ab%40cd%2Fef",
        ),
        ("postgresql://u:a:b?c@host/db", "a:b?c", "a%3Ab%3Fc"),
        ("postgresql://u:50%off@host/db", "50%off", "50%25off"),
        ("postgresql://u:p ss@host/db", "p ss", "p%20ss"),
    ];
    for (url, password, encoded) in cases {
        let u = parse(url);
        assert_eq!(pw(&u).as_deref(), Some(password), "{url}");
        assert_eq!(u.host(), "host", "{url}");
        assert_eq!(u.database(), Some("db"), "{url}");
        assert!(
            u.render().contains(&format!("u:{encoded}@host")),
            "{url} -> {}",
            u.render()
        );
        assert!(!u.unencoded_userinfo().is_empty(), "{url}");
    }
}

#[test]
fn encoded_password_is_not_encoded_twice() {
    let u = parse("postgresql://u:p%40ss%24@host/db");
    assert_eq!(pw(&u).as_deref(), Some("p@ss$"));
    assert!(u.unencoded_userinfo().is_empty());
    assert_eq!(u.render(), "postgresql://u:p%40ss%24@host/db");
}

#[test]
fn masked_hides_password_everywhere() {
    let u = parse("postgresql://u:hunter2@h/db?password=hunter2&sslmode=require");
    assert_eq!(u.masked(), "postgresql://u:****@h/db?sslmode=require");
    assert_eq!(format!("{u}"), u.masked());
}

#[test]
fn rejects_what_is_not_postgres() {
    for (s, ok) in [
        ("mysql://u:p@h/db", false),
        (
            "prisma+postgres://accelerate.prisma-data.net/?api_key=x",
            false,
        ),
        ("just text", false),
        ("postgres://u:p@h:99999/db", false),
        ("postgres://u:p@h:abc/db", false),
        ("POSTGRESQL://u:p@h/db", true),
    ] {
        assert_eq!(PgUrl::parse(s).is_ok(), ok, "{s}");
    }
    let e = PgUrl::parse("postgres://u:sekrit@h:99999/db")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("sekrit"), "{e}");
}

#[test]
fn readers_get_only_what_they_understand() {
    let u = parse(
        "postgresql://u:p@h/db?sslmode=require&pool_timeout=30&statement_timeout=5000&connect_timeout=30&uselibpqcompat=true",
    );
    assert_eq!(
        u.render_for(Reader::RustPostgres),
        "postgresql://u:p@h/db?sslmode=require&connect_timeout=30"
    );
    assert_eq!(
        u.render_for(Reader::Prisma),
        "postgresql://u:p@h/db?sslmode=require&pool_timeout=30&connect_timeout=30"
    );
    assert_eq!(
        u.render_for(Reader::NodePg),
        "postgresql://u:p@h/db?sslmode=require&statement_timeout=5000&uselibpqcompat=true"
    );
    let names: Vec<_> = u
        .not_understood_by(Reader::Libpq)
        .iter()
        .map(|p| p.key.as_str())
        .collect();
    assert_eq!(
        names,
        ["pool_timeout", "statement_timeout", "uselibpqcompat"]
    );
}

#[test]
fn statement_timeout_merges_into_existing_options() {
    let mut u = parse("postgresql://h/db?options=-c%20search_path%3Dapp%20-c%20statement_timeout%3D100&statement_timeout=5000");
    u.move_statement_timeout_into_options();
    assert_eq!(
        u.param("options"),
        Some("-c search_path=app -c statement_timeout=5000")
    );
    assert_eq!(u.options_statement_timeout(), Some(5000));
    assert_eq!(
        option_setting("--statement-timeout=7", "statement_timeout").as_deref(),
        Some("7")
    );
}

#[test]
fn local_hosts() {
    for (s, local) in [
        ("postgresql://u@localhost/db", true),
        ("postgresql://u@127.0.0.2/db", true),
        ("postgresql://u@[::1]/db", true),
        ("postgresql:///db?host=/tmp", true),
        (
            "postgresql://u@db.abc.eu-west-1.rds.amazonaws.com/db",
            false,
        ),
        ("postgresql://u@10.0.0.5/db", false),
        // libpq: `host=` replaces the URL's host; every host of a list may be
        // tried; hostaddr is where it connects, the name what TLS checks.
        ("postgresql://u@localhost/db?host=db.example.com", false),
        (
            "postgresql://u@db.example.com/db?host=/var/run/postgresql",
            true,
        ),
        (
            "postgresql://u@localhost:5432,db.example.com:5432/db",
            false,
        ),
        ("postgresql://u@localhost,[::1]:5433/db", true),
        ("postgresql://u@localhost/db?hostaddr=10.0.0.5", false),
        ("postgresql://u@db.example.com/db?hostaddr=127.0.0.1", false),
        ("postgresql://u@localhost/db?hostaddr=127.0.0.1", true),
    ] {
        assert_eq!(parse(s).is_local(), local, "{s}");
    }
}

#[test]
fn repeated_parameter_is_read_last_wins_and_set_once() {
    let mut u = parse("postgresql://h/db?connect_timeout=30&sslmode=require&connect_timeout=5");
    assert_eq!(u.param("connect_timeout"), Some("5"));
    u.set_param("connect_timeout", "30");
    assert_eq!(
        u.render(),
        "postgresql://h/db?connect_timeout=30&sslmode=require"
    );
    let mut u = parse("postgresql://h/db?a=1&options=x&options=y&b=2");
    assert_eq!(u.remove_param("options").as_deref(), Some("y"));
    assert_eq!(u.render(), "postgresql://h/db?a=1&b=2");
}

#[test]
fn empty_path_is_kept_on_rewrite() {
    let mut u = parse("postgres://u@/?host=/dir");
    u.set_param("sslmode", "disable");
    assert_eq!(u.render(), "postgres://u@/?host=/dir&sslmode=disable");
    let mut u = parse("postgres://u@h?x=1");
    u.set_param("x", "2");
    assert_eq!(u.render(), "postgres://u@h?x=2");
}

#[test]
fn host_port_and_hostaddr_parameters_are_read_as_libpq_reads_them() {
    let u = parse("postgresql://u@localhost:5432/db?host=db.example.com&port=6543");
    assert_eq!((u.host(), u.port()), ("db.example.com".into(), 6543));
    let u = parse("postgres://u@localhost/db?host=/tmp&port=5433");
    let e = &u.endpoints().unwrap()[0];
    assert!(e.is_socket());
    assert_eq!((u.host(), u.port()), ("/tmp".into(), 5433));
    let u = parse("postgresql://u@db.example.com/db?hostaddr=10.1.2.3");
    let e = &u.endpoints().unwrap()[0];
    assert_eq!((e.name(), e.address()), ("db.example.com", "10.1.2.3"));
    let u = parse("postgresql://h1,h2:5433/db");
    let ports: Vec<u16> = u.endpoints().unwrap().iter().map(|e| e.port).collect();
    assert_eq!(ports, [5432, 5433]);
    for bad in [
        "postgresql://h1,h2/db?port=1,2,3",
        "postgresql://h1,h2/db?hostaddr=10.0.0.1",
        "postgresql://h/db?hostaddr=not-an-ip",
        "postgresql://h/db?port=abc",
    ] {
        assert!(PgUrl::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn host_list_mistakes_are_named() {
    for (url, says) in [
        (
            "postgresql://u:p@localhost:5432:5432/db",
            "port more than once",
        ),
        ("postgresql://localhost:5432:5432/db", "port more than once"),
        ("postgresql://u:p@::1:5432/db", "[::1]:5432"),
        ("postgresql://::1:5432/db", "[::1]:5432"),
        ("postgresql://u:p@fe80::1/db", "brackets"),
    ] {
        let e = PgUrl::parse(url).unwrap_err().to_string();
        assert!(e.contains(says), "{url}: {e}");
        assert!(!e.contains("percent-encode"), "{url}: {e}");
    }
    let e = PgUrl::parse("postgresql://user:sekrit/db")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("sekrit"), "{e}");
}

#[test]
fn ipv6_zone_parses() {
    let u = parse("postgresql://u:p@[fe80::1%25eth0]:5432/db");
    assert_eq!((u.host(), u.port()), ("fe80::1%eth0".to_string(), 5432));
    assert_eq!(pw(&u).as_deref(), Some("p"));
    assert!(!u.is_local());
    assert_eq!(u.render(), "postgresql://u:p@[fe80::1%25eth0]:5432/db");
    assert!(parse("postgresql://[::1%25lo]/db").is_local());
}

#[test]
fn decode_keeps_invalid_escapes_literal() {
    assert_eq!(decode("a%2Fb%zz%4"), "a/b%zz%4");
    assert_eq!(
        crate::percent::encode_component("a@b c", USERINFO),
        "a%40b%20c"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Parsing never panics; what parses renders to a URL with the
        /// same parts, rendering is stable, and masking hides the password.
        #[test]
        fn render_round_trips(
            scheme in prop_oneof![Just("postgresql"), Just("postgres")],
            rest in "[a-zA-Z0-9@:/?#&=%$ .,\\[\\]_~!*+-]{0,60}",
        ) {
            let text = format!("{scheme}://{rest}");
            let Ok(url) = PgUrl::parse(&text) else { return Ok(()) };
            let rendered = url.render();
            let again = PgUrl::parse(&rendered).map_err(|e| TestCaseError::fail(format!("{text} -> {rendered}: {e}")))?;
            prop_assert_eq!(
                (again.user(), again.password(), again.host(), again.port(), again.database()),
                (url.user(), url.password(), url.host(), url.port(), url.database()),
                "{} -> {}", text, rendered
            );
            let params = |u: &PgUrl| u.params().iter().map(|p| (p.key.clone(), p.value.clone())).collect::<Vec<_>>();
            prop_assert_eq!(params(&again), params(&url), "{} -> {}", text, rendered);
            prop_assert_eq!(again.render(), rendered.clone());
            if url.password().is_some() {
                let masked = PgUrl::parse(&url.masked()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(pw(&masked), Some("****".to_string()));
            }
        }
    }
}

#[test]
fn debug_output_never_shows_the_password() {
    let u = PgUrl::parse("postgresql://app:s3cret-pw%21@db.example.com/app").unwrap();
    let debug = format!("{u:?}");
    assert!(!debug.contains("s3cret-pw"), "{debug}");
    assert!(debug.contains("db.example.com"), "{debug}");
}

#[test]
fn parsing_registers_every_spelling_of_the_password_once() {
    let u = PgUrl::parse("postgresql://app:Zq7%2Dpw%40x@h/app").unwrap();
    assert_eq!(
        crate::secret::redact("login Zq7-pw@x failed; Zq7%2Dpw%40x too"),
        "login **** failed; **** too"
    );
    // Taking the password out again is the same Secret, not a new one.
    assert_eq!(u.password(), u.password());
}

#[test]
fn a_password_equal_to_the_user_never_masks_the_user_in_free_text() {
    PgUrl::parse("postgresql://appuser:appuser@h/app").unwrap();
    assert_eq!(crate::secret::redact("role appuser"), "role appuser");
}

/// libpq's `conninfo_uri_decode`: "invalid percent-encoded token" and
/// "forbidden value %00", in the database name and in parameters (issue
/// 19's `postgres://host?dbname=%XXfoo`, which libpq and pg-connection-
/// string refuse). A raw `%` in the password stays env-fix's to repair.
#[test]
fn bad_escapes_outside_the_userinfo_are_refused_as_libpq_refuses_them() {
    for (url, token) in [
        (
            "postgres://host?dbname=%XXfoo",
            "`%XX` in parameter `dbname`",
        ),
        ("postgres://host/db%zz", "`%zz` in the database name"),
        (
            "postgres://host/db?application_name=a%2",
            "`%2` in parameter `application_name`",
        ),
    ] {
        let e = PgUrl::parse(url).unwrap_err().to_string();
        assert!(
            e.contains(&format!("invalid percent-encoded token {token}")),
            "{url}: {e}"
        );
    }
    let e = PgUrl::parse("postgres://host/db%00")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("forbidden value %00 in the database name"),
        "{e}"
    );
    // The message never quotes a password= parameter's value.
    let e = PgUrl::parse("postgres://host/db?password=s3cret%zz")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("s3cret"), "{e}");
    assert!(PgUrl::parse("postgres://u:50%off@host/db%2Fx?dbname=a%20b").is_ok());
}
