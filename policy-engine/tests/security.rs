//! Regression tests for the security classes of issue 8 that live in the
//! governance API: masks kept through the grant option (item 3), tag
//! assignment needing rights on the resource (item 4), and admin commands
//! authorizing before they validate (item 7). Each test is named after its
//! class.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a panic is a failed test, and test items are not API"
)]

use std::sync::Arc;

use policy_engine::lftags::TagAssignRequest;
use policy_engine::model::{AccountId, Column, ColumnMask, Format, PolicyFile, TableName};
use policy_engine::{
    Caller, Error, Governance, GrantRequest, MemStore, NewTable, Principal, ResourceSpec,
};

const ACCT: &str = "111111111111";
const ALICE: &str = "111111111111:user/alice";
const BOB: &str = "111111111111:user/bob";
const ANALYSTS: &str = "111111111111:group/analysts";

fn caller(p: &str) -> Caller {
    Caller::new(Principal::parse(p).unwrap())
}
fn admin() -> Caller {
    caller("111111111111:user/admin")
}
fn alice() -> Caller {
    caller(ALICE)
}
fn alice_in(group: &str) -> Caller {
    let mut c = alice();
    c.groups.push(Principal::parse(group).unwrap());
    c
}
fn bob() -> Caller {
    caller(BOB)
}

fn col(name: &str, ty: &str) -> Column {
    Column {
        name: name.into(),
        data_type: ty.into(),
        partition: false,
    }
}

fn setup() -> Governance {
    let g = Governance::new(Arc::new(MemStore::new())).unwrap();
    g.bootstrap(
        &AccountId::parse(ACCT).unwrap(),
        &[Principal::parse("111111111111:user/admin").unwrap()],
    )
    .unwrap();
    g.register_location(&admin(), "file:///data/").unwrap();
    g.create_database(&admin(), "sales", Some("file:///data/sales/"))
        .unwrap();
    g.create_table(
        &admin(),
        &NewTable {
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
        },
    )
    .unwrap();
    g
}

fn orders() -> TableName {
    TableName::parse("sales.orders").unwrap()
}

fn table_grant(principal: &str, perms: &str) -> GrantRequest {
    GrantRequest {
        principal: principal.into(),
        permissions: perms.split(',').map(String::from).collect(),
        grantable: vec![],
        resource: ResourceSpec::Table {
            name: "sales.orders".into(),
            columns: vec![],
            exclude_columns: vec![],
        },
        masks: vec![],
    }
}

fn columns_grant(principal: &str, cols: &[&str]) -> GrantRequest {
    GrantRequest {
        principal: principal.into(),
        permissions: vec!["SELECT".into()],
        grantable: vec![],
        resource: ResourceSpec::Table {
            name: "sales.orders".into(),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            exclude_columns: vec![],
        },
        masks: vec![],
    }
}

fn with_masks(mut r: GrantRequest, masks: &[(&str, &str)]) -> GrantRequest {
    r.masks = masks
        .iter()
        .map(|(c, m)| (c.to_string(), m.to_string()))
        .collect();
    r
}

fn grantable(mut r: GrantRequest) -> GrantRequest {
    r.grantable = vec!["SELECT".into()];
    r
}

fn mask_of(g: &Governance, c: &Caller, column: &str) -> Option<ColumnMask> {
    let a = g.effective_access(c, &orders()).unwrap();
    a.columns
        .into_iter()
        .find(|x| x.name == column)
        .unwrap_or_else(|| panic!("{column} not visible"))
        .mask
}

fn visible(g: &Governance, c: &Caller) -> Vec<String> {
    g.effective_access(c, &orders())
        .map(|a| a.columns.into_iter().map(|c| c.name).collect())
        .unwrap_or_default()
}

fn apply_forbid(g: &Governance, src: &str) {
    g.apply_policies(
        &admin(),
        &[PolicyFile {
            path: "forbid.cedar".into(),
            source: src.into(),
        }],
    )
    .unwrap();
}

/// Hides columns tagged `classification=pii` from everyone but group privacy.
const FORBID_PII: &str = r#"forbid (principal, action == Lakegate::Action::"SELECT", resource is Lakegate::Column)
   when { resource.hasTag("classification") && resource.getTag("classification") == "pii" }
   unless { principal in Lakegate::Group::"111111111111:group/privacy" };"#;

fn tag(g: &Governance, req: TagAssignRequest) {
    g.assign_lf_tags(&admin(), &req).unwrap();
}

fn on_columns(cols: &[&str], key: &str, value: &str) -> TagAssignRequest {
    TagAssignRequest {
        database: None,
        table: Some("sales.orders".into()),
        columns: cols.iter().map(|c| c.to_string()).collect(),
        tags: vec![(key.into(), value.into())],
    }
}

// ---------------------------------------------------------------------------
// Item 3: masks are kept through the grant option.

