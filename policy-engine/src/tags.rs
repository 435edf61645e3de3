//! Effective LF-tags (DESIGN §3 rule 5): tables inherit the database's tags,
//! columns the table's; an assignment on the child overrides the inherited
//! value for that key.

use std::collections::BTreeMap;

use crate::catalog::Catalog;
use crate::model::{AccountId, TableName, TagTarget};

/// Effective tags, key → value.
pub type Tags = BTreeMap<String, String>;

fn assigned(cat: &Catalog, account: &AccountId, target: &TagTarget) -> Tags {
    cat.tag_assignments
        .range(
            (account.clone(), target.clone(), String::new())
                ..=(account.clone(), target.clone(), "\u{10FFFF}".to_string()),
        )
        .map(|(_, a)| (a.key.clone(), a.value.clone()))
        .collect()
}

/// Effective tags of a database.
pub fn database_tags(cat: &Catalog, account: &AccountId, database: &str) -> Tags {
    assigned(
        cat,
        account,
        &TagTarget::Database {
            database: database.to_string(),
        },
    )
}

/// Effective tags of a table.
pub fn table_tags(cat: &Catalog, account: &AccountId, table: &TableName) -> Tags {
    let mut t = database_tags(cat, account, &table.database);
    t.extend(assigned(
        cat,
        account,
        &TagTarget::Table {
            table: table.clone(),
        },
    ));
    t
}

/// Effective tags of a column, given its table's effective tags.
pub fn column_tags(
    cat: &Catalog,
    account: &AccountId,
    table: &TableName,
    table_tags: &Tags,
    column: &str,
) -> Tags {
    let mut t = table_tags.clone();
    t.extend(assigned(
        cat,
        account,
        &TagTarget::Column {
            table: table.clone(),
            column: column.to_string(),
        },
    ));
    t
}
