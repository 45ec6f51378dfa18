//! The shared AWS layer, through the user's own `aws` CLI: running it with
//! the profile and region asked for, reading its JSON and its errors
//! (`cli`), and what an RDS or Aurora host name says (`endpoint`). The
//! rds-check checks (`rds`) and passwords from AWS (`passwords`) sit on it.

pub mod cli;
pub mod endpoint;

/// Whether `host` is an RDS or Aurora endpoint (rds-check has something to
/// check).
pub fn is_rds_host(host: &str) -> bool {
    endpoint::parse(host).is_some()
}