#[test]
fn grant_option_keeps_masks_on_a_column_regrant() {
    let g = setup();
    g.grant(
        &admin(),
        &grantable(with_masks(
            columns_grant(ALICE, &["id", "email"]),
            &[("email", "hash")],
        )),
    )
    .unwrap();
    // Re-granted without a mask: the grantor's mask travels.
    let out = g
        .grant(&alice(), &columns_grant(BOB, &["id", "email"]))
        .unwrap();
    assert_eq!(out.masks.get("email"), Some(&ColumnMask::Hash));
    assert_eq!(mask_of(&g, &bob(), "email"), Some(ColumnMask::Hash));
    assert_eq!(mask_of(&g, &bob(), "id"), None);
}

#[test]
fn grant_option_keeps_masks_refuses_a_weaker_mask_and_allows_a_stronger_one() {
    let g = setup();
    g.grant(
        &admin(),
        &grantable(with_masks(
            columns_grant(ALICE, &["id", "email"]),
            &[("email", "hash")],
        )),
    )
    .unwrap();
    for weaker in ["last4", "expr:upper(email)"] {
        let err = g
            .grant(
                &alice(),
                &with_masks(columns_grant(BOB, &["email"]), &[("email", weaker)]),
            )
            .unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
        assert!(err.to_string().contains("masked as `hash`"), "{err}");
    }
    assert!(visible(&g, &bob()).is_empty(), "nothing half-applied");
    g.grant(
        &alice(),
        &with_masks(columns_grant(BOB, &["email"]), &[("email", "redact")]),
    )
    .unwrap();
    assert_eq!(mask_of(&g, &bob(), "email"), Some(ColumnMask::Redact));
}

#[test]
fn grant_option_keeps_masks_on_a_table_regrant_and_ignores_clear_non_grantable_grants() {
    let g = setup();
    // Alice sees email in the clear through her group, but may pass it on
    // only masked.
    g.grant(&admin(), &table_grant(ANALYSTS, "SELECT")).unwrap();
    g.grant(
        &admin(),
        &grantable(with_masks(
            table_grant(ALICE, "SELECT"),
            &[("email", "last4")],
        )),
    )
    .unwrap();
    let a = alice_in(ANALYSTS);
    assert_eq!(mask_of(&g, &a, "email"), None);
    g.grant(&a, &table_grant(BOB, "SELECT")).unwrap();
    assert_eq!(mask_of(&g, &bob(), "email"), Some(ColumnMask::Last4));
    // An expression mask the grantor holds may be replaced only by itself or
    // a fixed mask.
    let g = setup();
    g.grant(
        &admin(),
        &grantable(with_masks(
            table_grant(ALICE, "SELECT"),
            &[("email", "expr:lower(email)")],
        )),
    )
    .unwrap();
    let err = g
        .grant(
            &alice(),
            &with_masks(table_grant(BOB, "SELECT"), &[("email", "expr:email")]),
        )
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    g.grant(
        &alice(),
        &with_masks(table_grant(BOB, "SELECT"), &[("email", "last4")]),
    )
    .unwrap();
    assert_eq!(mask_of(&g, &bob(), "email"), Some(ColumnMask::Last4));
}

#[test]
fn grant_option_keeps_masks_when_the_option_comes_from_a_group() {
    let g = setup();
    g.grant(
        &admin(),
        &grantable(with_masks(
            columns_grant(ANALYSTS, &["id", "email"]),
            &[("email", "redact")],
        )),
    )
    .unwrap();
    g.grant(&alice_in(ANALYSTS), &columns_grant(BOB, &["email"]))
        .unwrap();
    assert_eq!(mask_of(&g, &bob(), "email"), Some(ColumnMask::Redact));
}

#[test]
fn grant_option_keeps_masks_refuses_changing_ones_own_grants() {
    let g = setup();
    g.grant(
        &admin(),
        &grantable(with_masks(
            table_grant(ALICE, "SELECT"),
            &[("email", "null")],
        )),
    )
    .unwrap();
    // Re-granting to herself would replace her grant and drop the mask.
    for req in [
        table_grant(ALICE, "SELECT"),
        columns_grant(ALICE, &["email"]),
    ] {
        let err = g.grant(&alice(), &req).unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
        assert!(err.to_string().contains("its own grants"), "{err}");
        assert!(err.to_string().contains("ask a data lake admin"), "{err}");
    }
    let err = g
        .revoke(&alice(), &table_grant(ALICE, "SELECT"))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    // Nor to a group she belongs to.
    let err = g
        .grant(&alice_in(ANALYSTS), &table_grant(ANALYSTS, "SELECT"))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(err.to_string().contains("belongs to"), "{err}");
    assert_eq!(mask_of(&g, &alice(), "email"), Some(ColumnMask::Null));
    // An admin may grant to itself.
    g.grant(&admin(), &table_grant("111111111111:user/admin", "SELECT"))
        .unwrap();
}

