//! Fuzzes the lossless dotenv document: any input that parses renders back
//! byte for byte, is accepted exactly when dotenvy accepts it, and reads the
//! same values as dotenvy.
#![no_main]

use xtask::dotenv;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let ours = dotenv::Document::parse(text);
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let theirs: Result<Vec<(String, String)>, _> = dotenvy::from_read_iter(body.as_bytes()).collect();
    assert_eq!(ours.is_ok(), theirs.is_ok(), "acceptance differs for {text:?}");
    if let (Ok(doc), Ok(theirs)) = (ours, theirs) {
        assert_eq!(doc.render(), text);
        for (n, i) in (0..doc.entries.len()).filter(|i| doc.entries[*i].var.is_some()).enumerate() {
            assert_eq!(doc.loaded_value(i), theirs[n].1, "value {n} differs for {text:?}");
        }
    }
});
