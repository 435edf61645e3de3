//! The statements that declare the catalog's tables to a DataFusion-based
//! upstream that does not read lakegate's store (Ballista's scheduler):
//! `CREATE DATABASE` for an account, `CREATE SCHEMA` for a database and
//! `CREATE EXTERNAL TABLE` for a table, with the catalog's columns and types.
//!
//! Catalog names, column names and locations come from admins, so every
//! name is printed quoted (an embedded `"` doubled) and the location as an
//! escaped literal; `CREATE EXTERNAL TABLE` is then parsed again with
//! DataFusion's own parser, and refused unless it declares exactly the
//! names, columns, format, partition keys and location it was built from. A
//! table the upstream cannot read as the catalog records it is refused with
//! the reason, never declared loosely: Delta tables (their live files are in
//! the log), CSV tables (DataFusion reads CSV values by position, so a file
//! whose header lists the columns in another order would put one column's
//! values under another's grant and mask; the embedded engine checks every
//! file's header, Ballista cannot), and types without an exact SQL form.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast::{Ident, ObjectName, ObjectNamePart, Value};
use policy_engine::model::{Format, Table};

/// `CREATE DATABASE IF NOT EXISTS "ACCOUNT"` (a DataFusion catalog).
pub fn create_catalog(account: &str) -> String {
    format!("CREATE DATABASE IF NOT EXISTS {}", quoted(&[account]))
}

/// `CREATE SCHEMA IF NOT EXISTS "ACCOUNT"."DB"`.
pub fn create_schema(account: &str, database: &str) -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS {}",
        quoted(&[account, database])
    )
}

/// `SELECT * FROM "ACCOUNT"."DB"."TABLE"`, to read a declared table's
/// schema back.
pub fn select_all(table: &Table) -> String {
    format!(
        "SELECT * FROM {}",
        quoted(&[
            table.account.as_str(),
            &table.name.database,
            &table.name.table
        ])
    )
}

/// `CREATE EXTERNAL TABLE "ACCOUNT"."DB"."TABLE" (columns) STORED AS …
/// [PARTITIONED BY (…)] LOCATION '…'` for `table`, checked by parsing it
/// again; or why the table cannot be declared to such an upstream.
pub fn create_external_table(table: &Table) -> Result<String, String> {
    let stored = match table.format {
        Format::Parquet => "PARQUET",
        Format::Json => "JSON",
        Format::Csv => {
            return Err(format!(
                "table `{}` is a CSV table, which this upstream reads by column position \
                 without checking each file's header (a file with its columns in another \
                 order would show one column's values under another's name); query it on a \
                 server with the embedded engine, or store it as Parquet",
                table.name
            ));
        }
        Format::Delta => {
            return Err(format!(
                "table `{}` is a Delta table, and this upstream reads Parquet and JSON \
                 locations only (a Delta table's live files are listed in its log); query it \
                 on a server with the embedded engine",
                table.name
            ));
        }
    };
    let name = [
        table.account.as_str(),
        &table.name.database,
        &table.name.table,
    ];
    let mut columns = Vec::with_capacity(table.columns.len());
    for c in &table.columns {
        let ty = sql_type(&c.data_type).ok_or_else(|| {
            format!(
                "column `{}` of table `{}` has type {}, which cannot be declared to this \
                 upstream exactly; query it on a server with the embedded engine",
                c.name, table.name, c.data_type
            )
        })?;
        columns.push(format!("{} {ty}", quoted(&[&c.name])));
    }
    let mut sql = format!(
        "CREATE EXTERNAL TABLE {} ({}) STORED AS {stored}",
        quoted(&name),
        columns.join(", ")
    );
    if !table.partition_keys.is_empty() {
        // DataFusion matches partition keys to columns by their printed
        // form, quotes included, so they go bare: plain names only.
        if let Some(k) = table.partition_keys.iter().find(|k| !plain(k)) {
            return Err(format!(
                "partition key `{k}` of table `{}` is not a plain lower-case name, which this \
                 upstream needs; query it on a server with the embedded engine",
                table.name
            ));
        }
        sql.push_str(&format!(
            " PARTITIONED BY ({})",
            table.partition_keys.join(", ")
        ));
    }
    let location = table.location.as_str();
    sql.push_str(&format!(
        " LOCATION {}",
        Value::SingleQuotedString(location.to_string())
    ));
    check(&sql, table, &name, stored)?;
    Ok(sql)
}

/// The SQL type DataFusion reads back as exactly `arrow` (Arrow's display
/// form, as the catalog records it). Strings need the upstream's
/// `datafusion.sql_parser.map_string_types_to_utf8view` off.
fn sql_type(arrow: &str) -> Option<String> {
    let ty: DataType = arrow.parse().ok()?;
    Some(match ty {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 => "TINYINT UNSIGNED".into(),
        DataType::UInt16 => "SMALLINT UNSIGNED".into(),
        DataType::UInt32 => "INT UNSIGNED".into(),
        DataType::UInt64 => "BIGINT UNSIGNED".into(),
        DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 => "VARCHAR".into(),
        DataType::Binary => "BYTEA".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Decimal128(p, s) if s >= 0 => format!("DECIMAL({p}, {s})"),
        DataType::Timestamp(unit, None) => {
            let digits = match unit {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 3,
                TimeUnit::Microsecond => 6,
                TimeUnit::Nanosecond => 9,
            };
            format!("TIMESTAMP({digits})")
        }
        _ => return None,
    })
}

