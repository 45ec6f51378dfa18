//! Secrets masked by construction. A `Secret` prints as `****` and gives its
//! text only through `expose()`, which only the code that hands it to a
//! driver, a child's environment or an env file calls. `PgUrl::masked()`
//! replaces exactly the password's position in a URL.
//!
//! Text we did not write (Prisma's and libraries' messages, which may quote a
//! URL) is redacted by `redact`: first the password position of any
//! `postgres://` URL in it, then whole occurrences of every spelling of the
//! secrets this process holds (raw, percent-encoded in upper or lower case,
//! `encodeURIComponent`'s). Secrets shorter than `MIN_FREE_TEXT` and those
//! equal to a public word (a user, database or host name) are left to the
//! URL rule, so that a password `a` or `postgres` never eats a user, host,
//! scheme or parameter.

use std::fmt;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// What a masked secret looks like in output.
pub const MASK: &str = "****";

/// Below this length a secret is masked only at a URL's password position:
/// shorter strings occur in ordinary words.
pub const MIN_FREE_TEXT: usize = 4;

/// A password or token.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret and remembers its spellings for `redact`.
    pub fn new(text: impl Into<String>) -> Secret {
        let text = text.into();
        remember(&text);
        Secret(text)
    }
    /// A URL's password, registered once with everything `redact` needs:
    /// the text it was written as (which may be partly encoded) and the
    /// URL's public words (user, hosts, database), so that a password equal
    /// to one of them never masks that word in free text.
    pub fn in_url(value: &str, written: Option<&str>, public: &[String]) -> Secret {
        let mut k = known();
        k.remember(value);
        if let Some(written) = written {
            k.remember(written);
        }
        for word in public {
            k.remember_public(word);
        }
        Secret(value.to_string())
    }
    /// The secret itself: for drivers, child environments and env files only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

#[derive(Default)]
struct Known {
    /// Spellings of secrets, longest first.
    spellings: Vec<String>,
    /// User, database and host names: never masked in free text.
    public: Vec<String>,
    /// The secrets themselves, as given (each once).
    remembered: Vec<String>,
}

#[cfg(not(test))]
fn known() -> MutexGuard<'static, Known> {
    static KNOWN: OnceLock<Mutex<Known>> = OnceLock::new();
    KNOWN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

// Unit tests run on parallel threads; each keeps its own secrets so that one
// test's password does not mask another's expected output.
#[cfg(test)]
fn known() -> MutexGuard<'static, Known> {
    thread_local! {
        static KNOWN: &'static Mutex<Known> = Box::leak(Box::default());
    }
    KNOWN.with(|k| *k).lock().unwrap_or_else(|e| e.into_inner())
}

/// Every way a library or Prisma may print `secret`.
pub fn spellings(secret: &str) -> Vec<String> {
    use crate::percent::{encode_component, QUERY_VALUE, USERINFO};
    let upper = encode_component(secret, USERINFO);
    let lower = lower_hex(&upper);
    // encodeURIComponent keeps `!'()*` bare; `url` keeps a few more.
    let uri_component = encode_component(secret, |c| {
        c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c)
    });
    let mut forms = vec![
        secret.to_string(),
        upper,
        lower,
        uri_component,
        encode_component(secret, QUERY_VALUE),
    ];
    forms.sort();
    forms.dedup();
    forms
}

