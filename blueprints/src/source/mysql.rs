//! MySQL and MariaDB, through mysql_async (no TLS; reach remote servers
//! through a tunnel).
//!
//! The URL names one database (`mysql://USER@HOST:PORT/DB`); its tables are
//! named `TABLE`. The connection always goes over TCP to the host the URL
//! names: it never switches to a local socket (where a server may trust the
//! operating-system user that lakegate runs as), and the URL may carry no
//! options.
//!
//! Reads run in one `REPEATABLE READ` transaction `WITH CONSISTENT SNAPSHOT`
//! per table, with the session's time zone at UTC, so `TIMESTAMP` values
//! arrive in UTC and the NULL check, the rows and the bookmark come from one
//! snapshot. Rows come through the binary protocol; decimals arrive as text
//! and are parsed exactly at the column's scale.

use chrono::NaiveDate;
use mysql_async::prelude::Queryable as _;
use mysql_async::{Conn, IsolationLevel, OptsBuilder, Row, TxOpts, Value as MyValue};
use serde_json::Value;

use super::{
    Cursor, ReadOut, RowSink, SourceError, SourceTable, add_listed_column, beyond, check_cursor,
    null_keys_sql, order_by, refuse_null_keys,
};
use crate::columns::{Cell, ColType, SourceColumn};

/// An open MySQL or MariaDB source.
pub struct MySql {
    conn: Conn,
    db: String,
}

fn my_err(db: &str, e: &mysql_async::Error) -> SourceError {
    let detail = match e {
        mysql_async::Error::Server(s) => s.message.clone(),
        other => other.to_string(),
    };
    SourceError(format!("MySQL source `{db}`: {detail}"))
}

/// Quotes an identifier with backticks (`` ` `` doubled), which MySQL reads
/// as an identifier whatever the server's `sql_mode`.
fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// Maps an `information_schema.COLUMNS` row: `DATA_TYPE`, `COLUMN_TYPE`
/// (for `unsigned`), precision and scale. Each unsigned integer goes to the
/// next wider signed type, so every value fits.
fn map_type(
    data_type: &str,
    column_type: &str,
    precision: Option<i64>,
    scale: Option<i64>,
) -> Option<ColType> {
    let unsigned = column_type.to_ascii_lowercase().contains("unsigned");
    Some(match (data_type, unsigned) {
        ("tinyint", _) | ("smallint", false) | ("year", _) => ColType::Int16,
        ("smallint", true) | ("mediumint", _) | ("int", false) => ColType::Int32,
        ("int", true) | ("bigint", false) => ColType::Int64,
        ("bigint", true) => ColType::decimal(20, 0)?,
        ("decimal", _) => ColType::decimal(precision?, scale.unwrap_or(0))?,
        ("float", _) => ColType::Float32,
        ("double", _) => ColType::Float64,
        (
            "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set"
            | "json" | "uuid" | "inet4" | "inet6",
            _,
        ) => ColType::Text,
        ("binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob", _) => {
            ColType::Binary
        }
        ("date", _) => ColType::Date,
        ("datetime", _) => ColType::Timestamp,
        ("timestamp", _) => ColType::TimestampTz,
        _ => return None,
    })
}

/// What a bookmark value is cast back to before it is compared; a fixed
/// text per mapped type, so nothing from the source is spliced into SQL.
/// Text keys take no cast: the column's own collation then compares them,
/// exactly as `ORDER BY` sorts them.
fn cast_mark(t: ColType) -> Result<String, &'static str> {
    Ok(match t {
        ColType::Int16 | ColType::Int32 | ColType::Int64 => "CAST(? AS SIGNED)".into(),
        ColType::Decimal(p, s) => format!("CAST(? AS DECIMAL({p},{s}))"),
        ColType::Text => "?".into(),
        ColType::Date => "CAST(? AS DATE)".into(),
        ColType::Timestamp | ColType::TimestampTz => "CAST(? AS DATETIME(6))".into(),
        ColType::Float32 | ColType::Float64 => {
            return Err(
                "floating-point; a MySQL float does not compare exactly with its \
                        printed value",
            );
        }
        ColType::Binary | ColType::Bool => return Err("binary"),
    })
}

/// A date or time value's parts, refusing MySQL's zero dates.
fn parts(v: &MyValue) -> Option<(NaiveDate, u32, u32, u32, u32)> {
    match *v {
        MyValue::Date(y, mo, d, h, mi, s, us) => Some((
            NaiveDate::from_ymd_opt(i32::from(y), u32::from(mo), u32::from(d))?,
            u32::from(h),
            u32::from(mi),
            u32::from(s),
            us,
        )),
        _ => None,
    }
}

