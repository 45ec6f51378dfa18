//! Fuzzes the connection-URL model: parsing never panics; a parsed URL
//! renders to a URL that parses to the same parts, and rendering is stable;
//! the masked form never contains the password.
#![no_main]

#[path = "../../xtask/src/output.rs"]
#[allow(dead_code)]
mod output;
#[path = "../../xtask/src/pgurl.rs"]
#[allow(dead_code)]
mod pgurl;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(url) = pgurl::PgUrl::parse(text) else { return };
    let rendered = url.render();
    let again = pgurl::PgUrl::parse(&rendered).expect("a rendered URL parses");
    assert_eq!((again.user(), again.password(), again.host(), again.port(), again.database()), (url.user(), url.password(), url.host(), url.port(), url.database()));
    assert_eq!(again.render(), rendered, "rendering is stable");
    if let Some(p) = url.password().filter(|p| p.len() >= 4) {
        assert!(!url.masked().contains(&pgurl::encode_component(p, pgurl::USERINFO)));
    }
});