#[test]
fn grant_option_keeps_masks_through_tag_expression_grants() {
    let g = setup();
    g.create_lf_tag(&admin(), "team", &["sales".into(), "ops".into()])
        .unwrap();
    tag(
        &g,
        TagAssignRequest {
            database: Some("sales".into()),
            table: None,
            columns: vec![],
            tags: vec![("team".into(), "sales".into())],
        },
    );
    let tag_grant = |p: &str, masks: &[(&str, &str)]| {
        with_masks(
            GrantRequest {
                principal: p.into(),
                permissions: vec!["SELECT".into()],
                grantable: vec![],
                resource: ResourceSpec::LfTagPolicy {
                    resource_type: "TABLE".into(),
                    tags: vec![("team".into(), vec!["sales".into()])],
                    account: None,
                },
                masks: vec![],
            },
            masks,
        )
    };
    g.grant(&admin(), &grantable(tag_grant(ALICE, &[("email", "hash")])))
        .unwrap();
    let err = g
        .grant(&alice(), &tag_grant(BOB, &[("email", "last4")]))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    let out = g.grant(&alice(), &tag_grant(BOB, &[])).unwrap();
    assert_eq!(out.masks.get("email"), Some(&ColumnMask::Hash));
    assert_eq!(mask_of(&g, &bob(), "email"), Some(ColumnMask::Hash));
}

#[test]
fn grant_option_keeps_masks_a_forbid_hidden_column_is_not_regranted() {
    let g = setup();
    g.create_lf_tag(&admin(), "classification", &["pii".into(), "public".into()])
        .unwrap();
    tag(&g, on_columns(&["email"], "classification", "pii"));
    g.grant(&admin(), &grantable(table_grant(ALICE, "SELECT")))
        .unwrap();
    apply_forbid(&g, FORBID_PII);
    assert_eq!(visible(&g, &alice()), ["id", "region", "amount"]);
    // The whole table would pass on the column hidden from her.
    let err = g.grant(&alice(), &table_grant(BOB, "SELECT")).unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(!err.to_string().contains("email"), "{err}");
    // Naming it fails as for a column that does not exist.
    let hidden = g
        .grant(&alice(), &columns_grant(BOB, &["email"]))
        .unwrap_err();
    let missing = g
        .grant(&alice(), &columns_grant(BOB, &["nosuch"]))
        .unwrap_err();
    assert_eq!(
        hidden.to_string().replace("email", "X"),
        missing.to_string().replace("nosuch", "X")
    );
    g.grant(&alice(), &columns_grant(BOB, &["id", "amount"]))
        .unwrap();
    assert_eq!(visible(&g, &bob()), ["id", "amount"]);
}

fn filter_grant(principal: &str, name: &str) -> GrantRequest {
    GrantRequest {
        principal: principal.into(),
        permissions: vec!["SELECT".into()],
        grantable: vec![],
        resource: ResourceSpec::DataFilter { name: name.into() },
        masks: vec![],
    }
}

#[test]
fn grant_option_keeps_masks_a_data_filter_cannot_unmask_a_column() {
    let g = setup();
    g.grant(
        &admin(),
        &grantable(with_masks(
            table_grant(ALICE, "SELECT"),
            &[("email", "hash")],
        )),
    )
    .unwrap();
    // Alice may create filters (SELECT with the grant option on the table),
    // but filters carry no masks: one showing email may not be passed on.
    g.create_data_filter(
        &alice(),
        &data_filter("sales.orders.eu", Some("region = 'EU'"), &[]),
    )
    .unwrap();
    let err = g
        .grant(&alice(), &filter_grant(BOB, "sales.orders.eu"))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(err.to_string().contains("masked as `hash`"), "{err}");
    assert!(visible(&g, &bob()).is_empty());
    g.create_data_filter(
        &alice(),
        &data_filter("sales.orders.ids", Some("region = 'EU'"), &["id", "region"]),
    )
    .unwrap();
    g.grant(&alice(), &filter_grant(BOB, "sales.orders.ids"))
        .unwrap();
    assert_eq!(visible(&g, &bob()), ["id", "region"]);
    // A filter an admin granted with the grant option may be passed on.
    let mut direct = filter_grant(ALICE, "sales.orders.eu");
    direct.grantable = vec!["SELECT".into()];
    g.grant(&admin(), &direct).unwrap();
    g.grant(&alice(), &filter_grant(BOB, "sales.orders.eu"))
        .unwrap();
}

#[test]
fn grant_option_keeps_masks_a_filter_made_by_a_grantor_covers_only_what_it_sees() {
    let g = setup();
    g.create_lf_tag(&admin(), "classification", &["pii".into()])
        .unwrap();
    tag(&g, on_columns(&["email"], "classification", "pii"));
    g.grant(&admin(), &grantable(table_grant(ALICE, "SELECT")))
        .unwrap();
    apply_forbid(&g, FORBID_PII);
    let f = g
        .create_data_filter(&alice(), &data_filter("sales.orders.all", None, &[]))
        .unwrap();
    assert_eq!(
        f.columns,
        policy_engine::model::ColumnSelection::Include(
            ["id", "region", "amount"]
                .iter()
                .map(|c| c.to_string())
                .collect()
        )
    );
}