impl Known {
    /// Remembers a secret so that `redact` masks it in foreign text.
    fn remember(&mut self, secret: &str) {
        if secret.is_empty() || self.remembered.iter().any(|r| r == secret) {
            return;
        }
        self.remembered.push(secret.to_string());
        for form in spellings(secret) {
            if !self.spellings.contains(&form) {
                self.spellings.push(form);
            }
        }
        // Longest first, so a secret that contains another is masked whole.
        self.spellings.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// A word that is public (a user, database or host name): a secret
    /// equal to it does not mask it in free text.
    fn remember_public(&mut self, word: &str) {
        if !word.is_empty() && !self.public.iter().any(|w| w == word) {
            self.public.push(word.to_string());
        }
    }
}

/// Remembers a secret so that `redact` masks it in foreign text.
fn remember(secret: &str) {
    known().remember(secret);
}

/// `%2F` → `%2f`, leaving the other characters alone.
fn lower_hex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut after_percent = 0;
    for c in s.chars() {
        if c == '%' {
            after_percent = 2;
            out.push(c);
        } else if after_percent > 0 {
            after_percent -= 1;
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Masks the password position of every `postgres://` or `postgresql://`
/// URL in `text`.
fn mask_url_passwords(text: &str) -> String {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"(?i)(postgres(?:ql)?://[^\s:@/?#]*:)([^\s@/]*)@")
            .expect("url password pattern")
    });
    re.replace_all(text, |c: &regex::Captures| match &c[2] {
        // Our own hints show the template `USER:PASSWORD@HOST`.
        "PASSWORD" | "" => c[0].to_string(),
        _ => format!("{}{MASK}@", &c[1]),
    })
    .into_owned()
}

fn is_word_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Replaces whole occurrences of `form` (not inside a longer word).
fn mask_whole(text: &str, form: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(form) {
        let before = rest[..at].chars().next_back().or(out.chars().next_back());
        let after = rest[at + form.len()..].chars().next();
        out.push_str(&rest[..at]);
        let edges_are_words = is_word_char(form.chars().next()) && is_word_char(before)
            || is_word_char(form.chars().next_back()) && is_word_char(after);
        out.push_str(if edges_are_words { form } else { MASK });
        rest = &rest[at + form.len()..];
    }
    out.push_str(rest);
    out
}

/// Masks the password's place in every `postgres://` URL in `text` and
/// nothing else: the last guard on our own lines, whose secrets are already
/// masked by construction (a free-text rule there would turn a password
/// `require` into `sslmode=****`).
pub fn redact_urls(text: &str) -> String {
    let k = known();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in url_pattern().find_iter(text) {
        out.push_str(&text[last..m.start()]);
        out.push_str(&mask_url(m.as_str(), &k));
        last = m.end();
    }
    out.push_str(&text[last..]);
    out
}

fn url_pattern() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r#"(?i)postgres(?:ql)?://[^\s'"<>]*"#).expect("url pattern")
    })
}

/// Redacts text we did not write. Inside a `postgres://` URL only the
/// password's place changes (never its user, host, database or parameters);
/// elsewhere every whole occurrence of a remembered secret is masked.
pub fn redact(text: &str) -> String {
    let k = known();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in url_pattern().find_iter(text) {
        out.push_str(&mask_free_text(&text[last..m.start()], &k));
        out.push_str(&mask_url(m.as_str(), &k));
        last = m.end();
    }
    out.push_str(&mask_free_text(&text[last..], &k));
    out
}

/// A URL: a remembered password in the password's place (also raw, with
/// an `@` in it), then whatever stands there, and a `password=` parameter.
fn mask_url(url: &str, k: &Known) -> String {
    let mut url = url.to_string();
    for form in &k.spellings {
        url = url.replace(&format!(":{form}@"), &format!(":{MASK}@"));
    }
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let param = RE.get_or_init(|| {
        regex::Regex::new(r"(?i)([?&]password=)[^&#\s]*").expect("password parameter pattern")
    });
    let url = mask_url_passwords(&url);
    param
        .replace_all(&url, format!("${{1}}{MASK}").as_str())
        .into_owned()
}

