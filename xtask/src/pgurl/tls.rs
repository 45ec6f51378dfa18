//! libpq's `sslmode`, read from the URL in one place: whether TLS is used
//! and what is verified.

use super::PgUrl;

/// libpq's `sslmode`, which decides both whether TLS is used and what is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    pub fn name(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        }
    }
    pub fn verifies(self) -> bool {
        matches!(self, TlsMode::VerifyCa | TlsMode::VerifyFull)
    }
}

impl PgUrl {
    /// Reads `sslmode` with libpq's meaning. `require` with a root certificate
    /// behaves as `verify-ca`, as libpq documents.
    pub fn tls_mode(&self) -> Result<TlsMode, String> {
        let mode = match self.param("sslmode").unwrap_or("prefer") {
            "disable" => TlsMode::Disable,
            "allow" | "prefer" => TlsMode::Prefer,
            "require" | "no-verify" => {
                if self.param("sslrootcert").is_some_and(|p| p != "system") {
                    TlsMode::VerifyCa
                } else {
                    TlsMode::Require
                }
            }
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
                ))
            }
        };
        Ok(mode)
    }
}
