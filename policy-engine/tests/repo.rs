//! Policy-as-code through the policy engine's API (DESIGN §8): export then
//! plan is empty, a one-line change gives the exact effective-access diff,
//! invariants stop an apply, a stale plan changes nothing, and bad input
//! names its file and line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "test code: a panic is a failed test, and test items are not API"
)]

use std::sync::Arc;

use policy_engine::model::{AccountId, Column, Format, PolicyFile};
use policy_engine::repo::{AccessSummary, RepoFile};
use policy_engine::{Caller, Error, Governance, MemStore, NewTable, Principal};

const ACCT: &str = "111111111111";

fn caller(p: &str) -> Caller {
    Caller::new(Principal::parse(p).unwrap())
}
fn admin() -> Caller {
    caller("111111111111:user/admin")
}

fn col(name: &str) -> Column {
    Column {
        name: name.into(),
        data_type: "Utf8".into(),
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
            columns: vec![col("id"), col("region"), col("amount"), col("email")],
            partition_keys: vec![],
        },
    )
    .unwrap();
    g
}

fn file(path: &str, source: &str) -> RepoFile {
    PolicyFile {
        path: path.into(),
        source: source.into(),
    }
}

const MANIFEST: &str = "account = \"111111111111\"\n";

const TAGS: &str = "\
tags:
  - key: classification
    values: [pii, public]
tag_assignments:
  - table: sales.orders
    columns: [email]
    tags: {classification: pii}
";

const GRANTS: &str = "\
filters:
  - name: sales.orders.eu
    row_filter: region = 'eu'
    columns: [id, region, amount]
grants:
  - principal: 111111111111:user/alice
    permissions: [SELECT]
    table: sales.orders
    columns: [id, region]
  - principal: 111111111111:group/analysts
    permissions: [SELECT]
    data_filter: sales.orders.eu
  - principal: 111111111111:group/privacy
    permissions: [SELECT]
    table: sales.orders
    masks: {email: hash}
";

const INVARIANTS: &str = "\
invariants:
  - name: only privacy reads pii
    no_read:
      columns_tagged: classification=pii
      except_groups: [privacy]
      # The data lake admin created the table, so it reads every column.
      except_principals: [111111111111:user/admin]
";

fn repo(grants: &str) -> Vec<RepoFile> {
    vec![
        file("lakegate.toml", MANIFEST),
        file("grants/tags.yaml", TAGS),
        file("grants/sales.yaml", grants),
        file("invariants/pii.yaml", INVARIANTS),
        file(
            "forbid.cedar",
            "forbid (principal == Lakegate::User::\"111111111111:user/mallory\", action, \
             resource);\n",
        ),
    ]
}

#[test]
fn apply_then_export_then_plan_is_empty() {
    let g = setup();
    let p = g
        .apply_repository(&admin(), &repo(GRANTS), None, None)
        .unwrap();
    assert!(p.ok(), "{:?}", p.invariants);
    assert!(!p.changes.is_empty());
    let (_, exported) = g.export_repository(&admin()).unwrap();
    let mut files = exported.clone();
    files.push(file("invariants/pii.yaml", INVARIANTS));
    let again = g.plan_repository(&admin(), &files).unwrap();
    assert!(again.changes.is_empty(), "{:#?}", again.changes);
    assert!(again.access.is_empty(), "{:#?}", again.access);
    // And the repository as written plans to nothing as well.
    let same = g.plan_repository(&admin(), &repo(GRANTS)).unwrap();
    assert!(same.changes.is_empty(), "{:#?}", same.changes);
}

#[test]
fn a_one_line_change_gives_the_exact_access_diff() {
    let g = setup();
    g.apply_repository(&admin(), &repo(GRANTS), None, None)
        .unwrap();
    let widened = GRANTS.replace("columns: [id, region]\n", "columns: [id, region, amount]\n");
    let p = g.plan_repository(&admin(), &repo(&widened)).unwrap();
    assert_eq!(p.changes.len(), 1, "{:#?}", p.changes);
    assert_eq!(p.changes[0].op, "change");
    assert_eq!(p.changes[0].kind, "grant");
    assert_eq!(p.access.len(), 1, "{:#?}", p.access);
    let a = &p.access[0];
    assert_eq!(a.principal, "111111111111:user/alice");
    assert_eq!(a.table, "sales.orders");
    let s = |cols: &[&str]| AccessSummary {
        columns: cols.iter().map(|c| c.to_string()).collect(),
        rows: None,
        masks: Default::default(),
        cells: Default::default(),
        permissions: vec![],
    };
    assert_eq!(a.before, Some(s(&["id", "region"])));
    assert_eq!(a.after, Some(s(&["id", "region", "amount"])));
}

