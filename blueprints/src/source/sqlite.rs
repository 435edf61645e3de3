//! SQLite files, opened read-only.
//!
//! SQLite types are declared, not enforced: a column is mapped by its
//! declared type (type affinity rules), and a value whose storage class does
//! not fit the mapping fails the run, naming the table, the row and the column.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

use super::{
    Cursor, ReadOut, SourceError, SourceTable, beyond, check_cursor, null_keys_sql, order_by,
    quote, refuse_null_keys,
};
use crate::columns::{BatchBuilder, Cell, ColType, SourceColumn};

/// An open SQLite source.
pub struct Lite {
    conn: Connection,
    path: String,
}

fn err(path: &str, e: impl std::fmt::Display) -> SourceError {
    SourceError(format!("SQLite source `{path}`: {e}"))
}

/// Maps a declared SQLite type.
fn map_type(declared: &str) -> Option<ColType> {
    let d = declared.to_ascii_uppercase();
    let base = d.split('(').next().unwrap_or("").trim();
    let args: Vec<i64> = d
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(a, _)| a.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_default();
    Some(match base {
        "INTEGER" | "INT" | "BIGINT" | "SMALLINT" | "TINYINT" | "MEDIUMINT" | "INT8" => {
            ColType::Int64
        }
        "REAL" | "DOUBLE" | "DOUBLE PRECISION" | "FLOAT" => ColType::Float64,
        "TEXT" | "VARCHAR" | "CHAR" | "CHARACTER" | "CLOB" | "NVARCHAR" | "NCHAR"
        | "VARYING CHARACTER" | "NATIVE CHARACTER" => ColType::Text,
        "BLOB" => ColType::Binary,
        "BOOLEAN" | "BOOL" => ColType::Bool,
        "DATE" => ColType::Date,
        "DATETIME" | "TIMESTAMP" => ColType::Timestamp,
        "DECIMAL" | "NUMERIC" => match args.as_slice() {
            [p] => ColType::decimal(*p, 0)?,
            [p, s] => ColType::decimal(*p, *s)?,
            _ => return None,
        },
        _ => return None,
    })
}

