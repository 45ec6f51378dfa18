//! The typed PostgreSQL connection URL: parsed once, rendered for each reader.
//!
//! One `DATABASE_URL` is read by Prisma Migrate, node-postgres, libpq and the
//! `postgres` crate, and they disagree about parameters (see the `SUPPORT`
//! table). Every command works on a `PgUrl` and asks it for the form a given
//! reader needs; nothing else in the xtask does string surgery on URLs.
//!
//! Unchanged parts keep their raw text, so a URL that needs no repair renders
//! back byte for byte, and a repaired one differs only where it was repaired.

use std::fmt;

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
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && is_hex_pair(bytes, i + 1) {
            out.push(hex_value(bytes[i + 1]) * 16 + hex_value(bytes[i + 2]));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_hex_pair(bytes: &[u8], at: usize) -> bool {
    at + 1 < bytes.len() && bytes[at].is_ascii_hexdigit() && bytes[at + 1].is_ascii_hexdigit()
}

fn hex_value(b: u8) -> u8 {
    (b as char).to_digit(16).unwrap_or(0) as u8
}

/// True when `raw` is already a correct encoding: only `keep` characters and
/// valid `%XX` escapes that decode to UTF-8.
fn is_clean(raw: &str, keep: fn(char) -> bool) -> bool {
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
struct Part {
    value: String,
    raw: Option<String>,
}

impl Part {
    fn parsed(raw: &str) -> Part {
        Part {
            value: decode(raw),
            raw: Some(raw.to_string()),
        }
    }
    fn new(value: &str) -> Part {
        Part {
            value: value.to_string(),
            raw: None,
        }
    }
    /// The raw text when it is a correct encoding, otherwise a fresh one.
    fn render(&self, keep: fn(char) -> bool) -> String {
        match &self.raw {
            Some(raw) if is_clean(raw, keep_or_sub_delims(keep)) => raw.clone(),
            _ => encode_component(&self.value, keep),
        }
    }
}

/// Raw text may also use characters that are legal where they stand and
/// harmless to dotenv loaders; we only re-encode what is really wrong.
fn keep_or_sub_delims(keep: fn(char) -> bool) -> fn(char) -> bool {
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
    raw: Option<String>,
}

impl Param {
    fn render(&self) -> String {
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

fn raw_param_clean(raw: &str) -> bool {
    match raw.split_once('=') {
        Some((k, v)) => {
            is_clean(k, keep_or_sub_delims(QUERY_VALUE))
                && is_clean(v, keep_or_sub_delims(QUERY_VALUE))
        }
        None => is_clean(raw, keep_or_sub_delims(QUERY_VALUE)),
    }
}

/// One `host[:port]` of the host list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// As written (IPv6 keeps its brackets, a socket path stays encoded).
    pub raw_host: String,
    pub port: Option<u16>,
    /// The whole entry as written (`host:` with an empty port included).
    raw: String,
}

impl HostPort {
    /// The host name or address without brackets or escapes.
    pub fn host(&self) -> String {
        let h = self.raw_host.trim_start_matches('[').trim_end_matches(']');
        decode(h)
    }
}

/// The four programs that read the same URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// Prisma Migrate's schema engine (Rust, quaint).
    Prisma,
    /// node-postgres, used at runtime through `@prisma/adapter-pg`.
    NodePg,
    /// libpq: `psql`, `pg_isready`.
    Libpq,
    /// The Rust `postgres` crate, which `db-test` uses.
    RustPostgres,
}

impl Reader {
    pub const ALL: [Reader; 4] = [
        Reader::Prisma,
        Reader::NodePg,
        Reader::Libpq,
        Reader::RustPostgres,
    ];
}

/// Which readers understand a parameter: Prisma, node-postgres, libpq, Rust.
/// Source: ../shared/reference/facts.md section 1 (engine, pg-connection-string,
/// fe-connect.c and tokio-postgres sources).
const SUPPORT: &[(&str, [bool; 4])] = &[
    ("sslmode", [true, true, true, true]),
    ("sslrootcert", [false, true, true, false]),
    ("sslcert", [true, true, true, false]),
    ("sslkey", [false, true, true, false]),
    ("sslidentity", [true, false, false, false]),
    ("sslpassword", [true, false, true, false]),
    ("sslaccept", [true, false, false, false]),
    ("connect_timeout", [true, false, true, true]),
    ("pool_timeout", [true, false, false, false]),
    ("connection_limit", [true, false, false, false]),
    ("socket_timeout", [true, false, false, false]),
    ("schema", [true, false, false, false]),
    ("pgbouncer", [true, false, false, false]),
    ("statement_cache_size", [true, false, false, false]),
    ("max_connection_lifetime", [true, false, false, false]),
    ("max_idle_connection_lifetime", [true, false, false, false]),
    ("statement_timeout", [false, true, false, false]),
    ("options", [true, true, true, true]),
    ("application_name", [true, true, true, true]),
    ("channel_binding", [true, true, true, true]),
    ("keepalives", [false, false, true, true]),
    ("keepalives_idle", [false, false, true, true]),
    ("keepalives_interval", [false, false, true, true]),
    ("keepalives_count", [false, false, true, true]),
    ("tcp_user_timeout", [false, false, true, true]),
    ("target_session_attrs", [false, false, true, true]),
    ("uselibpqcompat", [false, true, false, false]),
    ("host", [true, true, true, true]),
    ("hostaddr", [false, false, true, true]),
    ("port", [false, true, true, true]),
    ("user", [false, true, true, true]),
    ("password", [false, true, true, true]),
    ("dbname", [false, false, true, true]),
];

/// Whether `reader` understands the parameter `key`.
pub fn understands(reader: Reader, key: &str) -> bool {
    let idx = Reader::ALL.iter().position(|r| *r == reader).unwrap_or(0);
    SUPPORT
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, s)| s[idx])
        .unwrap_or(false)
}

