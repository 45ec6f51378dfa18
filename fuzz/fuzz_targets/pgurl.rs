//! Fuzzes the connection-URL model: parsing never panics; a parsed URL
//! renders to a URL that parses to the same parts, and rendering is stable;
//! the masked form carries the mask in the password's place.
#![no_main]

use xtask::pgurl;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(url) = pgurl::PgUrl::parse(text) else { return };
    let rendered = url.render();
    let again = pgurl::PgUrl::parse(&rendered).expect("a rendered URL parses");
    assert_eq!((again.user(), again.password(), again.host(), again.port(), again.database()), (url.user(), url.password(), url.host(), url.port(), url.database()));
    assert_eq!(again.render(), rendered, "rendering is stable");
    // The masked form holds the mask where the password was (other parts
    // are shown as they are; output masks any other copy of the password).
    if url.password().is_some() {
        let masked = pgurl::PgUrl::parse(&url.masked()).expect("the masked URL parses");
        assert_eq!(masked.password().map(|p| p.expose().to_string()).as_deref(), Some("****"));
        assert_eq!(masked.host(), url.host());
    }
});
