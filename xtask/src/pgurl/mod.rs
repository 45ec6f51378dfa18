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

use crate::secret::{self, Secret};

mod encode;
mod endpoints;
pub use endpoints::Endpoint;
mod hosts;
#[cfg(test)]
mod oracle;
mod reader;
#[cfg(test)]
mod tests;
mod tls;

pub use encode::{decode, Param, QUERY_VALUE, USERINFO};
pub use hosts::HostPort;
pub use reader::{host_list_note, known_to_any, understands, Reader};
pub use tls::TlsMode;

use encode::{is_hex_pair, keep_or_sub_delims, raw_param_clean, Part};
use hosts::{parse_hosts, split_userinfo};

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
    password: Option<Password>,
    pub hosts: Vec<HostPort>,
    database: Option<Part>,
    /// A `/` was written after the hosts: kept on rendering even with no
    /// database name (`postgres://u@/?host=/dir`; without the `/`,
    /// node-postgres refuses the URL).
    slash: bool,
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
                Some((u, p)) => (Some(Part::parsed(u)), Some(p)),
                None => (Some(Part::parsed(ui)), None),
            },
        };
        let host_end = after.find(['/', '?']).unwrap_or(after.len());
        let hosts = parse_hosts(&after[..host_end])?;
        let mut tail = &after[host_end..];
        let mut database = None;
        let slash = tail.starts_with('/');
        if let Some(path) = tail.strip_prefix('/') {
            let end = path.find('?').unwrap_or(path.len());
            if end > 0 {
                database = Some(Part::parsed(&path[..end]));
            }
            tail = &path[end..];
        }
        let raw_query = tail.strip_prefix('?').map(str::to_string);
        let params = raw_query.as_deref().map(parse_query).unwrap_or_default();
        // libpq (and node-postgres's pg-connection-string) refuse a bad
        // escape anywhere; we stay lenient only in the userinfo, where a raw
        // `%` in a password is what env-fix repairs.
        if let Some(db) = &database {
            check_escapes("the database name", db.raw.as_deref().unwrap_or(&db.value))?;
        }
        for p in &params {
            if let Some(raw) = &p.raw {
                check_escapes(&format!("parameter `{}`", p.key), raw)?;
            }
        }
        let mut url = PgUrl {
            scheme: scheme.to_string(),
            user,
            password: None,
            hosts,
            database,
            slash,
            params,
            raw_query,
        };
        // The one place a parsed password becomes a `Secret`: foreign text
        // (Prisma's and the driver's messages) may quote it; see `secret::redact`.
        url.password = password.map(|raw| Password {
            value: Secret::in_url(&decode(raw), Some(raw), &url.public_words()),
            written: Some(raw.to_string()),
        });
        // Hosts, ports and hostaddrs must pair up as libpq pairs them.
        url.endpoints()?;
        Ok(url)
    }

    /// A URL from its parts, for URLs the xtask makes itself (the dev-db's).
    pub fn build(user: &str, password: &Secret, host: &str, port: u16, database: &str) -> PgUrl {
        let mut url = PgUrl {
            scheme: "postgresql".into(),
            user: Some(Part::new(user)),
            password: None,
            hosts: vec![HostPort::new(host, port)],
            database: Some(Part::new(database)),
            slash: true,
            params: Vec::new(),
            raw_query: None,
        };
        url.set_password(password);
        url
    }

    /// The names `redact` must never mask: user, hosts, database.
    fn public_words(&self) -> Vec<String> {
        let mut words: Vec<String> = self.user.iter().map(|u| u.value.clone()).collect();
        words.extend(self.hosts.iter().map(|h| h.host()));
        words.extend(self.database.iter().map(|d| d.value.clone()));
        words
    }

    /// The user libpq logs in as: a `user=` parameter wins over the URL's.
    pub fn user(&self) -> Option<&str> {
        // An empty user name in the URL (`postgres://@host`) is none to libpq.
        self.param("user").or(self
            .user
            .as_ref()
            .map(|p| p.value.as_str())
            .filter(|u| !u.is_empty()))
    }
    pub fn password(&self) -> Option<Secret> {
        self.password.as_ref().map(|p| p.value.clone())
    }
    /// The database libpq connects to: a `dbname=` parameter wins over the path.
    pub fn database(&self) -> Option<&str> {
        self.param("dbname")
            .or(self.database.as_ref().map(|p| p.value.as_str()))
    }
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// A parameter's value. Written more than once, the last one counts, as
    /// libpq and node-postgres read it.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rfind(|p| p.key == key)
            .map(|p| p.value.as_str())
    }

    /// Sets a parameter, leaving one occurrence of it (where it was first
    /// written), or appends it when absent.
    pub fn set_param(&mut self, key: &str, value: &str) {
        let count = self.params.iter().filter(|p| p.key == key).count();
        if count == 1 && self.param(key) == Some(value) {
            return;
        }
        self.raw_query = None;
        let mut seen = false;
        self.params.retain_mut(|p| {
            if p.key != key {
                return true;
            }
            if seen {
                return false;
            }
            seen = true;
            if p.value != value {
                p.value = value.to_string();
                p.raw = None;
            }
            true
        });
        if !seen {
            self.params.push(Param {
                key: key.to_string(),
                value: value.to_string(),
                raw: None,
            });
        }
    }

    /// Removes every occurrence of a parameter; returns the value that counted.
    pub fn remove_param(&mut self, key: &str) -> Option<String> {
        let value = self.param(key)?.to_string();
        self.raw_query = None;
        self.params.retain(|p| p.key != key);
        Some(value)
    }

    pub fn set_password(&mut self, password: &Secret) {
        if self.user.is_none() {
            self.user = Some(Part::new("postgres"));
        }
        self.password = Some(Password {
            value: Secret::in_url(password.expose(), None, &self.public_words()),
            written: None,
        });
    }

    /// Characters in the user name or password that a URL must not carry
    /// bare: the reason Prisma reads a different password than was set.
    pub fn unencoded_userinfo(&self) -> Vec<(&'static str, Vec<char>)> {
        let mut found = Vec::new();
        let password = self.password.as_ref().and_then(|p| p.written.as_deref());
        let user = self.user.as_ref().and_then(|u| u.raw.as_deref());
        for (name, raw) in [("user", user), ("password", password)] {
            if let Some(raw) = raw {
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
                    s.push_str(secret::MASK);
                } else {
                    s.push_str(&pw.render());
                }
            }
            s.push('@');
        }
        let hosts: Vec<String> = self.hosts.iter().map(|h| h.raw.clone()).collect();
        s.push_str(&hosts.join(","));
        if let Some(db) = &self.database {
            s.push('/');
            s.push_str(&db.render(QUERY_VALUE));
        } else if self.slash {
            s.push('/');
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

/// A URL's password: one `Secret`, and the text it was written as (kept so
/// that an unrepaired URL renders back byte for byte). Its `Debug` is the
/// mask, like the `Secret`'s.
#[derive(Clone, PartialEq, Eq)]
struct Password {
    value: Secret,
    written: Option<String>,
}

impl Password {
    fn render(&self) -> String {
        let part = Part {
            value: self.value.expose().to_string(),
            raw: self.written.clone(),
        };
        part.render(USERINFO)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(secret::MASK)
    }
}

/// A `%` must start two hex digits, and `%00` is refused, as libpq's
/// `conninfo_uri_decode` has it. The message names the token and where it
/// is, never the whole value (a `password=` parameter's is a secret).
fn check_escapes(what: &str, raw: &str) -> Result<(), UrlError> {
    let b = raw.as_bytes();
    for (i, _) in raw.match_indices('%') {
        let hex = b
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        let token: String = raw[i..].chars().take(3).collect();
        match hex {
            None => {
                return Err(UrlError::Invalid(format!(
                    "invalid percent-encoded token `{token}` in {what}, which libpq and node-postgres refuse: write a literal % as %25"
                )))
            }
            Some(h) if h == b"00" => {
                return Err(UrlError::Invalid(format!(
                    "forbidden value %00 in {what} (libpq refuses it)"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The `key=value` pairs of a query string, in the order written.
fn parse_query(query: &str) -> Vec<Param> {
    let mut params = Vec::new();
    for raw in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = raw.split_once('=').unwrap_or((raw, ""));
        let key = decode(k);
        let value = decode(v);
        if key == "password" {
            // Registered for `redact`; the parameter itself stays a value.
            Secret::new(value.clone());
        }
        params.push(Param {
            key,
            value,
            raw: Some(raw.to_string()),
        });
    }
    params
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