/// Whether any of the four readers knows the parameter.
pub fn known_to_any(key: &str) -> bool {
    SUPPORT.iter().any(|(k, _)| *k == key)
}

/// Why a URL could not be read. Never contains the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// Not a PostgreSQL URL at all, or Prisma's own `prisma+postgres://`.
    NotPostgres {
        scheme: String,
    },
    Invalid(String),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::NotPostgres { scheme } if scheme.is_empty() => {
                write!(
                    f,
                    "not a URL: expected postgresql://USER:PASSWORD@HOST:5432/DATABASE"
                )
            }
            UrlError::NotPostgres { scheme } => write!(
                f,
                "`{scheme}://` is not a PostgreSQL URL: expected postgresql:// or postgres://"
            ),
            UrlError::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for UrlError {}

/// A parsed `postgresql://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgUrl {
    scheme: String,
    user: Option<Part>,
    password: Option<Part>,
    pub hosts: Vec<HostPort>,
    database: Option<Part>,
    params: Vec<Param>,
    /// The query string as written, while no parameter has been changed, so
    /// oddities like a trailing `&` render back too.
    raw_query: Option<String>,
}

impl PgUrl {
    /// Parses a URL. A password with raw `@ # $ / ? :` is accepted: the
    /// userinfo ends at the first `@` after which a well-formed host list
    /// follows (the password is what users get wrong; the host rarely is).
    pub fn parse(text: &str) -> Result<PgUrl, UrlError> {
        let text = text.trim();
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(UrlError::NotPostgres {
                scheme: String::new(),
            });
        };
        let lower = scheme.to_ascii_lowercase();
        if lower != "postgresql" && lower != "postgres" {
            return Err(UrlError::NotPostgres {
                scheme: scheme.to_string(),
            });
        }
        let (userinfo, after) = split_userinfo(rest)?;
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => match ui.split_once(':') {
                Some((u, p)) => (Some(Part::parsed(u)), Some(Part::parsed(p))),
                None => (Some(Part::parsed(ui)), None),
            },
        };
        if let Some(p) = &password {
            crate::output::register_secret(&p.value);
            if let Some(raw) = &p.raw {
                crate::output::register_secret(raw);
            }
        }
        let host_end = after.find(['/', '?']).unwrap_or(after.len());
        let hosts = parse_hosts(&after[..host_end])?;
        let mut tail = &after[host_end..];
        let mut database = None;
        if let Some(path) = tail.strip_prefix('/') {
            let end = path.find('?').unwrap_or(path.len());
            if end > 0 {
                database = Some(Part::parsed(&path[..end]));
            }
            tail = &path[end..];
        }
        let mut params = Vec::new();
        let mut raw_query = None;
        if let Some(query) = tail.strip_prefix('?') {
            raw_query = Some(query.to_string());
            for raw in query.split('&').filter(|s| !s.is_empty()) {
                let (k, v) = raw.split_once('=').unwrap_or((raw, ""));
                let key = decode(k);
                let value = decode(v);
                if key == "password" {
                    crate::output::register_secret(&value);
                }
                params.push(Param {
                    key,
                    value,
                    raw: Some(raw.to_string()),
                });
            }
        }
        Ok(PgUrl {
            scheme: scheme.to_string(),
            user,
            password,
            hosts,
            database,
            params,
            raw_query,
        })
    }

    pub fn user(&self) -> Option<&str> {
        self.user.as_ref().map(|p| p.value.as_str())
    }
    pub fn password(&self) -> Option<&str> {
        self.password.as_ref().map(|p| p.value.as_str())
    }
    pub fn database(&self) -> Option<&str> {
        self.database.as_ref().map(|p| p.value.as_str())
    }
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The first host, decoded (`localhost` when the URL names none).
    pub fn host(&self) -> String {
        self.hosts
            .first()
            .map(|h| h.host())
            .filter(|h| !h.is_empty())
            .or_else(|| self.param("host").map(str::to_string))
            .unwrap_or_else(|| "localhost".to_string())
    }
    /// The first port, or 5432.
    pub fn port(&self) -> u16 {
        self.hosts
            .first()
            .and_then(|h| h.port)
            .or_else(|| self.param("port").and_then(|p| p.parse().ok()))
            .unwrap_or(5432)
    }

    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.value.as_str())
    }

    /// Sets a parameter in place, or appends it when absent.
    pub fn set_param(&mut self, key: &str, value: &str) {
        if self.param(key) == Some(value) {
            return;
        }
        self.raw_query = None;
        if let Some(p) = self.params.iter_mut().find(|p| p.key == key) {
            if p.value != value {
                p.value = value.to_string();
                p.raw = None;
            }
        } else {
            self.params.push(Param {
                key: key.to_string(),
                value: value.to_string(),
                raw: None,
            });
        }
    }

    pub fn remove_param(&mut self, key: &str) -> Option<String> {
        let idx = self.params.iter().position(|p| p.key == key)?;
        self.raw_query = None;
        Some(self.params.remove(idx).value)
    }

    pub fn set_password(&mut self, password: &str) {
        crate::output::register_secret(password);
        self.password = Some(Part::new(password));
        if self.user.is_none() {
            self.user = Some(Part::new("postgres"));
        }
    }

    /// Characters in the user name or password that a URL must not carry
    /// bare: the reason Prisma reads a different password than was set.
    pub fn unencoded_userinfo(&self) -> Vec<(&'static str, Vec<char>)> {
        let mut found = Vec::new();
        for (name, part) in [("user", &self.user), ("password", &self.password)] {
            if let Some(Part { raw: Some(raw), .. }) = part {
                let mut bad: Vec<char> = Vec::new();
                let bytes = raw.as_bytes();
                for (i, c) in raw.char_indices() {
                    let ok = if c == '%' {
                        is_hex_pair(bytes, i + 1)
                    } else {
                        keep_or_sub_delims(USERINFO)(c) && c.is_ascii()
                    };
                    if !ok && !bad.contains(&c) {
                        bad.push(c);
                    }
                }
                if !bad.is_empty() {
                    found.push((name, bad));
                }
            }
        }
        found
    }

    /// True for hosts where TLS is not expected: loopback and sockets.
    pub fn is_local(&self) -> bool {
        let h = self.host();
        h.is_empty()
            || h == "localhost"
            || h.starts_with('/')
            || h == "::1"
            || h.parse::<std::net::Ipv4Addr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false)
    }

    /// The URL as it belongs in an env file, read by Prisma and node-postgres.
    pub fn render(&self) -> String {
        self.render_inner(false, |_| true)
    }

    /// The URL with the password replaced by `****`, for any output.
    pub fn masked(&self) -> String {
        self.render_inner(true, |p| p.key != "password")
    }

    /// The URL as `reader` needs it: parameters it would reject or misread
    /// are left out. (Moving `statement_timeout` into `options` is a repair,
    /// made by env-fix and by migrate's tuning, not by rendering.)
    pub fn render_for(&self, reader: Reader) -> String {
        self.render_inner(false, |p| understands(reader, &p.key))
    }

    /// Parameters `reader` does not understand, in order.
    pub fn not_understood_by(&self, reader: Reader) -> Vec<&Param> {
        self.params
            .iter()
            .filter(|p| !understands(reader, &p.key))
            .collect()
    }

    /// The `-c statement_timeout=MS` inside `options`, if any.
    pub fn options_statement_timeout(&self) -> Option<u64> {
        let options = self.param("options")?;
        option_setting(options, "statement_timeout").and_then(|v| v.parse().ok())
    }

    /// Moves a raw `statement_timeout=MS` parameter into `options` (the form
    /// all four readers honour). Returns the value moved.
    pub fn move_statement_timeout_into_options(&mut self) -> Option<String> {
        let ms = self.remove_param("statement_timeout")?;
        self.set_option_setting("statement_timeout", &ms);
        Some(ms)
    }

    /// Sets `-c NAME=VALUE` inside the `options` parameter, keeping whatever
    /// else `options` says.
    pub fn set_option_setting(&mut self, name: &str, value: &str) {
        let current = self.param("options").unwrap_or("").to_string();
        let mut words: Vec<String> = Vec::new();
        let mut tokens = current.split_whitespace().peekable();
        while let Some(t) = tokens.next() {
            if t == "-c" {
                if let Some(next) = tokens.peek() {
                    if next.split_once('=').map(|(k, _)| k) == Some(name) {
                        tokens.next();
                        continue;
                    }
                }
                words.push(t.to_string());
            } else if t
                .strip_prefix("-c")
                .and_then(|s| s.split_once('='))
                .map(|(k, _)| k == name)
                .unwrap_or(false)
                || t.strip_prefix("--")
                    .and_then(|s| s.split_once('='))
                    .map(|(k, _)| k.replace('-', "_") == name)
                    .unwrap_or(false)
            {
                continue;
            } else {
                words.push(t.to_string());
            }
        }
        words.push("-c".to_string());
        words.push(format!("{name}={value}"));
        self.set_param("options", &words.join(" "));
    }

    fn render_inner(&self, mask: bool, keep_param: impl Fn(&Param) -> bool) -> String {
        let mut s = format!("{}://", self.scheme);
        if let Some(user) = &self.user {
            s.push_str(&user.render(USERINFO));
            if let Some(pw) = &self.password {
                s.push(':');
                if mask {
                    s.push_str(crate::output::MASK);
                } else {
                    s.push_str(&pw.render(USERINFO));
                }
            }
            s.push('@');
        }
        let hosts: Vec<String> = self.hosts.iter().map(|h| h.raw.clone()).collect();
        s.push_str(&hosts.join(","));
        if let Some(db) = &self.database {
            s.push('/');
            s.push_str(&db.render(QUERY_VALUE));
        }
        let kept: Vec<&Param> = self.params.iter().filter(|p| keep_param(p)).collect();
        let all_kept_and_clean = kept.len() == self.params.len()
            && self
                .params
                .iter()
                .all(|p| p.raw.as_deref().is_some_and(raw_param_clean));
        match &self.raw_query {
            Some(raw) if all_kept_and_clean => {
                s.push('?');
                s.push_str(raw);
            }
            _ if !kept.is_empty() => {
                s.push('?');
                let rendered: Vec<String> = kept.iter().map(|p| p.render()).collect();
                s.push_str(&rendered.join("&"));
            }
            _ => {}
        }
        s
    }
}

