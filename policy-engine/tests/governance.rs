//! The grant algebra through the policy engine's public API: include and
//! exclude lists, union, grant-option narrowing, revoke, admin and creator
//! rights, deny by default, and Cedar evaluation errors denying.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a panic is a failed test, and test items are not API"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use policy_engine::catalog::Change;
use policy_engine::model::{AccountId, Column, Format, PolicyFile, TableName};
use policy_engine::{
    Caller, Error, Governance, GrantRequest, MemStore, NewTable, PermissionFilter, Principal,
    ResourceSpec, SqliteStore, Store,
};

const ACCT: &str = "111111111111";

/// A row predicate as the library produces it.
fn rx(src: &str) -> policy_engine::RowExpr {
    policy_engine::RowExpr::parse(src).unwrap()
}

fn caller(p: &str) -> Caller {
    Caller::new(Principal::parse(p).unwrap())
}
fn admin() -> Caller {
    caller("111111111111:user/admin")
}
fn alice() -> Caller {
    caller("111111111111:user/alice")
}
fn bob() -> Caller {
    caller("111111111111:user/bob")
}

fn col(name: &str, ty: &str) -> Column {
    Column {
        name: name.into(),
        data_type: ty.into(),
        partition: false,
    }
}

fn orders_spec() -> NewTable {
    NewTable {
        name: "sales.orders".into(),
        location: "file:///data/sales/orders/".into(),
        format: Format::Parquet,
        columns: vec![
            col("id", "Int64"),
            col("region", "Utf8"),
            col("amount", "Float64"),
            col("email", "Utf8"),
        ],
        partition_keys: vec![],
    }
}

fn setup_with(store: Arc<dyn Store>) -> Governance {
    let g = Governance::new(store).unwrap();
    g.bootstrap(
        &AccountId::parse(ACCT).unwrap(),
        &[Principal::parse("111111111111:user/admin").unwrap()],
    )
    .unwrap();
    g.register_location(&admin(), "file:///data/").unwrap();
    g.create_database(&admin(), "sales", Some("file:///data/sales/"))
        .unwrap();
    g.create_table(&admin(), &orders_spec()).unwrap();
    g
}

fn setup() -> Governance {
    setup_with(Arc::new(MemStore::new()))
}

fn table_grant(principal: &str, perms: &str, table: &str) -> GrantRequest {
    GrantRequest {
        principal: principal.into(),
        permissions: perms.split(',').map(String::from).collect(),
        grantable: vec![],
        resource: ResourceSpec::Table {
            name: table.into(),
            columns: vec![],
            exclude_columns: vec![],
        },
        masks: vec![],
    }
}

fn columns_grant(principal: &str, table: &str, cols: &[&str], exclude: bool) -> GrantRequest {
    let list: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
    GrantRequest {
        principal: principal.into(),
        permissions: vec!["SELECT".into()],
        grantable: vec![],
        resource: ResourceSpec::Table {
            name: table.into(),
            columns: if exclude { vec![] } else { list.clone() },
            exclude_columns: if exclude { list } else { vec![] },
        },
        masks: vec![],
    }
}

fn orders() -> TableName {
    TableName::parse("sales.orders").unwrap()
}

fn visible(g: &Governance, c: &Caller) -> Result<Vec<String>, Error> {
    g.effective_access(c, &orders())
        .map(|a| a.columns.into_iter().map(|c| c.name).collect())
}

#[test]
fn deny_by_default_reports_not_found() {
    let g = setup();
    let err = visible(&g, &alice()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    // Exactly the message of a table that does not exist.
    let missing = g
        .effective_access(&alice(), &TableName::parse("sales.nope").unwrap())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err.to_string().replace("sales.orders", "X"),
        missing.replace("sales.nope", "X")
    );
}

#[test]
fn table_level_select_shows_every_column_in_table_order() {
    let g = setup();
    g.grant(
        &admin(),
        &table_grant("111111111111:user/alice", "SELECT", "sales.orders"),
    )
    .unwrap();
    assert_eq!(
        visible(&g, &alice()).unwrap(),
        ["id", "region", "amount", "email"]
    );
}

#[test]
fn include_list_shows_only_those_columns_in_table_order() {
    let g = setup();
    g.grant(
        &admin(),
        &columns_grant(
            "111111111111:user/alice",
            "sales.orders",
            &["email", "id"],
            false,
        ),
    )
    .unwrap();
    assert_eq!(visible(&g, &alice()).unwrap(), ["id", "email"]);
}

#[test]
fn exclude_list_hides_those_columns() {
    let g = setup();
    g.grant(
        &admin(),
        &columns_grant("111111111111:user/alice", "sales.orders", &["email"], true),
    )
    .unwrap();
    assert_eq!(visible(&g, &alice()).unwrap(), ["id", "region", "amount"]);
}