// ---------------------------------------------------------------------------
// Item 4: assigning a tag needs rights on the resource, not only ASSOCIATE.

fn grant_associate(g: &Governance, principal: &str, key: &str, values: &[&str]) {
    g.grant(
        &admin(),
        &GrantRequest {
            principal: principal.into(),
            permissions: vec!["ASSOCIATE".into()],
            grantable: vec![],
            resource: ResourceSpec::LfTag {
                key: key.into(),
                values: values.iter().map(|v| v.to_string()).collect(),
            },
            masks: vec![],
        },
    )
    .unwrap();
}

fn on_database(db: &str, key: &str, value: &str) -> TagAssignRequest {
    TagAssignRequest {
        database: Some(db.into()),
        table: None,
        columns: vec![],
        tags: vec![(key.into(), value.into())],
    }
}

fn on_table(key: &str, value: &str) -> TagAssignRequest {
    on_columns(&[], key, value)
}

fn tag_grant_select(principal: &str, key: &str, value: &str) -> GrantRequest {
    GrantRequest {
        principal: principal.into(),
        permissions: vec!["SELECT".into()],
        grantable: vec![],
        resource: ResourceSpec::LfTagPolicy {
            resource_type: "TABLE".into(),
            tags: vec![(key.into(), vec![value.into()])],
            account: None,
        },
        masks: vec![],
    }
}

#[test]
fn tag_assign_needs_resource_rights_associate_and_a_tag_grant_do_not_open_a_database() {
    let g = setup();
    g.create_lf_tag(&admin(), "team", &["sales".into(), "ops".into()])
        .unwrap();
    grant_associate(&g, ALICE, "team", &["ops"]);
    g.grant(&admin(), &tag_grant_select(ALICE, "team", "ops"))
        .unwrap();
    // Alice cannot describe `sales`: it reads exactly like a missing database.
    let hidden = g
        .assign_lf_tags(&alice(), &on_database("sales", "team", "ops"))
        .unwrap_err();
    let missing = g
        .assign_lf_tags(&alice(), &on_database("nope", "team", "ops"))
        .unwrap_err();
    assert!(matches!(hidden, Error::InvalidArgument(_)), "{hidden:?}");
    assert_eq!(
        hidden.to_string().replace("sales", "X"),
        missing.to_string().replace("nope", "X")
    );
    // The same for a table, and for unassign.
    let hidden = g
        .unassign_lf_tags(&alice(), &on_table("team", "ops"))
        .unwrap_err();
    let mut req = on_table("team", "ops");
    req.table = Some("sales.nope".into());
    let missing = g.unassign_lf_tags(&alice(), &req).unwrap_err();
    assert_eq!(
        hidden.to_string().replace("sales.orders", "X"),
        missing.to_string().replace("sales.nope", "X")
    );
    assert!(visible(&g, &alice()).is_empty(), "no data gained");
}

#[test]
fn tag_assign_needs_resource_rights_with_the_grant_option() {
    let g = setup();
    g.create_lf_tag(&admin(), "team", &["sales".into(), "ops".into()])
        .unwrap();
    grant_associate(&g, ALICE, "team", &["ops", "sales"]);
    // DESCRIBE (and even everything) without the grant option: denied,
    // naming what is missing.
    g.grant(
        &admin(),
        &table_grant(ALICE, "DESCRIBE,ALTER,DROP,INSERT,SELECT,DELETE"),
    )
    .unwrap();
    let err = g
        .assign_lf_tags(&alice(), &on_table("team", "ops"))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(err.to_string().contains("grant option"), "{err}");
    assert!(err.to_string().contains("DELETE"), "{err}");
    // All of them with the grant option but one: still denied (the rule
    // needs all of the listed permissions), naming the missing one.
    let mut r = table_grant(ALICE, "DESCRIBE,ALTER,DROP,INSERT,SELECT");
    r.grantable = r.permissions.clone();
    g.grant(&admin(), &r).unwrap();
    let err = g
        .assign_lf_tags(&alice(), &on_table("team", "ops"))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(err.to_string().contains("lacks DELETE"), "{err}");
    // With every one of them grantable: allowed, on the table and its columns.
    let mut r = table_grant(ALICE, "DELETE");
    r.grantable = r.permissions.clone();
    g.grant(&admin(), &r).unwrap();
    g.assign_lf_tags(&alice(), &on_table("team", "ops"))
        .unwrap();
    g.assign_lf_tags(&alice(), &on_columns(&["id"], "team", "sales"))
        .unwrap();
    // But not on the database, where she holds nothing grantable.
    let err = g
        .assign_lf_tags(&alice(), &on_database("sales", "team", "ops"))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
}

