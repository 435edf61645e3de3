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

use std::collections::{BTreeMap, BTreeSet};

use policy_engine::catalog::Change;
use policy_engine::model::{
    AccountId, ColumnMask, ColumnSelection, DataFilter, DataLocation, Database, Format, Grant,
    GrantOrigin, LfTag, LocationUri, Permission, PolicyFile, Principal, Resource, RowFilter, Table,
    TableName, TagAssignment, TagTarget,
};
use policy_engine::{Error, MemStore, SqliteStore, Store};
use proptest::prelude::*;

fn acct(i: u8) -> AccountId {
    AccountId::parse(&format!("11111111111{}", i % 2)).unwrap()
}
fn name(i: u8) -> String {
    ["a", "b", "c"][(i % 3) as usize].to_string()
}
fn tname(i: u8, j: u8) -> TableName {
    TableName {
        database: name(i),
        table: name(j),
    }
}
fn principal(i: u8) -> Principal {
    Principal::parse(&format!("{}:user/u{}", acct(i), i % 3)).unwrap()
}

fn change() -> impl Strategy<Value = Change> {
    (
        0u8..16,
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|(op, a, b, c, flag)| match op {
            0 => Change::PutAdmin {
                account: acct(a),
                principal: principal(b),
            },
            1 => Change::DeleteAdmin {
                account: acct(a),
                principal: principal(b),
            },
            2 => Change::PutDatabase(Database {
                account: acct(a),
                name: name(b),
                location: flag.then(|| LocationUri::parse(&format!("file:///d/{c}/")).unwrap()),
                creator: principal(c),
            }),
            3 => Change::DeleteDatabase {
                account: acct(a),
                name: name(b),
            },
            4 => Change::PutTable(Table {
                account: acct(a),
                name: tname(b, c),
                columns: vec![policy_engine::model::Column {
                    name: format!("c{c}"),
                    data_type: "Int64".into(),
                    partition: flag,
                }],
                partition_keys: vec![],
                location: LocationUri::parse("file:///d/t/").unwrap(),
                format: if flag { Format::Csv } else { Format::Parquet },
                creator: principal(a),
            }),
            5 => Change::DeleteTable {
                account: acct(a),
                name: tname(b, c),
            },
            6 => Change::PutLocation(DataLocation {
                account: acct(a),
                uri: LocationUri::parse(&format!("file:///l/{}/", b % 3)).unwrap(),
            }),
            7 => Change::DeleteLocation {
                account: acct(a),
                uri: LocationUri::parse(&format!("file:///l/{}/", b % 3)).unwrap(),
            },
            8 => Change::PutTag(LfTag {
                account: acct(a),
                key: name(b),
                values: BTreeSet::from([name(c), name(c.wrapping_add(1))]),
            }),
            9 => Change::DeleteTag {
                account: acct(a),
                key: name(b),
            },
            10 => Change::PutTagAssignment(TagAssignment {
                account: acct(a),
                target: if flag {
                    TagTarget::Database { database: name(b) }
                } else {
                    TagTarget::Column {
                        table: tname(b, c),
                        column: name(c),
                    }
                },
                key: name(c),
                value: name(a),
            }),
            11 => Change::DeleteTagAssignment {
                account: acct(a),
                target: if flag {
                    TagTarget::Database { database: name(b) }
                } else {
                    TagTarget::Column {
                        table: tname(b, c),
                        column: name(c),
                    }
                },
                key: name(c),
            },
            12 => Change::PutFilter(DataFilter {
                account: acct(a),
                table: tname(b, c),
                name: name(a),
                rows: if flag {
                    RowFilter::AllRows
                } else {
                    RowFilter::Predicate(format!("x = {c}"))
                },
                columns: ColumnSelection::Exclude(BTreeSet::from([name(c)])),
            }),
            13 => Change::DeleteFilter {
                account: acct(a),
                table: tname(b, c),
                name: name(a),
            },
            14 => Change::PutGrant(Grant {
                id: format!("g{}", b % 5),
                account: acct(a),
                principal: principal(c),
                resource: if flag {
                    Resource::Table { table: tname(a, b) }
                } else {
                    Resource::TableWithColumns {
                        table: tname(a, b),
                        columns: ColumnSelection::Include(BTreeSet::from([name(c)])),
                    }
                },
                permissions: BTreeSet::from([Permission::Select, Permission::Describe]),
                grantable: if flag {
                    BTreeSet::from([Permission::Select])
                } else {
                    BTreeSet::new()
                },
                masks: if c % 2 == 0 {
                    BTreeMap::from([(name(c), ColumnMask::Last4)])
                } else {
                    BTreeMap::new()
                },
                origin: if flag {
                    GrantOrigin::Creator
                } else {
                    GrantOrigin::Explicit { by: principal(a) }
                },
            }),
            15 => {
                if flag {
                    Change::DeleteGrant {
                        id: format!("g{}", b % 5),
                    }
                } else {
                    Change::SetPolicies {
                        account: acct(a),
                        files: if c % 3 == 0 {
                            vec![]
                        } else {
                            vec![PolicyFile {
                                path: format!("p{c}.cedar"),
                                source: "forbid (principal, action, resource);".into(),
                            }]
                        },
                    }
                }
            }
            _ => unreachable!(),
        })
}

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
        for (changes, stale) in &batches {
            let v = model.version().unwrap();
            prop_assert_eq!(sqlite.version().unwrap(), v);
            if *stale && v > 0 {
                // A commit against an old version changes nothing anywhere.
                prop_assert_eq!(sqlite.commit(v - 1, changes), Err(Error::Conflict));
                prop_assert_eq!(model.commit(v - 1, changes), Err(Error::Conflict));
            } else {
                let a = sqlite.commit(v, changes).unwrap();
                let b = model.commit(v, changes).unwrap();
                prop_assert_eq!(a, b);
            }
            prop_assert_eq!(sqlite.load().unwrap(), model.load().unwrap());
        }
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