/// One value as a cell, with its bookmark form. `Err` says what the value
/// is, for the error naming the row and the column.
fn cell(v: &MyValue, t: ColType, want_key: bool) -> Result<(Cell<'_>, Option<Value>), String> {
    if matches!(v, MyValue::NULL) {
        return Ok((Cell::Null, None));
    }
    let key = |k: &dyn Fn() -> Value| want_key.then(k);
    Ok(match (t, v) {
        (ColType::Int16 | ColType::Int32 | ColType::Int64, MyValue::Int(i)) => {
            (Cell::Int(*i), key(&|| Value::from(*i)))
        }
        (ColType::Int16 | ColType::Int32 | ColType::Int64, MyValue::UInt(u)) => {
            let i = i64::try_from(*u).map_err(|_| format!("the integer {u}"))?;
            (Cell::Int(i), key(&|| Value::from(i)))
        }
        (ColType::Decimal(..), MyValue::UInt(u)) => (
            Cell::Text(u.to_string().into()),
            key(&|| Value::from(u.to_string())),
        ),
        (ColType::Decimal(..), MyValue::Int(i)) => (
            Cell::Text(i.to_string().into()),
            key(&|| Value::from(i.to_string())),
        ),
        (ColType::Decimal(..) | ColType::Text, MyValue::Bytes(b)) => {
            let s = std::str::from_utf8(b).map_err(|_| "text that is not UTF-8".to_string())?;
            (Cell::Text(s.into()), key(&|| Value::from(s)))
        }
        (ColType::Float32 | ColType::Float64, MyValue::Float(f)) => {
            (Cell::Float(f64::from(*f)), None)
        }
        (ColType::Float32 | ColType::Float64, MyValue::Double(f)) => (Cell::Float(*f), None),
        (ColType::Binary, MyValue::Bytes(b)) => (Cell::Bytes(b), None),
        (ColType::Date, v) => {
            let (d, ..) = parts(v).ok_or("a zero or invalid date")?;
            (
                Cell::Date(d),
                key(&|| Value::from(d.format("%Y-%m-%d").to_string())),
            )
        }
        (ColType::Timestamp | ColType::TimestampTz, v) => {
            let (d, h, mi, s, us) = parts(v).ok_or("a zero or invalid date")?;
            let t = d
                .and_hms_micro_opt(h, mi, s, us)
                .ok_or("an invalid time of day")?;
            (
                Cell::Micros(t.and_utc().timestamp_micros()),
                key(&|| Value::from(t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())),
            )
        }
        (_, other) => return Err(format!("the protocol value {other:?}")),
    })
}

/// The text parameter for one committed bookmark value.
fn mark_param(v: &Value) -> Result<MyValue, SourceError> {
    Ok(MyValue::from(match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(SourceError(format!(
                "the committed bookmark holds `{other}`, which is not a key value"
            )));
        }
    }))
}

impl MySql {
    /// Connects to `url` (`mysql://USER@HOST:PORT/DB`).
    pub async fn connect(url: &str, password: Option<String>) -> Result<MySql, SourceError> {
        if url.contains('?') {
            return Err(SourceError(
                "a MySQL source URL takes no options (`?…`); write it as \
                 `mysql://USER@HOST:PORT/DB`"
                    .into(),
            ));
        }
        let opts = mysql_async::Opts::from_url(url)
            .map_err(|e| SourceError(format!("the MySQL URL `{url}` cannot be read: {e}")))?;
        let db = opts.db_name().unwrap_or("").to_string();
        if db.is_empty() {
            return Err(SourceError(format!(
                "the MySQL URL `{url}` names no database; write it as `mysql://USER@HOST:PORT/DB`"
            )));
        }
        let opts = OptsBuilder::from_opts(opts)
            .pass(password)
            .prefer_socket(false)
            .stmt_cache_size(0)
            .init(vec!["SET time_zone = '+00:00'"]);
        let conn = tokio::time::timeout(std::time::Duration::from_secs(10), Conn::new(opts))
            .await
            .map_err(|_| SourceError(format!("MySQL source `{db}`: no answer within 10 s")))?
            .map_err(|e| my_err(&db, &e))?;
        Ok(MySql { conn, db })
    }