#[test]
fn grants_to_groups_union_with_the_users_own() {
    let g = setup();
    g.grant(
        &admin(),
        &columns_grant("111111111111:user/alice", "sales.orders", &["id"], false),
    )
    .unwrap();
    g.grant(
        &admin(),
        &columns_grant(
            "111111111111:group/analysts",
            "sales.orders",
            &["amount"],
            false,
        ),
    )
    .unwrap();
    let mut a = alice();
    assert_eq!(visible(&g, &a).unwrap(), ["id"]);
    a.groups
        .push(Principal::parse("111111111111:group/analysts").unwrap());
    assert_eq!(visible(&g, &a).unwrap(), ["id", "amount"]);
}

#[test]
fn column_grants_merge_and_exclude_merges_with_include() {
    let g = setup();
    let p = "111111111111:user/alice";
    g.grant(&admin(), &columns_grant(p, "sales.orders", &["id"], false))
        .unwrap();
    g.grant(
        &admin(),
        &columns_grant(p, "sales.orders", &["region"], false),
    )
    .unwrap();
    assert_eq!(visible(&g, &alice()).unwrap(), ["id", "region"]);
    // all-but(email, region) ∪ {region} = all-but(email)
    g.grant(
        &admin(),
        &columns_grant(p, "sales.orders", &["email", "region"], true),
    )
    .unwrap();
    assert_eq!(visible(&g, &alice()).unwrap(), ["id", "region", "amount"]);
}