#[test]
fn tag_assign_needs_resource_rights_an_owner_may() {
    let g = setup();
    g.create_lf_tag(&admin(), "team", &["sales".into()])
        .unwrap();
    grant_associate(&g, BOB, "team", &["sales"]);
    g.grant(
        &admin(),
        &GrantRequest {
            principal: BOB.into(),
            permissions: vec!["CREATE_DATABASE".into()],
            grantable: vec![],
            resource: ResourceSpec::Catalog,
            masks: vec![],
        },
    )
    .unwrap();
    g.create_database(&bob(), "hr", None).unwrap();
    g.assign_lf_tags(&bob(), &on_database("hr", "team", "sales"))
        .unwrap();
}

#[test]
fn tag_assign_needs_resource_rights_replacing_or_removing_needs_associate_on_the_old_value() {
    let g = setup();
    g.create_lf_tag(&admin(), "classification", &["pii".into(), "public".into()])
        .unwrap();
    tag(&g, on_columns(&["email"], "classification", "pii"));
    let mut all = table_grant(ALICE, "ALL");
    all.grantable = vec!["ALL".into()];
    g.grant(&admin(), &all).unwrap();
    grant_associate(&g, ALICE, "classification", &["public"]);
    let err = g
        .assign_lf_tags(
            &alice(),
            &on_columns(&["email"], "classification", "public"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(err.to_string().contains("classification=pii"), "{err}");
    let err = g
        .unassign_lf_tags(&alice(), &on_columns(&["email"], "classification", "pii"))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    // Adding a value where none was assigned needs ASSOCIATE on it only.
    g.assign_lf_tags(&alice(), &on_columns(&["id"], "classification", "public"))
        .unwrap();
    grant_associate(&g, ALICE, "classification", &["pii", "public"]);
    g.assign_lf_tags(
        &alice(),
        &on_columns(&["email"], "classification", "public"),
    )
    .unwrap();
}

#[test]
fn tag_assign_needs_resource_rights_a_forbid_cannot_be_defeated_by_retagging() {
    let g = setup();
    g.create_lf_tag(&admin(), "classification", &["pii".into(), "public".into()])
        .unwrap();
    tag(&g, on_columns(&["email"], "classification", "pii"));
    let mut all = table_grant(ALICE, "ALL");
    all.grantable = vec!["ALL".into()];
    g.grant(&admin(), &all).unwrap();
    grant_associate(&g, ALICE, "classification", &["pii", "public"]);
    apply_forbid(&g, FORBID_PII);
    assert_eq!(visible(&g, &alice()), ["id", "region", "amount"]);
    // The hidden column does not exist for her.
    let hidden = g
        .assign_lf_tags(
            &alice(),
            &on_columns(&["email"], "classification", "public"),
        )
        .unwrap_err();
    let missing = g
        .assign_lf_tags(
            &alice(),
            &on_columns(&["nosuch"], "classification", "public"),
        )
        .unwrap_err();
    assert!(matches!(hidden, Error::InvalidArgument(_)), "{hidden:?}");
    assert_eq!(
        hidden.to_string().replace("email", "X"),
        missing.to_string().replace("nosuch", "X")
    );
    assert!(!missing.to_string().contains("email"), "{missing}");
    for req in [
        on_columns(&["email"], "classification", "pii"),
        on_columns(&["email"], "classification", "public"),
    ] {
        g.unassign_lf_tags(&alice(), &req).unwrap_err();
    }
    // Nor may the table or database around it be re-tagged.
    let err = g
        .assign_lf_tags(&alice(), &on_table("classification", "public"))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert_eq!(visible(&g, &alice()), ["id", "region", "amount"]);
}

// ---------------------------------------------------------------------------
// Item 7: admin commands authorize before they validate.

fn describe_only(g: &Governance, principal: &str) {
    g.grant(&admin(), &table_grant(principal, "DESCRIBE"))
        .unwrap();
}

fn data_filter(
    name: &str,
    rows: Option<&str>,
    cols: &[&str],
) -> policy_engine::filters::NewDataFilter {
    policy_engine::filters::NewDataFilter {
        name: name.into(),
        row_filter: rows.map(String::from),
        all_rows: rows.is_none(),
        columns: cols.iter().map(|c| c.to_string()).collect(),
        exclude_columns: vec![],
    }
}

/// Asserts two errors are the same kind and read the same once the two
/// names are replaced, and that neither lists another column of the table.
#[track_caller]
fn same_error(existing: &Error, existing_name: &str, missing: &Error, missing_name: &str) {
    assert_eq!(
        std::mem::discriminant(existing),
        std::mem::discriminant(missing),
        "{existing:?} vs {missing:?}"
    );
    assert_eq!(
        existing.to_string().replace(existing_name, "X"),
        missing.to_string().replace(missing_name, "X")
    );
}

#[test]
fn admin_errors_authorize_first_lf_tag_assign_columns() {
    let g = setup();
    g.create_lf_tag(&admin(), "team", &["sales".into()])
        .unwrap();
    grant_associate(&g, ALICE, "team", &["sales"]);
    describe_only(&g, ALICE);
    let existing = g
        .assign_lf_tags(&alice(), &on_columns(&["email"], "team", "sales"))
        .unwrap_err();
    let missing = g
        .assign_lf_tags(&alice(), &on_columns(&["nosuch"], "team", "sales"))
        .unwrap_err();
    same_error(&existing, "email", &missing, "nosuch");
    assert!(matches!(missing, Error::PermissionDenied(_)), "{missing:?}");
    for c in ["region", "amount", "email"] {
        assert!(!missing.to_string().contains(c), "{missing}");
    }
}

#[test]
fn admin_errors_authorize_first_grant_mask() {
    let g = setup();
    describe_only(&g, ALICE);
    // No grant option at all: denied before the mask column is looked at.
    let req = |c: &str| with_masks(table_grant(BOB, "SELECT"), &[(c, "hash")]);
    let existing = g.grant(&alice(), &req("email")).unwrap_err();
    let missing = g.grant(&alice(), &req("nosuch")).unwrap_err();
    same_error(&existing, "email", &missing, "nosuch");
    assert!(matches!(missing, Error::PermissionDenied(_)), "{missing:?}");
    assert!(!missing.to_string().contains("amount"), "{missing}");
    // A grant option on some columns: the others do not exist for her.
    g.grant(
        &admin(),
        &grantable(columns_grant(ALICE, &["id", "region"])),
    )
    .unwrap();
    let req = |c: &str| with_masks(columns_grant(BOB, &["id"]), &[(c, "hash")]);
    let existing = g.grant(&alice(), &req("email")).unwrap_err();
    let missing = g.grant(&alice(), &req("nosuch")).unwrap_err();
    same_error(&existing, "email", &missing, "nosuch");
    assert!(!missing.to_string().contains("amount"), "{missing}");
    // And a column list naming a hidden column reads like a missing one.
    let existing = g
        .grant(&alice(), &columns_grant(BOB, &["id", "email"]))
        .unwrap_err();
    let missing = g
        .grant(&alice(), &columns_grant(BOB, &["id", "nosuch"]))
        .unwrap_err();
    same_error(&existing, "email", &missing, "nosuch");
}

#[test]
fn admin_errors_authorize_first_data_filter_create_on_a_forbid_hidden_column() {
    let g = setup();
    g.create_lf_tag(&admin(), "classification", &["pii".into()])
        .unwrap();
    tag(&g, on_columns(&["email"], "classification", "pii"));
    g.grant(&admin(), &grantable(table_grant(ALICE, "SELECT")))
        .unwrap();
    apply_forbid(&g, FORBID_PII);
    for (hidden, missing) in [
        (
            data_filter("sales.orders.f", None, &["id", "email"]),
            data_filter("sales.orders.f", None, &["id", "nosuch"]),
        ),
        (
            data_filter("sales.orders.f", Some("email = 'x'"), &[]),
            data_filter("sales.orders.f", Some("nosuch = 'x'"), &[]),
        ),
    ] {
        let e1 = g.create_data_filter(&alice(), &hidden).unwrap_err();
        let e2 = g.create_data_filter(&alice(), &missing).unwrap_err();
        same_error(&e1, "email", &e2, "nosuch");
        assert!(!e2.to_string().contains("email"), "{e2}");
    }
    // Someone without the right learns nothing about columns either.
    describe_only(&g, BOB);
    let e1 = g
        .create_data_filter(&bob(), &data_filter("sales.orders.f", None, &["email"]))
        .unwrap_err();
    let e2 = g
        .create_data_filter(&bob(), &data_filter("sales.orders.f", None, &["nosuch"]))
        .unwrap_err();
    same_error(&e1, "email", &e2, "nosuch");
    assert!(matches!(e1, Error::PermissionDenied(_)), "{e1:?}");
}

#[test]
fn admin_errors_authorize_first_another_principals_data_filter() {
    let g = setup();
    g.create_data_filter(
        &admin(),
        &data_filter("sales.orders.eu", Some("region = 'EU'"), &[]),
    )
    .unwrap();
    // Alice sees the table through a column grant, which covers none of its
    // filters (DESCRIBE on the table would).
    g.grant(&admin(), &columns_grant(ALICE, &["id"])).unwrap();
    let existing = g
        .delete_data_filter(&alice(), "sales.orders.eu")
        .unwrap_err();
    let missing = g
        .delete_data_filter(&alice(), "sales.orders.nope")
        .unwrap_err();
    same_error(&existing, "eu", &missing, "nope");
    let filter_grant = |f: &str| GrantRequest {
        principal: BOB.into(),
        permissions: vec!["SELECT".into()],
        grantable: vec![],
        resource: ResourceSpec::DataFilter {
            name: format!("sales.orders.{f}"),
        },
        masks: vec![],
    };
    let existing = g.grant(&alice(), &filter_grant("eu")).unwrap_err();
    let missing = g.grant(&alice(), &filter_grant("nope")).unwrap_err();
    same_error(&existing, "eu", &missing, "nope");
    let existing = g.revoke(&alice(), &filter_grant("eu")).unwrap_err();
    let missing = g.revoke(&alice(), &filter_grant("nope")).unwrap_err();
    same_error(&existing, "eu", &missing, "nope");
    assert!(g.list_data_filters(&alice(), None).unwrap().is_empty());
    // Someone who may see the filter is told which permission it lacks.
    g.grant(
        &admin(),
        &GrantRequest {
            principal: BOB.into(),
            permissions: vec!["SELECT".into()],
            grantable: vec![],
            resource: ResourceSpec::DataFilter {
                name: "sales.orders.eu".into(),
            },
            masks: vec![],
        },
    )
    .unwrap();
    let err = g.delete_data_filter(&bob(), "sales.orders.eu").unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(err.to_string().contains("DROP"), "{err}");
}

#[test]
fn admin_errors_authorize_first_locations() {
    let g = setup();
    let loc = |uri: &str| GrantRequest {
        principal: BOB.into(),
        permissions: vec!["DATA_LOCATION_ACCESS".into()],
        grantable: vec![],
        resource: ResourceSpec::Location { uri: uri.into() },
        masks: vec![],
    };
    let existing = g.grant(&alice(), &loc("file:///data/x/")).unwrap_err();
    let missing = g.grant(&alice(), &loc("file:///elsewhere/x/")).unwrap_err();
    same_error(
        &existing,
        "file:///data/x/",
        &missing,
        "file:///elsewhere/x/",
    );
    assert!(matches!(missing, Error::PermissionDenied(_)), "{missing:?}");
    // table create: CREATE_TABLE on a database without a location, but no
    // DATA_LOCATION_ACCESS: registered or not reads the same.
    g.create_database(&admin(), "scratch", None).unwrap();
    g.grant(
        &admin(),
        &GrantRequest {
            principal: ALICE.into(),
            permissions: vec!["CREATE_TABLE".into()],
            grantable: vec![],
            resource: ResourceSpec::Database {
                name: "scratch".into(),
            },
            masks: vec![],
        },
    )
    .unwrap();
    let existing = g
        .check_create_table(&alice(), "scratch.t", "file:///data/x/")
        .unwrap_err();
    let missing = g
        .check_create_table(&alice(), "scratch.t", "file:///elsewhere/x/")
        .unwrap_err();
    same_error(
        &existing,
        "file:///data/x/",
        &missing,
        "file:///elsewhere/x/",
    );
    assert!(
        existing.to_string().contains("DATA_LOCATION_ACCESS"),
        "{existing}"
    );
}

#[test]
fn admin_errors_authorize_first_denials_name_the_permission_not_the_policy() {
    let g = setup();
    g.grant(&admin(), &table_grant(ALICE, "SELECT")).unwrap();
    apply_forbid(
        &g,
        r#"forbid (principal == Lakegate::User::"111111111111:user/alice", action == Lakegate::Action::"SELECT", resource == Lakegate::Table::"111111111111:sales.orders");"#,
    );
    let err = g.effective_access(&alice(), &orders()).unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(err.to_string().contains("SELECT"), "{err}");
    assert!(!err.to_string().contains("forbid.cedar"), "{err}");
    assert!(!err.to_string().contains('#'), "{err}");
}

#[test]
fn admin_errors_authorize_first_explain_hides_forbidden_columns_from_non_admins() {
    let g = setup();
    g.create_lf_tag(&admin(), "classification", &["pii".into()])
        .unwrap();
    tag(&g, on_columns(&["email"], "classification", "pii"));
    g.grant(&admin(), &table_grant(ALICE, "SELECT")).unwrap();
    apply_forbid(&g, FORBID_PII);
    let sql = "SELECT id FROM sales.orders";
    let mine = g.explain(&alice(), &alice(), sql).unwrap();
    let text = format!("{:?}", mine.tables[0].trail);
    assert!(!text.contains("email"), "{text}");
    assert!(!text.contains("forbid.cedar"), "{text}");
    let admins = g.explain(&admin(), &alice(), sql).unwrap();
    let text = format!("{:?}", admins.tables[0].trail);
    assert!(text.contains("forbid.cedar"), "{text}");
}

#[test]
fn admin_errors_authorize_first_policy_apply() {
    let g = setup();
    let err = g
        .apply_policies(
            &alice(),
            &[PolicyFile {
                path: "bad.cedar".into(),
                source: "forbid (principal, action, resource) when { resource.nope };".into(),
            }],
        )
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(!err.to_string().contains("bad.cedar"), "{err}");
}

#[test]
fn another_accounts_group_in_a_callers_groups_grants_nothing() {
    // A caller of account 222222222222 that claims a group of account
    // 111111111111 (the library API does not check where the groups came
    // from) gets nothing from that group's grants.
    let g = setup();
    g.bootstrap(
        &AccountId::parse("222222222222").unwrap(),
        &[Principal::parse("222222222222:user/admin").unwrap()],
    )
    .unwrap();
    g.grant(
        &admin(),
        &table_grant("111111111111:group/analysts", "SELECT"),
    )
    .unwrap();
    // The table is shared with 222222222222, so only the caller's own
    // grants stand between it and the data.
    g.grant(&admin(), &grantable(table_grant("222222222222", "SELECT")))
        .unwrap();
    assert!(!visible(&g, &alice_in("111111111111:group/analysts")).is_empty());
    let mut intruder = caller("222222222222:user/mallory");
    intruder
        .groups
        .push(Principal::parse("111111111111:group/analysts").unwrap());
    let got = g.effective_access_in(&intruder, &AccountId::parse(ACCT).unwrap(), &orders());
    assert!(got.is_err(), "{got:?}");
}

#[test]
fn a_filter_granted_to_nobody_does_not_unmask_a_table_grant() {
    // A table-level grant masks email; an all-rows filter over every column
    // exists on the table (granted to someone else, or to nobody). The
    // table grant must not reach the filter: email stays masked.
    let g = setup();
    g.grant(
        &admin(),
        &with_masks(table_grant(ALICE, "SELECT"), &[("email", "hash")]),
    )
    .unwrap();
    g.create_data_filter(&admin(), &data_filter("sales.orders.all", None, &[]))
        .unwrap();
    assert_eq!(mask_of(&g, &alice(), "email"), Some(ColumnMask::Hash));
    g.grant(&admin(), &filter_grant(BOB, "sales.orders.all"))
        .unwrap();
    assert_eq!(mask_of(&g, &alice(), "email"), Some(ColumnMask::Hash));
    assert_eq!(mask_of(&g, &bob(), "email"), None);
}

#[test]
fn a_receiving_accounts_re_grant_neither_pins_nor_names_itself_in_the_owners_tags() {
    // B's admin re-grants a tag expression A shares; once A revokes the
    // share, A may remove the value, and no error names B's principals.
    let g = setup();
    let b_admin = caller("222222222222:user/admin");
    g.bootstrap(
        &AccountId::parse("222222222222").unwrap(),
        std::slice::from_ref(&b_admin.principal),
    )
    .unwrap();
    g.create_lf_tag(&admin(), "classification", &["public".into(), "pii".into()])
        .unwrap();
    tag(&g, on_columns(&["email"], "classification", "public"));
    let expr = |principal: &str, account: Option<&str>| GrantRequest {
        principal: principal.into(),
        permissions: vec!["SELECT".into()],
        grantable: if account.is_none() {
            vec!["SELECT".into()]
        } else {
            vec![]
        },
        resource: ResourceSpec::LfTagPolicy {
            resource_type: "TABLE".into(),
            tags: vec![("classification".into(), vec!["public".into()])],
            account: account.map(String::from),
        },
        masks: vec![],
    };
    g.grant(&admin(), &expr("222222222222", None)).unwrap();
    g.grant(&b_admin, &expr("222222222222:user/carol", Some(ACCT)))
        .unwrap();
    let mut share = expr("222222222222", None);
    share.grantable = vec![];
    g.revoke(&admin(), &share).unwrap();
    g.unassign_lf_tags(
        &admin(),
        &on_columns(&["email"], "classification", "public"),
    )
    .unwrap();
    let removed = g.update_lf_tag(&admin(), "classification", &[], &["public".into()]);
    assert!(removed.is_ok(), "{removed:?}");
}

#[test]
fn a_filters_creator_may_list_and_delete_it() {
    // Table grants do not reach a table's filters; the creator of one keeps
    // DESCRIBE and DROP on it.
    let g = setup();
    g.grant(&admin(), &grantable(table_grant(ALICE, "SELECT")))
        .unwrap();
    g.create_data_filter(&alice(), &data_filter("sales.orders.mine", None, &["id"]))
        .unwrap();
    let listed = g.list_data_filters(&alice(), None).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(g.list_data_filters(&bob(), None).unwrap().is_empty());
    g.delete_data_filter(&alice(), "sales.orders.mine").unwrap();
    assert!(g.list_data_filters(&alice(), None).unwrap().is_empty());
}

#[test]
fn a_filter_predicate_may_not_compare_what_its_creator_or_grantor_sees_masked() {
    // Alice holds email hashed: which rows a filter on email returns would
    // tell bob what alice may not read.
    let g = setup();
    g.grant(
        &admin(),
        &grantable(with_masks(
            table_grant(ALICE, "SELECT"),
            &[("email", "hash")],
        )),
    )
    .unwrap();
    let err = g
        .create_data_filter(
            &alice(),
            &data_filter("sales.orders.a", Some("email LIKE 'a%'"), &["id"]),
        )
        .unwrap_err();
    assert!(err.to_string().contains("you see masked"), "{err}");
    g.create_data_filter(
        &admin(),
        &data_filter("sales.orders.a", Some("email LIKE 'a%'"), &["id"]),
    )
    .unwrap();
    let err = g
        .grant(&alice(), &filter_grant(BOB, "sales.orders.a"))
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(err.to_string().contains("in the clear"), "{err}");
    assert!(visible(&g, &bob()).is_empty());
}
