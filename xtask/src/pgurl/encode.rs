//! The URL model's side of percent-encoding (the encoder itself is
//! `crate::percent`): when a component's raw text is already a correct
//! encoding and can be kept, and one component's decoded value kept beside
//! the text it was written as.

pub use crate::percent::{decode, encode_component, QUERY_VALUE, USERINFO};

pub(super) fn is_hex_pair(bytes: &[u8], at: usize) -> bool {
    at + 1 < bytes.len() && bytes[at].is_ascii_hexdigit() && bytes[at + 1].is_ascii_hexdigit()
}

/// True when `raw` is already a correct encoding: only `keep` characters and
/// valid `%XX` escapes that decode to UTF-8.
pub(super) fn is_clean(raw: &str, keep: fn(char) -> bool) -> bool {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if c == '%' {
            if !is_hex_pair(bytes, i + 1) {
                return false;
            }
            i += 3;
        } else if c.is_ascii() && keep(c) {
            i += 1;
        } else {
            return false;
        }
    }
    std::str::from_utf8(decode(raw).as_bytes()).is_ok() && !decode(raw).contains('\u{FFFD}')
}

/// A URL component with its decoded value and the text it was written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Part {
    pub(super) value: String,
    pub(super) raw: Option<String>,
}

impl Part {
    pub(super) fn parsed(raw: &str) -> Part {
        Part {
            value: decode(raw),
            raw: Some(raw.to_string()),
        }
    }
    pub(super) fn new(value: &str) -> Part {
        Part {
            value: value.to_string(),
            raw: None,
        }
    }
    /// The raw text when it is a correct encoding, otherwise a fresh one.
    pub(super) fn render(&self, keep: fn(char) -> bool) -> String {
        match &self.raw {
            Some(raw) if is_clean(raw, keep_or_sub_delims(keep)) => raw.clone(),
            _ => encode_component(&self.value, keep),
        }
    }
}

/// Raw text may also use characters that are legal where they stand and
/// harmless to dotenv loaders; we only re-encode what is really wrong.
pub(super) fn keep_or_sub_delims(keep: fn(char) -> bool) -> fn(char) -> bool {
    if keep(':') {
        |c| QUERY_VALUE(c) || "!*()+;=@".contains(c)
    } else {
        |c| USERINFO(c) || "!*()+,;=".contains(c)
    }
}

/// One `key=value` of the query string, in the order written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub key: String,
    pub value: String,
    pub(super) raw: Option<String>,
}

impl Param {
    pub(super) fn render(&self) -> String {
        match &self.raw {
            Some(raw) if raw_param_clean(raw) => raw.clone(),
            _ => format!(
                "{}={}",
                encode_component(&self.key, QUERY_VALUE),
                encode_component(&self.value, QUERY_VALUE)
            ),
        }
    }
}

pub(super) fn raw_param_clean(raw: &str) -> bool {
    match raw.split_once('=') {
        Some((k, v)) => {
            is_clean(k, keep_or_sub_delims(QUERY_VALUE))
                && is_clean(v, keep_or_sub_delims(QUERY_VALUE))
        }
        None => is_clean(raw, keep_or_sub_delims(QUERY_VALUE)),
    }
}
