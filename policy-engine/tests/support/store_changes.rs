//! Random store changes of every kind, for the model-based property tests of
//! the stores (SQLite here, PostgreSQL in `store-postgres/tests`).

use std::collections::{BTreeMap, BTreeSet};

use policy_engine::catalog::Change;
use policy_engine::model::{
    AccountId, ColumnMask, ColumnSelection, DataFilter, DataLocation, Database, Format, Grant,
    GrantOrigin, LfTag, LocationUri, Permission, PolicyFile, Principal, Resource, RowFilter, Table,
    TableName, TagAssignment, TagTarget,
};
use policy_engine::{Error, MemStore, Store};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Commits `batches` to `store` and to the reference `model` alike (a
/// batch marked stale commits against the previous version, which must
/// change nothing anywhere), checking after each that both agree.
pub fn replay(
    store: &dyn Store,
    model: &MemStore,
    batches: &[(Vec<Change>, bool)],
) -> Result<(), TestCaseError> {
    for (changes, stale) in batches {
        let v = model.version().unwrap();
        prop_assert_eq!(store.version().unwrap(), v);
        if *stale && v > 0 {
            prop_assert_eq!(store.commit(v - 1, changes), Err(Error::Conflict));
            prop_assert_eq!(model.commit(v - 1, changes), Err(Error::Conflict));
        } else {
            let a = store.commit(v, changes).unwrap();
            let b = model.commit(v, changes).unwrap();
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(store.load().unwrap(), model.load().unwrap());
    }
    Ok(())
}

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

/// One random change.
pub fn change() -> impl Strategy<Value = Change> {
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
