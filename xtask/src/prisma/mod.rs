//! Talking to the Prisma CLI: finding the project's own pinned install and
//! the package manager that runs it (never letting `npx` fetch an unpinned
//! Prisma), building the command with xshell; reading its output (`codes`),
//! its bookkeeping in the database (`table`), and the schema engine it
//! runs (`engine`). A leaf: the migrate flow that uses it is `migrate/`.

mod install;

pub mod codes;
pub mod config;
pub mod engine;
pub mod footprint;
pub mod table;

pub use engine::Engine;
pub use install::{Install, PackageManager};

use std::path::Path;

use crate::exit::bad_input;

/// Checks a migration name the way `migrate dev --name` will use it.
pub fn validate_name(name: &str) -> anyhow::Result<String> {
    // Prisma turns the name into a slug of letters, digits and underscores.
    let re = regex::Regex::new(r"[^A-Za-z0-9_]+").expect("slug pattern");
    let slug = re
        .replace_all(name.trim(), "_")
        .trim_matches('_')
        .to_string();
    if slug.is_empty() {
        return Err(bad_input(format!(
            "migration name `{name}` has no letters or digits; use something like add_saved_comparables"
        )));
    }
    if slug.len() > 200 {
        return Err(bad_input("migration name is longer than 200 characters"));
    }
    Ok(slug)
}

/// Whether the app uses `@prisma/adapter-pg` (node-postgres at runtime).
pub fn uses_adapter_pg(project: &Path) -> bool {
    std::fs::read_to_string(project.join("package.json"))
        .map(|t| t.contains("\"@prisma/adapter-pg\""))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_names() {
        assert_eq!(
            validate_name("add_saved_comparables").unwrap(),
            "add_saved_comparables"
        );
        assert_eq!(
            validate_name("add saved-comparables!").unwrap(),
            "add_saved_comparables"
        );
        assert!(validate_name("  -- ").is_err());
        assert!(validate_name("").is_err());
    }
}