/// Finds `-c NAME=VALUE` (or `-cNAME=VALUE`, `--NAME=VALUE`) in an options string.
pub fn option_setting(options: &str, name: &str) -> Option<String> {
    let mut tokens = options.split_whitespace().peekable();
    while let Some(t) = tokens.next() {
        let setting = if t == "-c" {
            tokens.next().map(str::to_string)
        } else if let Some(s) = t.strip_prefix("-c") {
            Some(s.to_string())
        } else {
            t.strip_prefix("--").map(str::to_string)
        };
        if let Some((k, v)) = setting.as_deref().and_then(|s| s.split_once('=')) {
            if k.replace('-', "_") == name {
                return Some(v.to_string());
            }
        }
    }
    None
}

impl fmt::Display for PgUrl {
    /// Always masked: a URL can only reach output with its password hidden.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Splits `user:password@hosts/...` at the `@` that ends the userinfo.
fn split_userinfo(rest: &str) -> Result<(Option<&str>, &str), UrlError> {
    let ats: Vec<usize> = rest.match_indices('@').map(|(i, _)| i).collect();
    if ats.is_empty() {
        return Ok((None, rest));
    }
    for &at in &ats {
        let after = &rest[at + 1..];
        if looks_like_host_part(after) {
            return Ok((Some(&rest[..at]), after));
        }
    }
    Err(UrlError::Invalid(
        "cannot tell where the password ends and the host begins: percent-encode `@` in the \
         password as %40 (or run `cargo xtask env-fix --password-stdin`)"
            .into(),
    ))
}

/// True when `s` starts with a host list followed by `/`, `?` or the end,
/// and its path (the database name) has no `@`.
fn looks_like_host_part(s: &str) -> bool {
    let host_end = s.find(['/', '?']).unwrap_or(s.len());
    let hostlist = &s[..host_end];
    if hostlist.contains('@') {
        return false;
    }
    let path_end = s.find('?').unwrap_or(s.len());
    if s[host_end..path_end].contains('@') {
        return false;
    }
    hostlist.split(',').all(|entry| {
        let (host, port) = split_host_port(entry);
        host_is_valid(host)
            && port
                .map(|p| p.chars().all(|c| c.is_ascii_digit()))
                .unwrap_or(true)
    })
}

/// A host name, an IPv4 address, a bracketed IPv6 address, a percent-encoded
/// socket path, or nothing (libpq's default host).
fn host_is_valid(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[') {
        return inner.strip_suffix(']').is_some_and(|a| {
            !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        });
    }
    host.chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-%~".contains(c))
}

fn split_host_port(entry: &str) -> (&str, Option<&str>) {
    if entry.starts_with('[') {
        match entry.find(']') {
            Some(end) => {
                let rest = &entry[end + 1..];
                (&entry[..end + 1], rest.strip_prefix(':'))
            }
            None => (entry, None),
        }
    } else {
        match entry.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (entry, None),
        }
    }
}

