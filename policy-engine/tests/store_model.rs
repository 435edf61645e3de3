//! Model-based property test: the SQLite store behaves exactly like the
//! in-memory reference model for random sequences of commits, including
//! stale-version commits (which must change nothing) and reopening the file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a panic is a failed test, and test items are not API"
)]

#[path = "support/store_changes.rs"]
mod store_changes;

use policy_engine::{Error, MemStore, SqliteStore, Store};
use proptest::prelude::*;
use store_changes::change;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn sqlite_store_matches_the_memory_model(
        batches in prop::collection::vec((prop::collection::vec(change(), 0..6), any::<bool>()), 1..12)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let sqlite = SqliteStore::open(&path).unwrap();
        let model = MemStore::new();
        store_changes::replay(&sqlite, &model, &batches)?;
        drop(sqlite);
        let reopened = SqliteStore::open(&path).unwrap();
        prop_assert_eq!(reopened.load().unwrap(), model.load().unwrap());
    }
}

#[test]
fn a_store_from_a_newer_lakegate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite_free_bump(&path);
    assert!(conn.is_ok());
    match SqliteStore::open(&path) {
        Err(Error::StoreUnavailable(m)) => assert!(m.contains("newer"), "{m}"),
        Err(e) => panic!("unexpected error {e:?}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

/// Bumps the schema version as a newer lakegate would, through a store
/// commit-free route: SQLite's user_version, written with the sqlite3 CLI
/// if present, else by patching the header bytes (offset 60, big-endian).
fn rusqlite_free_bump(path: &std::path::Path) -> std::io::Result<()> {
    let mut bytes = std::fs::read(path)?;
    if bytes.len() >= 64 {
        bytes[60..64].copy_from_slice(&99u32.to_be_bytes());
    }
    std::fs::write(path, bytes)
}

#[test]
fn garbage_store_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    std::fs::write(&path, b"this is not a database, it is a text file of some length ........................................................................").unwrap();
    assert!(matches!(
        SqliteStore::open(&path),
        Err(Error::StoreUnavailable(_))
    ));
}
