//! The row-filter predicate parser: any input either errors or yields a
//! predicate whose printed form parses back to the same predicate (the
//! stored text and the enforced expression cannot drift apart), and
//! substituting attributes never panics.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use policy_engine::model::{AccountId, Column, Format, LocationUri, Principal, Table, TableName};
use policy_engine::predicate::{self, RowExpr};

fn table() -> Option<Table> {
    let col = |n: &str, t: &str| Column {
        name: n.into(),
        data_type: t.into(),
        partition: false,
    };
    Some(Table {
        account: AccountId::parse("111111111111").ok()?,
        name: TableName {
            database: "sales".into(),
            table: "orders".into(),
        },
        columns: vec![
            col("id", "Int64"),
            col("region", "Utf8"),
            col("amount", "Float64"),
            col("day", "Date32"),
            col("flag", "Boolean"),
        ],
        partition_keys: vec![],
        location: LocationUri::parse("file:///data/sales/orders/").ok()?,
        format: Format::Parquet,
        creator: Principal::parse("111111111111:user/admin").ok()?,
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let Some(table) = table() else {
        return;
    };
    let _ = predicate::attributes(src);
    if let Ok(stored) = predicate::validate(src, &table) {
        let attrs = BTreeMap::from([
            ("region".to_string(), "EU' OR '1'='1".to_string()),
            ("level".to_string(), "3".to_string()),
        ]);
        if let Ok(Some(e)) = predicate::substitute(&stored, &table, &attrs) {
            // A substituted value is a literal, never SQL: printing and
            // parsing the result gives the same expression.
            let printed = e.to_string();
            let back = RowExpr::parse(&printed);
            assert_eq!(back.as_ref().ok(), Some(&e), "{printed}");
        }
    }
    if let Ok(e) = RowExpr::parse(src) {
        let printed = e.to_string();
        let back = RowExpr::parse(&printed);
        assert_eq!(back.as_ref().ok(), Some(&e), "{src} printed as {printed}");
    }
});