/// Whether `name` is `[a-z_][a-z0-9_]*`, so that it reads back unquoted as
/// itself.
fn plain(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `"a"."b"`, each part quoted (an embedded `"` doubled).
fn quoted(parts: &[&str]) -> String {
    ObjectName(
        parts
            .iter()
            .map(|p| ObjectNamePart::Identifier(Ident::with_quote('"', *p)))
            .collect(),
    )
    .to_string()
}

/// Parses `sql` with DataFusion's parser and checks it declares exactly
/// `table`: one statement, the name, the columns in order, the format, the
/// partition keys and the location.
fn check(sql: &str, table: &Table, name: &[&str; 3], stored: &str) -> Result<(), String> {
    let refuse = |why: &str| {
        Err(format!(
            "the declaration of table `{}` for the upstream does not read back as built \
             ({why}); rename the table or its columns, or query it on a server with the \
             embedded engine",
            table.name
        ))
    };
    let Ok(mut parsed) = DFParser::parse_sql(sql) else {
        return refuse("it does not parse");
    };
    let (Some(Statement::CreateExternalTable(t)), None) = (parsed.pop_front(), parsed.pop_front())
    else {
        return refuse("it is not one CREATE EXTERNAL TABLE");
    };
    let parts: Vec<String> = t
        .name
        .0
        .iter()
        .map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_default())
        .collect();
    if parts != name {
        return refuse("the name differs");
    }
    let columns: Vec<&str> = t.columns.iter().map(|c| c.name.value.as_str()).collect();
    let want: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    if columns != want {
        return refuse("the columns differ");
    }
    if !t.file_type.eq_ignore_ascii_case(stored) {
        return refuse("the format differs");
    }
    if t.table_partition_cols != table.partition_keys {
        return refuse("the partition keys differ");
    }
    if t.locations != [table.location.as_str()] {
        return refuse("the location differs");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;
    use policy_engine::model::{AccountId, Column, LocationUri, Principal, TableName};

    fn table(db: &str, name: &str, cols: &[(&str, &str)], location: &str, f: Format) -> Table {
        Table {
            account: AccountId::parse("111122223333").unwrap(),
            name: TableName {
                database: db.into(),
                table: name.into(),
            },
            columns: cols
                .iter()
                .map(|(n, t)| Column {
                    name: (*n).into(),
                    data_type: (*t).into(),
                    partition: false,
                })
                .collect(),
            partition_keys: Vec::new(),
            location: LocationUri::parse(location).unwrap(),
            format: f,
            creator: Principal::parse("111122223333:user/admin").unwrap(),
        }
    }

    #[test]
    fn declares_columns_types_and_location() {
        let t = table(
            "sales",
            "orders",
            &[("id", "Int64"), ("region", "Utf8"), ("amount", "Float64")],
            "file:///lake/sales/orders/",
            Format::Json,
        );
        assert_eq!(
            create_external_table(&t).unwrap(),
            "CREATE EXTERNAL TABLE \"111122223333\".\"sales\".\"orders\" (\"id\" BIGINT, \
             \"region\" VARCHAR, \"amount\" DOUBLE) STORED AS JSON LOCATION \
             'file:///lake/sales/orders/'"
        );
    }

    #[test]
    fn quotes_in_locations_stay_inside_the_literal() {
        let t = table(
            "sales",
            "orders",
            &[("id", "Int64")],
            "file:///lake/it's/' STORED AS CSV --/",
            Format::Parquet,
        );
        let sql = create_external_table(&t).unwrap();
        assert!(
            sql.contains("'file:///lake/it''s/'' STORED AS CSV --/'"),
            "{sql}"
        );
    }

    #[test]
    fn partition_keys_are_declared_bare_and_only_when_plain() {
        let mut t = table(
            "sales",
            "orders",
            &[("id", "Int64"), ("region", "Utf8")],
            "file:///lake/sales/orders/",
            Format::Parquet,
        );
        t.partition_keys = vec!["region".into()];
        let sql = create_external_table(&t).unwrap();
        assert!(sql.contains("PARTITIONED BY (region)"), "{sql}");
        for key in ["Region", "re gion", "region\"", "1region", "from)"] {
            t.partition_keys = vec![key.into()];
            let err = create_external_table(&t).unwrap_err();
            assert!(err.contains("not a plain"), "{key}: {err}");
        }
    }

    #[test]
    fn types_without_an_exact_declaration_are_refused() {
        for ty in [
            "LargeUtf8",
            "Utf8View",
            "List(Int64)",
            "Timestamp(Nanosecond, Some(\"UTC\"))",
        ] {
            let t = table("d", "t", &[("c", ty)], "file:///lake/d/t/", Format::Parquet);
            let err = create_external_table(&t).unwrap_err();
            assert!(err.contains("cannot be declared"), "{ty}: {err}");
        }
        let t = table(
            "d",
            "t",
            &[("c", "Int64")],
            "file:///lake/d/t/",
            Format::Delta,
        );
        assert!(create_external_table(&t).unwrap_err().contains("Delta"));
        let t = table(
            "d",
            "t",
            &[("c", "Int64")],
            "file:///lake/d/t/",
            Format::Csv,
        );
        assert!(
            create_external_table(&t)
                .unwrap_err()
                .contains("by column position")
        );
    }
}