#[test]
fn grant_option_narrowing() {
    let g = setup();
    let mut req = columns_grant(
        "111111111111:user/alice",
        "sales.orders",
        &["id", "region"],
        false,
    );
    req.grantable = vec!["SELECT".into()];
    g.grant(&admin(), &req).unwrap();

    // A subset of the grantable columns may be re-granted.
    g.grant(
        &alice(),
        &columns_grant("111111111111:user/bob", "sales.orders", &["id"], false),
    )
    .unwrap();
    assert_eq!(visible(&g, &bob()).unwrap(), ["id"]);

    // A column outside the grant may not: for alice it does not exist.
    let err = g
        .grant(
            &alice(),
            &columns_grant(
                "111111111111:user/bob",
                "sales.orders",
                &["id", "amount"],
                false,
            ),
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(err.to_string().contains("columns are: id, region"), "{err}");

    // Nor may the whole table.
    let err = g
        .grant(
            &alice(),
            &table_grant("111111111111:user/bob", "SELECT", "sales.orders"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert_eq!(visible(&g, &bob()).unwrap(), ["id"], "nothing half-applied");
}

#[test]
fn without_grant_option_a_holder_cannot_regrant() {
    let g = setup();
    g.grant(
        &admin(),
        &table_grant("111111111111:user/alice", "SELECT", "sales.orders"),
    )
    .unwrap();
    let err = g
        .grant(
            &alice(),
            &table_grant("111111111111:user/bob", "SELECT", "sales.orders"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
}

#[test]
fn grantable_exclude_list_is_refused() {
    let g = setup();
    let mut req = columns_grant("111111111111:user/alice", "sales.orders", &["email"], true);
    req.grantable = vec!["SELECT".into()];
    let err = g.grant(&admin(), &req).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(err.to_string().contains("exclude"), "{err}");
    assert!(visible(&g, &alice()).is_err(), "nothing was granted");
}

#[test]
fn revoke_table_select_removes_column_grants_too() {
    let g = setup();
    let p = "111111111111:user/alice";
    g.grant(&admin(), &table_grant(p, "SELECT,DESCRIBE", "sales.orders"))
        .unwrap();
    g.grant(&admin(), &columns_grant(p, "sales.orders", &["id"], false))
        .unwrap();
    g.revoke(&admin(), &table_grant(p, "SELECT", "sales.orders"))
        .unwrap();
    // DESCRIBE remains, so the table is visible but not selectable.
    let err = visible(&g, &alice()).unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    let entries = g
        .list_permissions(
            &admin(),
            &PermissionFilter {
                principal: Some(p.into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].permissions, ["DESCRIBE"]);
}

#[test]
fn revoke_columns_from_table_level_select_leaves_the_rest() {
    let g = setup();
    let p = "111111111111:user/alice";
    g.grant(&admin(), &table_grant(p, "SELECT", "sales.orders"))
        .unwrap();
    g.revoke(
        &admin(),
        &columns_grant(p, "sales.orders", &["email"], false),
    )
    .unwrap();
    assert_eq!(visible(&g, &alice()).unwrap(), ["id", "region", "amount"]);
}

#[test]
fn revoke_columns_from_include_list() {
    let g = setup();
    let p = "111111111111:user/alice";
    g.grant(
        &admin(),
        &columns_grant(p, "sales.orders", &["id", "region", "email"], false),
    )
    .unwrap();
    g.revoke(
        &admin(),
        &columns_grant(p, "sales.orders", &["region"], false),
    )
    .unwrap();
    assert_eq!(visible(&g, &alice()).unwrap(), ["id", "email"]);
    g.revoke(
        &admin(),
        &columns_grant(p, "sales.orders", &["id", "email"], false),
    )
    .unwrap();
    assert!(visible(&g, &alice()).is_err());
}

#[test]
fn revoking_what_is_not_held_is_an_error_and_changes_nothing() {
    let g = setup();
    let err = g
        .revoke(
            &admin(),
            &table_grant("111111111111:user/alice", "SELECT", "sales.orders"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
}

#[test]
fn non_admin_cannot_grant_or_register_locations() {
    let g = setup();
    let err = g
        .grant(
            &alice(),
            &table_grant("111111111111:user/alice", "SELECT", "sales.orders"),
        )
        .unwrap_err();
    // alice cannot even see the table, so it is "not found".
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    g.grant(
        &admin(),
        &table_grant("111111111111:user/alice", "DESCRIBE", "sales.orders"),
    )
    .unwrap();
    let err = g
        .grant(
            &alice(),
            &table_grant("111111111111:user/bob", "SELECT", "sales.orders"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    let err = g.register_location(&alice(), "file:///other/").unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
}

#[test]
fn admin_sees_everything_and_is_listed() {
    let g = setup();
    assert_eq!(
        visible(&g, &admin()).unwrap(),
        ["id", "region", "amount", "email"]
    );
    let entries = g
        .list_permissions(&admin(), &PermissionFilter::default())
        .unwrap();
    assert!(entries.iter().any(|e| e.origin == "admin"), "{entries:?}");
}

#[test]
fn admin_group_members_are_admins() {
    let store = Arc::new(MemStore::new());
    let g = Governance::new(store).unwrap();
    g.bootstrap(
        &AccountId::parse(ACCT).unwrap(),
        &[Principal::parse("111111111111:group/admins").unwrap()],
    )
    .unwrap();
    let mut carol = caller("111111111111:user/carol");
    assert!(g.register_location(&carol, "file:///data/").is_err());
    carol
        .groups
        .push(Principal::parse("111111111111:group/admins").unwrap());
    g.register_location(&carol, "file:///data/").unwrap();
}

#[test]
fn creator_rights_are_listed_and_revocable() {
    let g = setup();
    let bob_id = "111111111111:user/bob";
    g.grant(
        &admin(),
        &GrantRequest {
            principal: bob_id.into(),
            permissions: vec!["CREATE_DATABASE".into()],
            grantable: vec![],
            resource: ResourceSpec::Catalog,
            masks: vec![],
        },
    )
    .unwrap();
    g.grant(
        &admin(),
        &GrantRequest {
            principal: bob_id.into(),
            permissions: vec!["DATA_LOCATION_ACCESS".into()],
            grantable: vec![],
            resource: ResourceSpec::Location {
                uri: "file:///data/".into(),
            },
            masks: vec![],
        },
    )
    .unwrap();
    g.create_database(&bob(), "hr", None).unwrap();
    g.create_table(
        &bob(),
        &NewTable {
            name: "hr.people".into(),
            location: "file:///data/hr/people/".into(),
            ..orders_spec()
        },
    )
    .unwrap();
    let entries = g
        .list_permissions(
            &bob(),
            &PermissionFilter {
                principal: Some(bob_id.into()),
                ..Default::default()
            },
        )
        .unwrap();
    let creator: Vec<_> = entries.iter().filter(|e| e.origin == "creator").collect();
    assert_eq!(creator.len(), 2, "{entries:?}");
    // The table creator may grant onwards.
    g.grant(
        &bob(),
        &table_grant("111111111111:user/carol", "SELECT", "hr.people"),
    )
    .unwrap();
    // Revoking the creator's rights takes them away.
    g.revoke(&admin(), &table_grant(bob_id, "ALL", "hr.people"))
        .unwrap();
    let err = g
        .effective_access(&bob(), &TableName::parse("hr.people").unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}

#[test]
fn cedar_evaluation_error_denies_instead_of_skipping_the_policy() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let g = setup_with(store.clone());
    g.grant(
        &admin(),
        &table_grant("111111111111:user/alice", "SELECT", "sales.orders"),
    )
    .unwrap();
    assert!(visible(&g, &alice()).is_ok());
    // A forbid that errors for callers without the `clearance` attribute.
    // Cedar would skip it and allow; lakegate must deny.
    let v = store.version().unwrap();
    store
        .commit(
            v,
            &[Change::SetPolicies {
                account: AccountId::parse(ACCT).unwrap(),
                files: vec![PolicyFile {
                    path: "low.cedar".into(),
                    source: r#"forbid (principal, action == Lakegate::Action::"SELECT", resource)
                               when { principal.getTag("clearance") == "low" };"#
                        .into(),
                }],
            }],
        )
        .unwrap();
    let err = visible(&g, &alice()).unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    // With the attribute present and not "low", the forbid evaluates to false.
    let mut a = alice();
    a.attrs.insert("clearance".into(), "high".into());
    assert_eq!(visible(&g, &a).unwrap().len(), 4);
    a.attrs.insert("clearance".into(), "low".into());
    assert!(visible(&g, &a).is_err());
}

#[test]
fn invalid_permission_for_resource_type_is_refused() {
    let g = setup();
    let err = g
        .grant(
            &admin(),
            &GrantRequest {
                principal: "111111111111:user/alice".into(),
                permissions: vec!["INSERT".into()],
                grantable: vec![],
                resource: ResourceSpec::Database {
                    name: "sales".into(),
                },
                masks: vec![],
            },
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("INSERT cannot be granted on a database"),
        "{err}"
    );
    let err = g
        .grant(
            &admin(),
            &GrantRequest {
                principal: "111111111111:user/alice".into(),
                permissions: vec!["SELECT".into()],
                grantable: vec![],
                resource: ResourceSpec::Location {
                    uri: "file:///data/".into(),
                },
                masks: vec![],
            },
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("SELECT cannot be granted on a data location"),
        "{err}"
    );
}

#[test]
fn malformed_principals_are_refused() {
    let g = setup();
    for bad in [
        "alice",
        "111111111111:alice",
        "111111111111:user/",
        "111111111111:dog/rex",
        "abc:user/x",
        "111111111111:user/a b",
        "",
    ] {
        let err = g
            .grant(&admin(), &table_grant(bad, "SELECT", "sales.orders"))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{bad}: {err:?}");
        assert!(
            err.to_string().contains("is not a principal"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn unknown_names_list_the_valid_ones() {
    let g = setup();
    let err = g
        .grant(
            &admin(),
            &columns_grant("111111111111:user/alice", "sales.orders", &["ssn"], false),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("columns are: id, region, amount, email"),
        "{err}"
    );
    let err = g
        .grant(
            &admin(),
            &GrantRequest {
                resource: ResourceSpec::Database {
                    name: "nope".into(),
                },
                ..table_grant("111111111111:user/alice", "DESCRIBE", "x.y")
            },
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("databases you can see: sales"),
        "{err}"
    );
}

#[test]
fn table_locations_must_be_registered_and_accessible() {
    let g = setup();
    let outside = NewTable {
        name: "sales.elsewhere".into(),
        location: "file:///tmp/elsewhere/".into(),
        ..orders_spec()
    };
    let err = g.create_table(&admin(), &outside).unwrap_err();
    assert!(
        err.to_string().contains("not inside any registered"),
        "{err}"
    );

    // bob may create tables in sales but has no DATA_LOCATION_ACCESS.
    g.grant(
        &admin(),
        &GrantRequest {
            principal: "111111111111:user/bob".into(),
            permissions: vec!["CREATE_TABLE".into()],
            grantable: vec![],
            resource: ResourceSpec::Database {
                name: "sales".into(),
            },
            masks: vec![],
        },
    )
    .unwrap();
    // Inside the database's location: allowed without DATA_LOCATION_ACCESS.
    g.create_table(
        &bob(),
        &NewTable {
            name: "sales.inside".into(),
            location: "file:///data/sales/inside/".into(),
            ..orders_spec()
        },
    )
    .unwrap();
    // Registered, but outside the database's location: needs it.
    let err = g
        .create_table(
            &bob(),
            &NewTable {
                name: "sales.outside".into(),
                location: "file:///data/other/".into(),
                ..orders_spec()
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(err.to_string().contains("DATA_LOCATION_ACCESS"), "{err}");
}

#[test]
fn duplicate_and_non_identifier_names_are_refused() {
    let g = setup();
    let err = g.create_database(&admin(), "sales", None).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "{err:?}");
    let err = g.create_table(&admin(), &orders_spec()).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "{err:?}");
    for bad in ["1abc", "a-b", "a b", "", "x;drop", &"a".repeat(200)] {
        let err = g.create_database(&admin(), bad, None).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{bad}: {err:?}");
    }
    let mut dup = orders_spec();
    dup.name = "sales.dup".into();
    dup.columns.push(col("ID", "Int64"));
    let err = g.create_table(&admin(), &dup).unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");
    assert_eq!(g.list_databases(&admin()).unwrap().len(), 1);
}

#[test]
fn describe_only_is_permission_denied_not_not_found() {
    let g = setup();
    g.grant(
        &admin(),
        &table_grant("111111111111:user/alice", "DESCRIBE", "sales.orders"),
    )
    .unwrap();
    let err = visible(&g, &alice()).unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(err.to_string().contains("SELECT"), "{err}");
}

#[test]
fn revocation_is_seen_by_another_node_sharing_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lakegate.db");
    let node1 = setup_with(Arc::new(SqliteStore::open(&path).unwrap()));
    let node2 = Governance::new(Arc::new(SqliteStore::open(&path).unwrap())).unwrap();
    let p = "111111111111:user/alice";
    node1
        .grant(&admin(), &table_grant(p, "SELECT", "sales.orders"))
        .unwrap();
    assert_eq!(visible(&node2, &alice()).unwrap().len(), 4);
    node1
        .revoke(&admin(), &table_grant(p, "SELECT", "sales.orders"))
        .unwrap();
    assert!(visible(&node2, &alice()).is_err());
}

struct BrokenStore;
impl Store for BrokenStore {
    fn version(&self) -> policy_engine::Result<u64> {
        Err(Error::StoreUnavailable("disk on fire".into()))
    }
    fn load(&self) -> policy_engine::Result<policy_engine::catalog::Catalog> {
        Err(Error::StoreUnavailable("disk on fire".into()))
    }
    fn commit(&self, _: u64, _: &[Change]) -> policy_engine::Result<u64> {
        Err(Error::StoreUnavailable("disk on fire".into()))
    }
}

#[test]
fn an_unreadable_store_denies() {
    assert!(Governance::new(Arc::new(BrokenStore)).is_err());
    // A store that breaks after start: requests are denied, never allowed.
    struct FlakyStore {
        inner: MemStore,
        broken: std::sync::atomic::AtomicBool,
    }
    impl Store for FlakyStore {
        fn version(&self) -> policy_engine::Result<u64> {
            if self.broken.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Error::StoreUnavailable("gone".into()));
            }
            self.inner.version()
        }
        fn load(&self) -> policy_engine::Result<policy_engine::catalog::Catalog> {
            self.inner.load()
        }
        fn commit(&self, v: u64, c: &[Change]) -> policy_engine::Result<u64> {
            self.inner.commit(v, c)
        }
    }
    let store = Arc::new(FlakyStore {
        inner: MemStore::new(),
        broken: false.into(),
    });
    let g = setup_with(store.clone());
    g.grant(
        &admin(),
        &table_grant("111111111111:user/alice", "SELECT", "sales.orders"),
    )
    .unwrap();
    assert!(visible(&g, &alice()).is_ok());
    store
        .broken
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let err = visible(&g, &alice()).unwrap_err();
    assert!(matches!(err, Error::StoreUnavailable(_)), "{err:?}");
}

#[test]
fn decisions_stay_correct_with_many_unrelated_grants() {
    let g = setup();
    for i in 0..300 {
        g.grant(
            &admin(),
            &columns_grant(
                &format!("111111111111:user/u{i}"),
                "sales.orders",
                &["id"],
                false,
            ),
        )
        .unwrap();
    }
    assert!(visible(&g, &alice()).is_err());
    assert_eq!(
        visible(&g, &caller("111111111111:user/u7")).unwrap(),
        ["id"]
    );
}

#[test]
fn masks_are_kept_and_the_most_revealing_wins() {
    let g = setup();
    let mut req = columns_grant(
        "111111111111:user/alice",
        "sales.orders",
        &["id", "email"],
        false,
    );
    req.masks = vec![("email".into(), "last4".into())];
    g.grant(&admin(), &req).unwrap();
    let a = g.effective_access(&alice(), &orders()).unwrap();
    let email = a.columns.iter().find(|c| c.name == "email").unwrap();
    assert_eq!(email.mask, Some(policy_engine::ColumnMask::Last4));
    // A group grant showing email in the clear wins.
    g.grant(
        &admin(),
        &columns_grant(
            "111111111111:group/support",
            "sales.orders",
            &["email"],
            false,
        ),
    )
    .unwrap();
    let mut a2 = alice();
    a2.groups
        .push(Principal::parse("111111111111:group/support").unwrap());
    let a = g.effective_access(&a2, &orders()).unwrap();
    let email = a.columns.iter().find(|c| c.name == "email").unwrap();
    assert_eq!(email.mask, None);
    let _ = BTreeMap::<String, String>::new();
}

#[test]
fn r_regrant_of_describe_never_unmasks() {
    let g = setup();
    let p = "111111111111:user/alice";
    let mut req = table_grant(p, "SELECT", "sales.orders");
    req.masks = vec![("email".into(), "redact".into())];
    g.grant(&admin(), &req).unwrap();
    g.grant(&admin(), &table_grant(p, "DESCRIBE", "sales.orders"))
        .unwrap();
    let a = g.effective_access(&alice(), &orders()).unwrap();
    let email = a.columns.iter().find(|c| c.name == "email").unwrap();
    assert_eq!(email.mask, Some(policy_engine::ColumnMask::Redact));
}

mod filters {
    use super::*;
    use policy_engine::RowPredicate;
    use policy_engine::filters::NewDataFilter;

    fn filter(name: &str, rows: Option<&str>, cols: &[&str]) -> NewDataFilter {
        NewDataFilter {
            name: name.into(),
            row_filter: rows.map(String::from),
            all_rows: rows.is_none(),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            exclude_columns: vec![],
        }
    }

    fn grant_filter(g: &Governance, principal: &str, f: &str) {
        g.grant(
            &admin(),
            &GrantRequest {
                principal: principal.into(),
                permissions: vec!["SELECT".into()],
                grantable: vec![],
                resource: ResourceSpec::DataFilter { name: f.into() },
                masks: vec![],
            },
        )
        .unwrap();
    }

    #[test]
    fn union_of_rows_and_columns_with_cell_rules() {
        let g = setup();
        g.create_data_filter(
            &admin(),
            &filter(
                "sales.orders.eu",
                Some("region = 'EU'"),
                &["id", "region", "email"],
            ),
        )
        .unwrap();
        g.create_data_filter(
            &admin(),
            &filter("sales.orders.big", Some("amount > 100"), &["id", "amount"]),
        )
        .unwrap();
        grant_filter(&g, "111111111111:user/alice", "sales.orders.eu");
        grant_filter(&g, "111111111111:user/alice", "sales.orders.big");
        let a = g.effective_access(&alice(), &orders()).unwrap();
        assert_eq!(
            a.rows,
            RowPredicate::AnyOf(vec![rx("amount > 100"), rx("region = 'EU'")])
        );
        let cols: Vec<_> = a
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.cells.clone()))
            .collect();
        assert_eq!(
            cols,
            vec![
                ("id", None),
                (
                    "region",
                    Some(RowPredicate::AnyOf(vec![rx("region = 'EU'")]))
                ),
                (
                    "amount",
                    Some(RowPredicate::AnyOf(vec![rx("amount > 100")]))
                ),
                (
                    "email",
                    Some(RowPredicate::AnyOf(vec![rx("region = 'EU'")]))
                ),
            ]
        );
    }

    #[test]
    fn an_all_rows_filter_prevails_for_its_columns() {
        let g = setup();
        g.create_data_filter(
            &admin(),
            &filter("sales.orders.eu", Some("region = 'EU'"), &["id", "email"]),
        )
        .unwrap();
        g.create_data_filter(&admin(), &filter("sales.orders.ids", None, &["id"]))
            .unwrap();
        grant_filter(&g, "111111111111:user/alice", "sales.orders.eu");
        grant_filter(&g, "111111111111:user/alice", "sales.orders.ids");
        let a = g.effective_access(&alice(), &orders()).unwrap();
        assert_eq!(a.rows, RowPredicate::All);
        let email = a.columns.iter().find(|c| c.name == "email").unwrap();
        assert_eq!(
            email.cells,
            Some(RowPredicate::AnyOf(vec![rx("region = 'EU'")]))
        );
        let id = a.columns.iter().find(|c| c.name == "id").unwrap();
        assert_eq!(id.cells, None);
    }

    #[test]
    fn attribute_filters_substitute_or_match_nothing() {
        let g = setup();
        g.create_data_filter(
            &admin(),
            &filter(
                "sales.orders.mine",
                Some("region = ${principal.attrs.region}"),
                &[],
            ),
        )
        .unwrap();
        grant_filter(&g, "111111111111:group/sellers", "sales.orders.mine");
        let mut a = alice();
        a.groups
            .push(Principal::parse("111111111111:group/sellers").unwrap());
        let acc = g.effective_access(&a, &orders()).unwrap();
        assert_eq!(
            acc.rows,
            RowPredicate::AnyOf(vec![policy_engine::RowExpr::never()])
        );
        a.attrs.insert("region".into(), "EU".into());
        let acc = g.effective_access(&a, &orders()).unwrap();
        assert_eq!(acc.rows, RowPredicate::AnyOf(vec![rx("region = 'EU'")]));
    }

    #[test]
    fn bad_filters_are_rejected_at_create_time_and_nothing_is_stored() {
        let g = setup();
        for (rows, why) in [
            ("ssn = 1", "column `ssn` is not in the table"),
            ("amount = 'x'", "compared with a string"),
            ("lower(region) = 'eu'", "functions are not allowed"),
            (
                "id IN (SELECT id FROM sales.orders)",
                "subqueries are not allowed",
            ),
        ] {
            let err = g
                .create_data_filter(&admin(), &filter("sales.orders.bad", Some(rows), &[]))
                .unwrap_err();
            assert!(err.to_string().contains(why), "{rows}: {err}");
        }
        assert!(g.list_data_filters(&admin(), None).unwrap().is_empty());
    }

    #[test]
    fn deleting_a_filter_deletes_its_grants() {
        let g = setup();
        g.create_data_filter(
            &admin(),
            &filter("sales.orders.eu", Some("region = 'EU'"), &[]),
        )
        .unwrap();
        grant_filter(&g, "111111111111:user/alice", "sales.orders.eu");
        g.delete_data_filter(&admin(), "sales.orders.eu").unwrap();
        // A new filter with the same name does not inherit the old grant.
        g.create_data_filter(&admin(), &filter("sales.orders.eu", None, &[]))
            .unwrap();
        assert!(g.effective_access(&alice(), &orders()).is_err());
    }
}

mod lftags {
    use super::*;
    use policy_engine::lftags::TagAssignRequest;

    fn assign(
        g: &Governance,
        table: Option<&str>,
        db: Option<&str>,
        cols: &[&str],
        k: &str,
        v: &str,
    ) {
        g.assign_lf_tags(
            &admin(),
            &TagAssignRequest {
                database: db.map(String::from),
                table: table.map(String::from),
                columns: cols.iter().map(|c| c.to_string()).collect(),
                tags: vec![(k.into(), v.into())],
            },
        )
        .unwrap();
    }

    fn tag_grant(principal: &str, perms: &str, tags: &[(&str, &[&str])]) -> GrantRequest {
        GrantRequest {
            principal: principal.into(),
            permissions: perms.split(',').map(String::from).collect(),
            grantable: vec![],
            resource: ResourceSpec::LfTagPolicy {
                resource_type: "TABLE".into(),
                tags: tags
                    .iter()
                    .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                    .collect(),
                account: None,
            },
            masks: vec![],
        }
    }

    fn setup_tags() -> Governance {
        let g = setup();
        g.create_lf_tag(&admin(), "Classification", &["public".into(), "PII".into()])
            .unwrap();
        g.create_lf_tag(&admin(), "team", &["sales".into(), "hr".into()])
            .unwrap();
        g
    }

    #[test]
    fn table_tag_grant_selects_exactly_the_matching_columns() {
        let g = setup_tags();
        assign(&g, None, Some("sales"), &[], "classification", "public");
        assign(
            &g,
            Some("sales.orders"),
            None,
            &["email"],
            "classification",
            "pii",
        );
        g.grant(
            &admin(),
            &tag_grant(
                "111111111111:user/alice",
                "SELECT",
                &[("classification", &["public"])],
            ),
        )
        .unwrap();
        assert_eq!(visible(&g, &alice()).unwrap(), ["id", "region", "amount"]);
        // Re-tagging changes access for the next decision.
        assign(
            &g,
            Some("sales.orders"),
            None,
            &["email"],
            "classification",
            "public",
        );
        assert_eq!(visible(&g, &alice()).unwrap().len(), 4);
    }

    #[test]
    fn override_and_removal_restore_the_inherited_value() {
        let g = setup_tags();
        assign(&g, None, Some("sales"), &[], "classification", "pii");
        g.grant(
            &admin(),
            &tag_grant(
                "111111111111:user/alice",
                "SELECT",
                &[("classification", &["public"])],
            ),
        )
        .unwrap();
        assert!(visible(&g, &alice()).is_err());
        assign(
            &g,
            Some("sales.orders"),
            None,
            &[],
            "classification",
            "public",
        );
        assert_eq!(visible(&g, &alice()).unwrap().len(), 4);
        // Unassigning the table's value restores the database's (pii).
        g.unassign_lf_tags(
            &admin(),
            &TagAssignRequest {
                database: None,
                table: Some("sales.orders".into()),
                columns: vec![],
                tags: vec![("classification".into(), "public".into())],
            },
        )
        .unwrap();
        assert!(visible(&g, &alice()).is_err());
    }

    #[test]
    fn expressions_and_across_keys_or_within_a_key() {
        let g = setup_tags();
        assign(
            &g,
            Some("sales.orders"),
            None,
            &[],
            "classification",
            "public",
        );
        assign(&g, Some("sales.orders"), None, &[], "team", "hr");
        g.grant(
            &admin(),
            &tag_grant(
                "111111111111:user/alice",
                "SELECT",
                &[("classification", &["public", "pii"]), ("team", &["sales"])],
            ),
        )
        .unwrap();
        assert!(
            visible(&g, &alice()).is_err(),
            "team=hr does not match team=sales"
        );
        assign(&g, Some("sales.orders"), None, &["id"], "team", "sales");
        assert_eq!(visible(&g, &alice()).unwrap(), ["id"]);
    }

    #[test]
    fn alter_needs_every_column_to_match() {
        let g = setup_tags();
        assign(
            &g,
            Some("sales.orders"),
            None,
            &[],
            "classification",
            "public",
        );
        assign(
            &g,
            Some("sales.orders"),
            None,
            &["email"],
            "classification",
            "pii",
        );
        g.grant(
            &admin(),
            &tag_grant(
                "111111111111:user/alice",
                "SELECT,ALTER",
                &[("classification", &["public"])],
            ),
        )
        .unwrap();
        let snap = g.snapshot().unwrap();
        let target = policy_engine::Target::Table(AccountId::parse(ACCT).unwrap(), orders());
        let d = g
            .authorize(&snap, &alice(), policy_engine::Permission::Alter, &target)
            .unwrap();
        assert!(!d.allowed);
        assign(
            &g,
            Some("sales.orders"),
            None,
            &["email"],
            "classification",
            "public",
        );
        let snap = g.snapshot().unwrap();
        let d = g
            .authorize(&snap, &alice(), policy_engine::Permission::Alter, &target)
            .unwrap();
        assert!(d.allowed);
    }

    #[test]
    fn bad_tag_input_is_refused() {
        let g = setup_tags();
        let err = g
            .assign_lf_tags(
                &admin(),
                &TagAssignRequest {
                    database: None,
                    table: Some("sales.orders".into()),
                    columns: vec![],
                    tags: vec![
                        ("classification".into(), "public".into()),
                        ("classification".into(), "pii".into()),
                    ],
                },
            )
            .unwrap_err();
        assert!(err.to_string().contains("given twice"), "{err}");
        let err = g
            .assign_lf_tags(
                &admin(),
                &TagAssignRequest {
                    database: Some("sales".into()),
                    table: None,
                    columns: vec![],
                    tags: vec![("classification".into(), "secret".into())],
                },
            )
            .unwrap_err();
        assert!(err.to_string().contains("not a value of LF-tag"), "{err}");
        assign(&g, None, Some("sales"), &[], "classification", "pii");
        let err = g
            .update_lf_tag(&admin(), "classification", &[], &["pii".into()])
            .unwrap_err();
        assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
        let err = g.delete_lf_tag(&admin(), "classification").unwrap_err();
        assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
        let err = g.create_lf_tag(&alice(), "x", &["a".into()]).unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    }
}

mod forbid {
    use super::*;
    use policy_engine::lftags::TagAssignRequest;

    fn apply(g: &Governance, src: &str) {
        g.apply_policies(
            &admin(),
            &[PolicyFile {
                path: "forbid.cedar".into(),
                source: src.into(),
            }],
        )
        .unwrap();
    }

    #[test]
    fn a_forbidden_column_is_hidden_whatever_the_grants() {
        let g = setup();
        g.create_lf_tag(&admin(), "classification", &["pii".into(), "public".into()])
            .unwrap();
        g.assign_lf_tags(
            &admin(),
            &TagAssignRequest {
                database: None,
                table: Some("sales.orders".into()),
                columns: vec!["email".into()],
                tags: vec![("classification".into(), "pii".into())],
            },
        )
        .unwrap();
        g.grant(
            &admin(),
            &table_grant("111111111111:user/alice", "SELECT", "sales.orders"),
        )
        .unwrap();
        apply(
            &g,
            r#"forbid (principal, action == Lakegate::Action::"SELECT", resource is Lakegate::Column)
               when { resource.hasTag("classification") && resource.getTag("classification") == "pii" }
               unless { principal in Lakegate::Group::"111111111111:group/privacy" };"#,
        );
        assert_eq!(visible(&g, &alice()).unwrap(), ["id", "region", "amount"]);
        let mut a = alice();
        a.groups
            .push(Principal::parse("111111111111:group/privacy").unwrap());
        assert_eq!(visible(&g, &a).unwrap().len(), 4);
        // The trail names the forbidding policy.
        let acc = g.effective_access(&alice(), &orders()).unwrap();
        assert!(
            acc.trail
                .iter()
                .any(|t| t.effect == "forbid" && t.source.contains("forbid.cedar")),
            "{:?}",
            acc.trail
        );
    }

    #[test]
    fn a_forbidden_table_is_permission_denied_naming_the_permission_not_the_policy() {
        let g = setup();
        g.grant(
            &admin(),
            &table_grant("111111111111:user/alice", "SELECT", "sales.orders"),
        )
        .unwrap();
        apply(
            &g,
            r#"forbid (principal == Lakegate::User::"111111111111:user/alice", action == Lakegate::Action::"SELECT", resource == Lakegate::Table::"111111111111:sales.orders");"#,
        );
        let err = visible(&g, &alice()).unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
        assert!(err.to_string().contains("SELECT"), "{err}");
        assert!(!err.to_string().contains("forbid.cedar"), "{err}");
    }

    #[test]
    fn one_bad_policy_rejects_the_bundle_and_nothing_changes() {
        let g = setup();
        g.grant(
            &admin(),
            &table_grant("111111111111:user/alice", "SELECT", "sales.orders"),
        )
        .unwrap();
        let err = g
            .apply_policies(
                &admin(),
                &[
                    PolicyFile {
                        path: "a.cedar".into(),
                        source: "forbid (principal, action, resource);".into(),
                    },
                    PolicyFile {
                        path: "b.cedar".into(),
                        source: "forbid (principal, action, resource) when { resource.nope };"
                            .into(),
                    },
                ],
            )
            .unwrap_err();
        assert!(err.to_string().starts_with("b.cedar:1:"), "{err}");
        assert_eq!(visible(&g, &alice()).unwrap().len(), 4);
        assert!(g.list_policies(&admin()).unwrap().is_empty());
    }

    #[test]
    fn another_accounts_policies_do_not_apply() {
        let g = setup();
        g.bootstrap(
            &AccountId::parse("222222222222").unwrap(),
            &[Principal::parse("222222222222:user/root").unwrap()],
        )
        .unwrap();
        g.apply_policies(
            &caller("222222222222:user/root"),
            &[PolicyFile {
                path: "all.cedar".into(),
                source: "forbid (principal, action, resource);".into(),
            }],
        )
        .unwrap();
        g.grant(
            &admin(),
            &table_grant("111111111111:user/alice", "SELECT", "sales.orders"),
        )
        .unwrap();
        assert_eq!(visible(&g, &alice()).unwrap().len(), 4);
    }
}

#[test]
fn tag_grants_carry_masks_by_column_name() {
    let g = setup();
    g.create_lf_tag(&admin(), "team", &["sales".into()])
        .unwrap();
    g.assign_lf_tags(
        &admin(),
        &policy_engine::lftags::TagAssignRequest {
            database: Some("sales".into()),
            table: None,
            columns: vec![],
            tags: vec![("team".into(), "sales".into())],
        },
    )
    .unwrap();
    g.grant(
        &admin(),
        &GrantRequest {
            principal: "111111111111:user/alice".into(),
            permissions: vec!["SELECT".into()],
            grantable: vec![],
            resource: ResourceSpec::LfTagPolicy {
                resource_type: "TABLE".into(),
                tags: vec![("team".into(), vec!["sales".into()])],
                account: None,
            },
            masks: vec![("email".into(), "hash".into())],
        },
    )
    .unwrap();
    let a = g.effective_access(&alice(), &orders()).unwrap();
    let email = a.columns.iter().find(|c| c.name == "email").unwrap();
    assert_eq!(email.mask, Some(policy_engine::ColumnMask::Hash));
    let id = a.columns.iter().find(|c| c.name == "id").unwrap();
    assert_eq!(id.mask, None);
}
