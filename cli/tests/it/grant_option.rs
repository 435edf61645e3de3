//! Grant-option narrowing through the CLI (DESIGN §3 rule 10).

use crate::harness::*;

const ALICE: &str = "111111111111:user/alice";
const CAROL: &str = "111111111111:user/carol";

#[test]
fn grantable_columns_can_be_regranted_only_as_a_subset() {
    let s = Server::start();
    s.setup_sales();
    // Alice sees the whole table but may pass on only id and amount.
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "SELECT,DESCRIBE",
        "--table",
        "sales.orders",
    ])
    .ok();
    s.admin(&[
        "grant",
        "--principal",
        ALICE,
        "--permissions",
        "SELECT",
        "--grantable",
        "SELECT",
        "--table",
        "sales.orders",
        "--columns",
        "id,amount",
    ])
    .ok();
    let alice = s.token(ALICE, &[]);

    s.cli(
        &alice,
        &[
            "grant",
            "--principal",
            CAROL,
            "--permissions",
            "SELECT",
            "--table",
            "sales.orders",
            "--columns",
            "id",
        ],
    )
    .ok();
    let before = s.state();

    // A superset of the grantable columns.
    s.cli(
        &alice,
        &[
            "grant",
            "--principal",
            CAROL,
            "--permissions",
            "SELECT",
            "--table",
            "sales.orders",
            "--columns",
            "id,amount,ssn",
        ],
    )
    .fails(3, "may not grant");
    // The whole table.
    s.cli(
        &alice,
        &[
            "grant",
            "--principal",
            CAROL,
            "--permissions",
            "SELECT",
            "--table",
            "sales.orders",
        ],
    )
    .fails(3, "may not grant");
    // Passing on the grant option she does not hold for DESCRIBE.
    s.cli(
        &alice,
        &[
            "grant",
            "--principal",
            CAROL,
            "--permissions",
            "DESCRIBE",
            "--table",
            "sales.orders",
        ],
    )
    .fails(3, "may not grant");
    assert_eq!(s.state(), before);

    let carol = s.token(CAROL, &[]);
    let seen = s.cli(&carol, &["table", "describe", "sales.orders", "--json"]);
    seen.ok();
    assert_eq!(columns(&seen.json()), ["id"]);
    // Alice's re-grant is listed as granted by her.
    let list = s.cli(
        &alice,
        &["permissions", "list", "--principal", CAROL, "--json"],
    );
    list.ok();
    let v = list.json();
    let es = entries_of(&v, CAROL);
    assert_eq!(es.len(), 1, "{list:#?}");
    assert_eq!(es[0]["granted_by"], ALICE);
}
