//! The committed migrations are valid PostgreSQL: applied in order to a
//! fresh dev-db, they produce the tables and constraints the schema describes.

use crate::support::*;

#[test]
fn committed_migrations_apply_in_order_and_build_the_schema() {
    let db = DevDb::start(&[]);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../prisma/migrations");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("migration.sql").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "20261101000000_init",
            "20261124000001_add_saved_comparables"
        ]
    );
    let mut c = db.app();
    for n in &names {
        let sql = std::fs::read_to_string(dir.join(n).join("migration.sql")).unwrap();
        c.batch_execute(&sql).unwrap_or_else(|e| panic!("{n}: {e}"));
    }
    let tables: Vec<String> = c
        .query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tables, ["Listing", "SavedComparable", "User"]);
    let constraints: Vec<String> = c
        .query("SELECT conname::text FROM pg_constraint WHERE conrelid = '\"SavedComparable\"'::regclass ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        constraints,
        [
            "SavedComparable_comparableId_fkey",
            "SavedComparable_pkey",
            "SavedComparable_subjectId_fkey",
            "SavedComparable_userId_fkey"
        ]
    );
    // Unique per user, subject and comparable.
    c.batch_execute(
        "INSERT INTO \"User\" (id, email, \"updatedAt\") VALUES ('u1', 'a@example.com', now());
         INSERT INTO \"Listing\" (id, \"mlsNumber\", address, city, \"postalCode\", \"priceCents\", bedrooms, bathrooms, \"updatedAt\")
           VALUES ('l1', 'M1', '1 Main St', 'Toronto', 'M5V', 100000000, 3, 2.5, now()),
                  ('l2', 'M2', '2 Main St', 'Toronto', 'M5V', 90000000, 3, 2.0, now());
         INSERT INTO \"SavedComparable\" (id, \"userId\", \"subjectId\", \"comparableId\") VALUES ('s1', 'u1', 'l1', 'l2');",
    )
    .unwrap();
    let dup = c.batch_execute("INSERT INTO \"SavedComparable\" (id, \"userId\", \"subjectId\", \"comparableId\") VALUES ('s2', 'u1', 'l1', 'l2')");
    assert_eq!(dup.unwrap_err().code().map(|c| c.code()), Some("23505"));
    let idx: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'SavedComparable_userId_idx'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(idx, 1);
}