#[test]
fn filters_and_masks_appear_in_the_diff() {
    let g = setup();
    let p = g.plan_repository(&admin(), &repo(GRANTS)).unwrap();
    let analysts = p
        .access
        .iter()
        .find(|a| a.principal == "111111111111:group/analysts")
        .unwrap();
    assert_eq!(analysts.before, None);
    let after = analysts.after.as_ref().unwrap();
    assert_eq!(after.columns, ["id", "region", "amount"]);
    assert_eq!(after.rows.as_deref(), Some("region = 'eu'"));
    let privacy = p
        .access
        .iter()
        .find(|a| a.principal == "111111111111:group/privacy")
        .unwrap();
    let after = privacy.after.as_ref().unwrap();
    assert_eq!(after.masks.get("email").map(String::as_str), Some("hash"));
}

#[test]
fn a_broken_invariant_fails_the_plan_and_applies_nothing() {
    let g = setup();
    g.apply_repository(&admin(), &repo(GRANTS), None, None)
        .unwrap();
    let before = g.export_repository(&admin()).unwrap();
    let leaky = GRANTS.replace("columns: [id, region]\n", "columns: [id, region, email]\n");
    let p = g.plan_repository(&admin(), &repo(&leaky)).unwrap();
    assert!(!p.ok());
    let v = &p.invariants[0].violations;
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(v[0].principal, "111111111111:user/alice");
    assert_eq!(v[0].table, "sales.orders");
    assert_eq!(v[0].column.as_deref(), Some("email"));
    let e = g
        .apply_repository(&admin(), &repo(&leaky), None, None)
        .unwrap_err();
    assert!(matches!(e, Error::FailedPrecondition(_)), "{e}");
    assert!(e.to_string().contains("only privacy reads pii"), "{e}");
    assert_eq!(g.export_repository(&admin()).unwrap(), before);
}

#[test]
fn a_stale_plan_applies_nothing() {
    let g = setup();
    let p = g.plan_repository(&admin(), &repo(GRANTS)).unwrap();
    g.create_database(&admin(), "hr", None).unwrap();
    let e = g
        .apply_repository(&admin(), &repo(GRANTS), Some(p.version), None)
        .unwrap_err();
    assert!(e.to_string().contains("policy plan` again"), "{e}");
    assert!(
        g.export_repository(&admin()).unwrap().1.len() == 1,
        "nothing but lakegate.toml"
    );
}

#[test]
fn bad_input_names_file_and_line() {
    let g = setup();
    let cases = [
        (
            GRANTS.replace(
                "table: sales.orders\n    columns",
                "table: sales.nope\n    columns",
            ),
            "grants/sales.yaml:6: ",
        ),
        (
            GRANTS.replace("columns: [id, region]\n", "columns: [id, nope]\n"),
            "grants/sales.yaml:6: ",
        ),
        (
            GRANTS.replace(
                "permissions: [SELECT]\n    data_filter",
                "permissions: [READ]\n    data_filter",
            ),
            "grants/sales.yaml:10: ",
        ),
        (
            GRANTS.replace(
                "principal: 111111111111:group/privacy",
                "principal: privacy",
            ),
            "grants/sales.yaml:13: ",
        ),
        (
            GRANTS.replace(
                "data_filter: sales.orders.eu",
                "data_filter: sales.orders.nope",
            ),
            "grants/sales.yaml:10: ",
        ),
        (GRANTS.replace("grants:", "grants: ["), "grants/sales.yaml:"),
    ];
    for (text, want) in cases {
        let e = g.plan_repository(&admin(), &repo(&text)).unwrap_err();
        assert!(e.to_string().starts_with(want), "{want}: {e}");
    }
    let mut unknown_tag = repo(GRANTS);
    unknown_tag[1] = file(
        "grants/tags.yaml",
        &TAGS.replace("{classification: pii}", "{secret: x}"),
    );
    let e = g.plan_repository(&admin(), &unknown_tag).unwrap_err();
    assert!(e.to_string().starts_with("grants/tags.yaml:5: "), "{e}");
}

#[test]
fn only_admins_plan_and_other_accounts_are_refused() {
    let g = setup();
    let e = g
        .plan_repository(&caller("111111111111:user/alice"), &repo(GRANTS))
        .unwrap_err();
    assert!(matches!(e, Error::PermissionDenied(_)), "{e}");
    let mut other = repo(GRANTS);
    other[0] = file("lakegate.toml", "account = \"222222222222\"\n");
    let e = g.plan_repository(&admin(), &other).unwrap_err();
    assert!(e.to_string().contains("222222222222"), "{e}");
}

