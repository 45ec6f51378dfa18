//! Percent-encoding, the one piece of URL syntax below both the URL model
//! (`pgurl`) and the redactor (`secret`, which masks every encoded spelling
//! of a password): what stays bare in a user name, password or query value,
//! and how `%` is read.

/// Characters kept bare in user names and passwords: RFC 3986 "unreserved".
/// Everything else is percent-encoded, which also makes the URL inert for
/// every dotenv loader (no `$`, `#`, quote, backslash or space survives).
pub const USERINFO: fn(char) -> bool = |c| c.is_ascii_alphanumeric() || "-._~".contains(c);
/// Characters kept bare in a query value or database name we render.
pub const QUERY_VALUE: fn(char) -> bool = |c| c.is_ascii_alphanumeric() || "-._~/:,".contains(c);

/// Percent-encodes every character of `s` for which `keep` is false.
pub fn encode_component(s: &str, keep: fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for c in s.chars() {
        if keep(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// Decodes `%XX` escapes. A `%` not followed by two hex digits is a literal
/// percent sign: that is how a password typed raw (`50%off`) is told apart
/// from an encoded one (`50%25off`). The one ambiguous case, a raw `%`
/// followed by two hex digits, is read as an escape; `--password-stdin` sets
/// such a password unambiguously.
pub fn decode(s: &str) -> String {
    // percent-encoding (already in the graph through tokio-postgres) reads
    // `%` exactly so: only a `%` with two hex digits is an escape.
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
