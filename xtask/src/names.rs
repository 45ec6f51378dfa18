//! Stable names: the words scripts and the README rely on (codes, statuses,
//! layers, modes), each written once beside its variant. `stable_names!`
//! makes the enum, its `ALL` list and `as_str`; `tests` pins every list.

/// An enum whose variants each carry the one name they print as.
macro_rules! stable_names {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $name {
            /// Every variant, in declaration order.
            #[allow(dead_code)]
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable name: never rename one (scripts read it).
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )*
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    fn names(all: impl IntoIterator<Item = &'static str>) -> Vec<&'static str> {
        all.into_iter().collect()
    }

    /// The names as they shipped. Changing one breaks scripts that read
    /// `--json`: add a new variant instead, and extend the list here.
    /// The names as they shipped. Changing one breaks scripts that read
    /// `--json`: add a new variant instead, and extend the list here.
    #[test]
    fn the_checklist_names_are_pinned() {
        assert_eq!(
            names(crate::checklist::Status::ALL.iter().map(|v| v.as_str())),
            ["pass", "warn", "fail", "skip", "unknown"]
        );
    }

    /// The names as they shipped. Changing one breaks scripts that read
    /// `--json`: add a new variant instead, and extend the list here.
    #[test]
    fn the_diagnose_names_are_pinned() {
        assert_eq!(
            names(crate::diagnose::Layer::ALL.iter().map(|v| v.as_str())),
            [
                "url",
                "dns",
                "tcp",
                "tls",
                "auth",
                "query",
                "pooler",
                "server",
                "migrations",
                "idle"
            ]
        );
        assert_eq!(
            names(crate::diagnose::Code::ALL.iter().map(|v| v.as_str())),
            [
                "ok",
                "url_missing",
                "url_invalid",
                "password_placeholder",
                "dns_failed",
                "tcp_refused",
                "tcp_timeout",
                "startup_timeout",
                "tls_required",
                "tls_unavailable",
                "tls_failed",
                "server_closed",
                "auth_failed",
                "database_missing",
                "too_many_connections",
                "idle_closed",
                "migration_failed",
                "startup_param_refused",
                "pooler_transaction",
                "migration_role_lacks",
                "tcp_unreachable"
            ]
        );
    }

    /// The names as they shipped. Changing one breaks scripts that read
    /// `--json`: add a new variant instead, and extend the list here.
    #[test]
    fn the_rds_names_are_pinned() {
        assert_eq!(
            names(crate::rds::Code::ALL.iter().map(|v| v.as_str())),
            [
                "ok",
                "not_rds",
                "aws_cli_missing",
                "aws_no_credentials",
                "aws_sso_expired",
                "aws_access_denied",
                "aws_error",
                "not_applicable",
                "rds_not_found",
                "rds_endpoint_mismatch",
                "rds_not_available",
                "rds_not_public",
                "my_ip_unknown",
                "sg_no_rule_for_ip",
                "nacl_deny",
                "route_no_igw",
                "pg_timeout_low",
                "force_ssl_without_tls",
                "param_pending_reboot",
                "rds_recent_disruption",
                "log_findings",
                "logs_not_requested"
            ]
        );
    }

    /// The names as they shipped. Changing one breaks scripts that read
    /// `--json`: add a new variant instead, and extend the list here.
    #[test]
    fn the_onboarding_names_are_pinned() {
        assert_eq!(
            names(crate::onboarding::StepName::ALL.iter().map(|v| v.as_str())),
            [
                "tools",
                "environment",
                "env-fix",
                "db-test",
                "rds-check",
                "migrations"
            ]
        );
    }

    /// The names as they shipped. Changing one breaks scripts that read
    /// `--json`: add a new variant instead, and extend the list here.
    #[test]
    fn the_migrate_names_are_pinned() {
        assert_eq!(
            names(crate::migrate::Mode::ALL.iter().map(|v| v.as_str())),
            ["dev", "create-only", "deploy", "status"]
        );
        assert_eq!(
            names(crate::migrate::WaitKind::ALL.iter().map(|v| v.as_str())),
            ["advisory_lock", "table_lock", "statement"]
        );
    }

    /// The names as they shipped. Changing one breaks scripts that read
    /// `--json`: add a new variant instead, and extend the list here.
    #[test]
    fn the_prisma_names_are_pinned() {
        assert_eq!(
            names(crate::prisma::Engine::ALL.iter().map(|v| v.as_str())),
            ["native", "wasm"]
        );
    }

    /// The names as they shipped. Changing one breaks scripts that read
    /// `--json`: add a new variant instead, and extend the list here.
    #[test]
    fn the_aws_names_are_pinned() {
        assert_eq!(
            names(crate::aws::endpoint::Kind::ALL.iter().map(|v| v.as_str())),
            [
                "instance",
                "cluster",
                "cluster reader",
                "cluster custom endpoint",
                "proxy"
            ]
        );
    }

    /// The names as they shipped. Changing one breaks scripts that read
    /// `--json`: add a new variant instead, and extend the list here.
    #[test]
    fn the_repair_names_are_pinned() {
        assert_eq!(
            names(crate::repair::Kind::ALL.iter().map(|v| v.as_str())),
            [
                "password",
                "encoding",
                "sslmode",
                "connect_timeout",
                "pool_timeout",
                "statement_timeout",
                "dotenv",
                "skipped",
                "rds_proxy",
                "pooler",
                "sslmode_verify",
                "adapter_pg_sslmode",
                "unknown_param",
                "host_list",
                "shell_override",
                "tracked_by_git",
                "permissions",
                "line_break",
                "unreadable_line",
                "options_via_pooler"
            ]
        );
    }

    /// Every verdict code of db-test and rds-check is in the README's
    /// tables, so a user can look up what it means.
    #[test]
    fn every_verdict_code_is_documented() {
        let readme = include_str!("../../README.md");
        let codes = crate::diagnose::Code::ALL
            .iter()
            .map(|c| c.as_str())
            .chain(crate::rds::Code::ALL.iter().map(|c| c.as_str()));
        for code in codes {
            assert!(
                readme.contains(&format!("`{code}`")),
                "README does not mention `{code}`"
            );
        }
    }
}