/// Text outside URLs: whole occurrences of every remembered secret that is
/// not also a public word.
fn mask_free_text(text: &str, k: &Known) -> String {
    let mut out = text.to_string();
    for form in &k.spellings {
        let short = form.chars().count() < MIN_FREE_TEXT;
        if short || k.public.iter().any(|w| w.eq_ignore_ascii_case(form)) {
            continue;
        }
        if out.contains(form.as_str()) {
            out = mask_whole(&out, form);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remember_public(word: &str) {
        known().remember_public(word);
    }

    #[test]
    fn a_secret_prints_as_the_mask() {
        let s = Secret::new("hunter2-x");
        assert_eq!(format!("{s} {s:?}"), "**** ****");
        assert_eq!(s.expose(), "hunter2-x");
    }

    #[test]
    fn every_spelling_of_a_secret_is_masked() {
        remember("p@ss/w#rd%!");
        for spelling in [
            "p@ss/w#rd%!",
            "p%40ss%2Fw%23rd%25%21",
            "p%40ss%2fw%23rd%25%21",
            "p%40ss%2Fw%23rd%25!",
        ] {
            let text = format!("could not connect as u with {spelling} failed");
            assert_eq!(redact(&text), "could not connect as u with **** failed");
        }
    }

    #[test]
    fn url_passwords_are_masked_by_position_whatever_their_length() {
        assert_eq!(
            redact("Error: postgresql://postgres:a@localhost:5432/postgres?sslmode=prefer"),
            "Error: postgresql://postgres:****@localhost:5432/postgres?sslmode=prefer"
        );
    }

    #[test]
    fn the_url_template_in_our_hints_stays_readable() {
        let hint =
            "create .env.local with DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/DATABASE";
        assert_eq!(redact(hint), hint);
    }

    #[test]
    fn short_and_public_secrets_never_eat_words() {
        remember("a");
        remember_public("postgres");
        remember("postgres");
        let text = "postgresql://postgres:****@localhost/postgres sslmode=prefer user \"postgres\"";
        assert_eq!(redact(text), text);
    }

    #[test]
    fn inside_a_url_only_the_password_place_changes() {
        // A password that is also a parameter value and a host label.
        remember("require");
        remember("prod1");
        let url = "postgresql://app:require@prod1.example.com:5432/app?sslmode=require";
        assert_eq!(
            redact(&format!("Error: {url} failed")),
            "Error: postgresql://app:****@prod1.example.com:5432/app?sslmode=require failed"
        );
        // A short one too, in its place.
        remember("a@b");
        assert_eq!(
            redact("postgresql://u:a@b@h/db"),
            "postgresql://u:****@h/db"
        );
        // Raw, with an `@` in it, as a library may echo what it was given.
        remember("p@ss-word");
        assert_eq!(
            redact("postgres://u:p@ss-word@h/db?password=p@ss-word"),
            "postgres://u:****@h/db?password=****"
        );
    }

    #[test]
    fn only_whole_occurrences_are_masked() {
        remember("abcd1234");
        assert_eq!(redact("xabcd1234 abcd1234y"), "xabcd1234 abcd1234y");
        assert_eq!(redact("pw=abcd1234;"), "pw=****;");
    }

    mod properties {
        //! Masking never changes any part of a rendered URL but its password.
        use super::super::*;
        use crate::pgurl::PgUrl;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]
            #[test]
            fn only_the_password_place_changes(
                user in "[a-z][a-z0-9_]{0,8}",
                pw in "[ -~]{1,16}",
                host in "[a-z][a-z0-9-]{0,8}(\\.[a-z0-9-]{1,8}){0,2}",
                db in "[a-z][a-z0-9_]{0,8}",
                mode in prop_oneof![Just("require"), Just("prefer"), Just("disable")],
                same in any::<bool>(),
            ) {
                // Common passwords are also users, databases, hosts, values.
                let pw = if same { user.clone() } else { pw };
                let mut url = PgUrl::build(&user, &Secret::new(pw.clone()), &host, 5432, &db);
                url.set_param("sslmode", mode);
                let rendered = url.render();
                let encoded = crate::percent::encode_component(&pw, crate::percent::USERINFO);
                let expected = rendered.replacen(&format!(":{encoded}@"), &format!(":{MASK}@"), 1);
                prop_assert_eq!(url.masked(), expected.clone());
                prop_assert_eq!(redact(&rendered), expected.clone());
                prop_assert_eq!(redact(&format!("Error: {rendered} failed")), format!("Error: {expected} failed"));
            }
        }
    }
}
