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

/// Prefix of the synthetic table tags that say every column of the table has
/// the same effective value for a key (`__all_columns:KEY` = value). TABLE
/// tag-policy grants of ALTER, DROP, INSERT and DELETE test these, because
/// rule 5 gives those permissions only when every column matches.
pub const ALL_COLUMNS_PREFIX: &str = "__all_columns:";

/// The tags of a table's Cedar entity: its effective tags plus the synthetic
/// all-columns tags.
pub fn table_entity_tags(cat: &Catalog, account: &AccountId, table: &TableName) -> Tags {
    let mut t = table_tags(cat, account, table);
    let Some(tb) = cat.table(account, table) else {
        return t;
    };
    let cols: Vec<Tags> = tb
        .columns
        .iter()
        .map(|c| column_tags(cat, account, table, &t, &c.name))
        .collect();
    let Some(first) = cols.first() else {
        return t;
    };
    let mut synthetic = Tags::new();
    for (k, v) in first {
        if cols.iter().all(|c| c.get(k) == Some(v)) {
            synthetic.insert(format!("{ALL_COLUMNS_PREFIX}{k}"), v.clone());
        }
    }
    t.extend(synthetic);
    t
}