#[test]
fn the_same_grant_twice_is_refused_with_both_lines() {
    let g = setup();
    let twice = format!(
        "{GRANTS}  - principal: 111111111111:user/alice\n    permissions: [SELECT]\n    table: sales.orders\n    columns: [amount]\n"
    );
    let e = g.plan_repository(&admin(), &repo(&twice)).unwrap_err();
    let e = e.to_string();
    assert!(
        e.starts_with("grants/sales.yaml:17: ") && e.contains("first at grants/sales.yaml:6"),
        "{e}"
    );
}

#[test]
fn another_accounts_table_is_refused() {
    let g = setup();
    let foreign = GRANTS.replace(
        "table: sales.orders\n    columns: [id, region]",
        "table: 222222222222:sales.orders\n    columns: [id, region]",
    );
    let e = g.plan_repository(&admin(), &repo(&foreign)).unwrap_err();
    assert!(
        e.to_string().starts_with("grants/sales.yaml:6: ")
            && e.to_string().contains("another account's table"),
        "{e}"
    );
}

#[test]
fn who_plans_or_applies_makes_no_difference() {
    let g = setup();
    g.bootstrap(
        &AccountId::parse(ACCT).unwrap(),
        &[Principal::parse("111111111111:user/admin2").unwrap()],
    )
    .unwrap();
    g.apply_repository(&admin(), &repo(GRANTS), None, None)
        .unwrap();
    // The filter was created by admin; admin2 restating it changes nothing.
    let p = g
        .plan_repository(&caller("111111111111:user/admin2"), &repo(GRANTS))
        .unwrap();
    assert!(p.changes.is_empty(), "{:#?}", p.changes);
    assert!(p.access.is_empty(), "{:#?}", p.access);
}

#[test]
fn a_forbid_proves_no_read_for_every_principal() {
    let g = setup();
    let mut files = repo(GRANTS);
    files.push(file(
        "pii.cedar",
        "forbid (principal, action == Lakegate::Action::\"SELECT\",\n        resource is Lakegate::Column)\nwhen { resource.hasTag(\"classification\") && resource.getTag(\"classification\") == \"pii\" }\nunless { principal in Lakegate::Group::\"111111111111:group/privacy\" };\n",
    ));
    let p = g.plan_repository(&admin(), &files).unwrap();
    let i = &p.invariants[0];
    assert!(i.ok, "{i:#?}");
    assert!(
        i.method
            .starts_with("proved for every principal: a forbid in pii.cedar"),
        "{i:#?}"
    );
    // Without it, the method says what was checked, and what was not.
    let p = g.plan_repository(&admin(), &repo(GRANTS)).unwrap();
    assert!(
        p.invariants[0]
            .method
            .contains("principals the repository does not name are not covered"),
        "{:#?}",
        p.invariants[0]
    );
}

#[test]
fn an_invariant_that_cannot_be_evaluated_names_its_line() {
    let g = setup();
    for (text, want) in [
        (
            "invariants:\n  - name: a\n    no_read: {columns_tagged: secrecy=high}\n",
            "invariants/pii.yaml:2: LF-tag `secrecy` does not exist",
        ),
        (
            "invariants:\n  - name: a\n    row_filter_required: {table: sales.nope}\n",
            "invariants/pii.yaml:2: table `sales.nope` does not exist",
        ),
        (
            "invariants:\n  - name: a\n    masked_or_hidden: {table: sales.orders, columns: [nope], groups: [x]}\n",
            "invariants/pii.yaml:2: table `sales.orders` has no column `nope`",
        ),
    ] {
        let mut files = repo(GRANTS);
        files[3] = file("invariants/pii.yaml", text);
        let e = g.plan_repository(&admin(), &files).unwrap_err().to_string();
        assert!(e.starts_with(want), "{want}: {e}");
        // And an apply changes nothing.
        let before = g.export_repository(&admin()).unwrap();
        assert!(g.apply_repository(&admin(), &files, None, None).is_err());
        assert_eq!(g.export_repository(&admin()).unwrap(), before);
    }
}

#[test]
fn apply_with_a_digest_refuses_any_other_plan() {
    let g = setup();
    let unused = GRANTS.replace(
        "filters:\n",
        "filters:\n  - name: sales.orders.spare\n    row_filter: region = 'US'\n    columns: [id]\n",
    );
    let p = g.plan_repository(&admin(), &repo(&unused)).unwrap();
    // A filter nobody is granted changes no one's access, but it is still
    // not what was reviewed.
    let edited = unused.replace("region = 'US'", "region <> 'US'");
    let e = g
        .apply_repository(&admin(), &repo(&edited), Some(p.version), Some(&p.digest))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no longer plans to the reviewed plan"),
        "{e}"
    );
    // The reviewed files apply.
    g.apply_repository(&admin(), &repo(&unused), Some(p.version), Some(&p.digest))
        .unwrap();
}