impl Lite {
    /// Opens `sqlite:///ABS/PATH` read-only.
    pub fn open(url: &str) -> Result<Lite, SourceError> {
        let path = url.strip_prefix("sqlite://").unwrap_or(url).to_string();
        if !std::path::Path::new(&path).is_file() {
            return Err(err(&path, "no such file"));
        }
        // NOFOLLOW: the path was resolved when its rights were checked; a
        // symlink put there since is refused. The file is untrusted: its
        // schema may not call functions with side effects.
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_NOFOLLOW,
        )
        .map_err(|e| err(&path, e))?;
        conn.execute_batch("PRAGMA trusted_schema = OFF;")
            .map_err(|e| err(&path, e))?;
        Ok(Lite { conn, path })
    }

    pub(super) fn tables(
        &mut self,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<SourceTable>, SourceError> {
        let names: Vec<String> = {
            let mut st = self
                .conn
                .prepare(
                    "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') \
                     AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                )
                .map_err(|e| err(&self.path, e))?;
            st.query_map([], |r| r.get::<_, String>(0))
                .and_then(|rows| rows.collect::<Result<_, _>>())
                .map_err(|e| err(&self.path, e))?
        };
        let mut out = Vec::new();
        for name in names.into_iter().filter(|n| wanted(n)) {
            let mut st = self
                .conn
                .prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")
                .map_err(|e| err(&self.path, e))?;
            let cols: Vec<(String, String)> = st
                .query_map([&name], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|rows| rows.collect::<Result<_, _>>())
                .map_err(|e| err(&self.path, e))?;
            let mut columns = Vec::new();
            for (col, declared) in cols {
                let ty = map_type(&declared).ok_or_else(|| {
                    SourceError(format!(
                        "column `{col}` of source table `{name}` has type `{}`, which has no \
                         faithful mapping; declare it as INTEGER, REAL, TEXT, BLOB, BOOLEAN, \
                         DATE, DATETIME or DECIMAL(p,s), or leave the table out with `exclude`",
                        if declared.is_empty() {
                            "(none)"
                        } else {
                            &declared
                        }
                    ))
                })?;
                columns.push(SourceColumn {
                    name: col.to_ascii_lowercase(),
                    source: col,
                    declared,
                    ty,
                });
            }
            out.push(SourceTable {
                schema: None,
                base: name.clone(),
                name,
                columns,
            });
        }
        Ok(out)
    }

    pub(super) fn read(
        &mut self,
        table: &SourceTable,
        cursor: Option<&Cursor<'_>>,
    ) -> Result<ReadOut, SourceError> {
        let path = self.path.clone();
        let select: Vec<String> = table.columns.iter().map(|c| quote(&c.source)).collect();
        let mut sql = format!("SELECT {} FROM {}", select.join(", "), quote(&table.name));
        let mut key_idx = Vec::new();
        let mut params: Vec<rusqlite::types::Value> = Vec::new();
        // One read transaction: the rows and the NULL check see one state.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)
            .map_err(|e| err(&path, e))?;
        if let Some(c) = cursor {
            check_cursor(table, c)?;
            for k in c.keys {
                key_idx.push(
                    table
                        .columns
                        .iter()
                        .position(|col| col.name == *k)
                        .unwrap_or_default(),
                );
            }
            let key_sql: Vec<String> = key_idx
                .iter()
                .filter_map(|i| table.columns.get(*i))
                .map(|col| quote(&col.source))
                .collect();
            let keys: Vec<&str> = key_sql.iter().map(String::as_str).collect();
            let nulls: i64 = tx
                .query_row(&null_keys_sql(&quote(&table.name), &keys), [], |r| r.get(0))
                .map_err(|e| err(&path, e))?;
            refuse_null_keys(table, c, nulls)?;
            let tuple = format!("({})", key_sql.join(", "));
            if let Some(after) = c.after {
                let op = beyond(c.order);
                let marks: Vec<String> = (1..=after.len()).map(|i| format!("?{i}")).collect();
                sql.push_str(&format!(" WHERE {tuple} {op} ({})", marks.join(", ")));
                for v in after {
                    params.push(match v {
                        Value::Number(n) if n.is_i64() => {
                            rusqlite::types::Value::Integer(n.as_i64().unwrap_or_default())
                        }
                        Value::Number(n) => {
                            rusqlite::types::Value::Real(n.as_f64().unwrap_or_default())
                        }
                        Value::String(s) => rusqlite::types::Value::Text(s.clone()),
                        other => {
                            return Err(SourceError(format!(
                                "the committed bookmark holds `{other}`, which is not a key value"
                            )));
                        }
                    });
                }
            }
            sql.push_str(&order_by(&keys, c.order));
        }
        let mut out = ReadOut::default();
        let mut b = BatchBuilder::new(&table.columns);
        {
            let mut st = tx.prepare(&sql).map_err(|e| err(&path, e))?;
            let mut rows = st
                .query(rusqlite::params_from_iter(params.iter()))
                .map_err(|e| err(&path, e))?;
            let mut row_no = 0u64;
            while let Some(row) = rows.next().map_err(|e| err(&path, e))? {
                row_no += 1;
                for i in 0..table.columns.len() {
                    let v = row.get_ref(i).map_err(|e| err(&path, e))?;
                    let cell = match v {
                        ValueRef::Null => Cell::Null,
                        ValueRef::Integer(n) => Cell::Int(n),
                        ValueRef::Real(f) => Cell::Float(f),
                        ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t)),
                        ValueRef::Blob(bytes) => Cell::Bytes(bytes),
                    };
                    b.push(i, cell).map_err(|e| {
                        SourceError(format!("source table `{}`, row {row_no}: {e}", table.name))
                    })?;
                }
                b.end_row();
                if !key_idx.is_empty() {
                    let mut key = Vec::with_capacity(key_idx.len());
                    for i in &key_idx {
                        key.push(match row.get_ref(*i).map_err(|e| err(&path, e))? {
                            ValueRef::Integer(n) => Value::from(n),
                            ValueRef::Real(f) => Value::from(f),
                            ValueRef::Text(t) => {
                                Value::from(String::from_utf8_lossy(t).into_owned())
                            }
                            _ => {
                                return Err(SourceError(format!(
                                    "a bookmark key of source table `{}` holds a value that cannot \
                                     be compared (NULL or bytes) at row {row_no}",
                                    table.name
                                )));
                            }
                        });
                    }
                    out.last_key = Some(key);
                }
                if b.rows() >= super::BATCH_ROWS {
                    out.batches.push(b.finish().map_err(|e| err(&path, e))?);
                }
            }
            out.rows = row_no;
        }
        if b.rows() > 0 || out.batches.is_empty() {
            out.batches.push(b.finish().map_err(|e| err(&path, e))?);
        }
        out.bytes = b.bytes();
        tx.finish().map_err(|e| err(&path, e))?;
        Ok(out)
    }
}