    pub(super) async fn tables(
        &mut self,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<SourceTable>, SourceError> {
        let db = self.db.clone();
        let rows: Vec<Row> = self
            .conn
            .exec(
                "SELECT CAST(c.TABLE_NAME AS CHAR), CAST(c.COLUMN_NAME AS CHAR), \
                        CAST(c.DATA_TYPE AS CHAR), CAST(c.COLUMN_TYPE AS CHAR), \
                        CAST(c.NUMERIC_PRECISION AS SIGNED), CAST(c.NUMERIC_SCALE AS SIGNED) \
                 FROM information_schema.COLUMNS c \
                 JOIN information_schema.TABLES t \
                   ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
                 WHERE c.TABLE_SCHEMA = DATABASE() \
                   AND t.TABLE_TYPE IN ('BASE TABLE', 'VIEW', 'SYSTEM VERSIONED') \
                 ORDER BY BINARY c.TABLE_NAME, c.ORDINAL_POSITION",
                (),
            )
            .await
            .map_err(|e| my_err(&db, &e))?;
        let mut out: Vec<SourceTable> = Vec::new();
        for r in rows {
            let text = |i: usize| -> Result<String, SourceError> {
                match r.as_ref(i) {
                    Some(MyValue::Bytes(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
                    _ => Err(SourceError(format!(
                        "MySQL source `{db}`: information_schema gave no text in column {i}"
                    ))),
                }
            };
            let int = |i: usize| match r.as_ref(i) {
                Some(MyValue::Int(n)) => Some(*n),
                _ => None,
            };
            let (table, column, data_type, column_type) = (text(0)?, text(1)?, text(2)?, text(3)?);
            if !wanted(&table) {
                continue;
            }
            let data_type = data_type.to_ascii_lowercase();
            let ty = map_type(&data_type, &column_type, int(4), int(5)).ok_or_else(|| {
                SourceError(format!(
                    "column `{column}` of source table `{table}` has type `{column_type}`, which \
                     has no faithful mapping; cast it in a view (decimal(p,s) up to 38 digits, \
                     char, …) and load the view, or leave the table out with `exclude`"
                ))
            })?;
            let col = SourceColumn {
                name: column.to_ascii_lowercase(),
                source: column,
                declared: column_type,
                ty,
            };
            add_listed_column(&mut out, table.clone(), None, table, col);
        }
        Ok(out)
    }

    pub(super) async fn read(
        &mut self,
        table: &SourceTable,
        cursor: Option<&Cursor<'_>>,
        to: Option<super::BatchOut>,
    ) -> Result<ReadOut, SourceError> {
        let db = self.db.clone();
        let e = |e: mysql_async::Error| my_err(&db, &e);
        let from = format!("{}.{}", quote(&self.db), quote(&table.base));
        let select: Vec<String> = table.columns.iter().map(|c| quote(&c.source)).collect();
        let mut sql = format!("SELECT {} FROM {from}", select.join(", "));
        let mut params: Vec<MyValue> = Vec::new();
        let mut key_idx = Vec::new();
        let mut opts = TxOpts::default();
        opts.with_consistent_snapshot(true)
            .with_isolation_level(IsolationLevel::RepeatableRead)
            .with_readonly(true);
        let mut tx = self.conn.start_transaction(opts).await.map_err(e)?;
        if let Some(c) = cursor {
            check_cursor(table, c)?;
            let mut keys = Vec::new();
            for k in c.keys {
                let i = table
                    .columns
                    .iter()
                    .position(|col| col.name == *k)
                    .unwrap_or_default();
                key_idx.push(i);
                if let Some(col) = table.columns.get(i) {
                    let declared = col.declared.to_ascii_lowercase();
                    let ordered_apart = ["enum", "set", "json", "longtext"]
                        .iter()
                        .any(|t| declared.starts_with(t));
                    let mark = if ordered_apart {
                        // ENUM and SET sort by index, JSON by its own rules:
                        // `>` on their text would not match `ORDER BY`.
                        Err("an ENUM, SET or JSON column, which MySQL sorts apart from its text")
                    } else {
                        cast_mark(col.ty)
                    };
                    let mark = mark.map_err(|what| {
                        SourceError(format!(
                            "bookmark key `{k}` of source table `{}` is {what}; bookmark keys \
                             must be integers, decimals, text, dates or timestamps",
                            table.name
                        ))
                    })?;
                    keys.push((quote(&col.source), mark));
                }
            }
            let tuple: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
            let nulls: Option<i64> = tx
                .exec_first(null_keys_sql(&from, &tuple), ())
                .await
                .map_err(e)?;
            refuse_null_keys(table, c, nulls.unwrap_or(0))?;
            if let Some(after) = c.after {
                let op = beyond(c.order);
                let mut marks = Vec::new();
                for (v, (_, mark)) in after.iter().zip(&keys) {
                    marks.push(mark.as_str());
                    params.push(mark_param(v)?);
                }
                sql.push_str(&format!(
                    " WHERE ({}) {op} ({})",
                    tuple.join(", "),
                    marks.join(", ")
                ));
            }
            sql.push_str(&order_by(&tuple, c.order));
        }
        let params = if params.is_empty() {
            mysql_async::Params::Empty
        } else {
            mysql_async::Params::Positional(params)
        };
        let mut result = tx.exec_iter(sql, params).await.map_err(e)?;
        let mut sink = RowSink::new(table, key_idx, to);
        while let Some(row) = result.next().await.map_err(e)? {
            let row_no = sink.begin_row();
            for (i, col) in table.columns.iter().enumerate() {
                let v = row.as_ref(i).unwrap_or(&MyValue::NULL);
                let (c, k) = cell(v, col.ty, sink.is_key(i)).map_err(|m| {
                    SourceError(format!(
                        "source table `{}`, row {row_no}: column `{}` ({}) holds {m}, which \
                         does not fit its type",
                        table.name, col.name, col.declared
                    ))
                })?;
                sink.push(i, c, k)?;
            }
            sink.end_row().await?;
        }
        drop(result);
        let out = sink.finish().await?;
        tx.commit().await.map_err(e)?;
        Ok(out)
    }
}