fn parse_hosts(list: &str) -> Result<Vec<HostPort>, UrlError> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    list.split(',')
        .map(|entry| {
            let (host, port) = split_host_port(entry);
            let port = match port {
                None | Some("") => None,
                Some(p) => Some(p.parse::<u16>().map_err(|_| {
                    UrlError::Invalid(format!(
                        "port `{p}` of host `{host}` is not a number from 1 to 65535"
                    ))
                })?),
            };
            if port == Some(0) {
                return Err(UrlError::Invalid(format!(
                    "port 0 of host `{host}` is not valid"
                )));
            }
            if !host_is_valid(host) {
                return Err(UrlError::Invalid(format!(
                    "`{host}` is not a host name or address: use letters, digits, `.` and `-`, or [IPv6]"
                )));
            }
            Ok(HostPort {
                raw_host: host.to_string(),
                port,
                raw: entry.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> PgUrl {
        PgUrl::parse(s).unwrap()
    }

    #[test]
    fn parts_of_a_plain_url() {
        let u = parse(
            "postgresql://app:secret@db.example.com:6543/summitly?sslmode=require&schema=public",
        );
        assert_eq!(u.user(), Some("app"));
        assert_eq!(u.password(), Some("secret"));
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
            assert_eq!(u.password(), Some(password), "{url}");
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
        assert_eq!(u.password(), Some("p@ss$"));
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
        ] {
            assert_eq!(parse(s).is_local(), local, "{s}");
        }
    }

    #[test]
    fn decode_keeps_invalid_escapes_literal() {
        assert_eq!(decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(encode_component("a@b c", USERINFO), "a%40b%20c");
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
                    prop_assert_eq!(masked.password(), Some("****"));
                }
            }
        }
    }
}
