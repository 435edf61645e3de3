//! PostgreSQL, through tokio-postgres (no TLS; reach remote servers through
//! a tunnel or a local pooler).
//!
//! Reads run in one `REPEATABLE READ READ ONLY` transaction per table, so
//! the NULL check, the rows and the bookmark come from one snapshot.
//! Numeric values travel as text and are parsed exactly at the column's
//! scale; every other mapped type uses the binary protocol.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use futures::{StreamExt as _, pin_mut};
use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};

use super::{
    Cursor, ReadOut, RowSink, SourceError, SourceTable, add_listed_column, beyond, check_cursor,
    null_keys_sql, order_by, quote, refuse_null_keys,
};
use crate::columns::{Cell, ColType, SourceColumn};

/// An open PostgreSQL source.
pub struct Pg {
    client: Client,
    conn: tokio::task::JoinHandle<()>,
    db: String,
}

impl Drop for Pg {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

/// The error of a PostgreSQL call, with the server's message when there is
/// one. The connection string (with its password) is never part of it.
fn pg_err(db: &str, e: &tokio_postgres::Error) -> SourceError {
    let detail = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                src = inner.source();
            }
            s
        });
    SourceError(format!("PostgreSQL source `{db}`: {detail}"))
}

/// Maps an `information_schema.columns` row.
fn map_type(data_type: &str, precision: Option<i32>, scale: Option<i32>) -> Option<ColType> {
    Some(match data_type {
        "smallint" => ColType::Int16,
        "integer" => ColType::Int32,
        "bigint" => ColType::Int64,
        "real" => ColType::Float32,
        "double precision" => ColType::Float64,
        "numeric" => ColType::decimal(i64::from(precision?), i64::from(scale.unwrap_or(0)))?,
        "text" | "character varying" | "character" | "uuid" | "json" | "jsonb" => ColType::Text,
        "boolean" => ColType::Bool,
        "date" => ColType::Date,
        "timestamp without time zone" => ColType::Timestamp,
        "timestamp with time zone" => ColType::TimestampTz,
        "bytea" => ColType::Binary,
        _ => return None,
    })
}

/// The SQL type a bookmark value is cast back to (a fixed name per mapped
/// type; nothing from the source is spliced into SQL).
fn cast_name(t: ColType) -> &'static str {
    match t {
        ColType::Int16 => "smallint",
        ColType::Int32 => "integer",
        ColType::Int64 => "bigint",
        ColType::Decimal(..) => "numeric",
        ColType::Float32 => "real",
        ColType::Float64 => "double precision",
        ColType::Text => "text",
        ColType::Bool => "boolean",
        ColType::Date => "date",
        ColType::Timestamp => "timestamp",
        ColType::TimestampTz => "timestamptz",
        ColType::Binary => "bytea",
    }
}

/// One value as a cell, with its bookmark form when `want_key` (formatting
/// every value would cost more than reading it).
fn cell(
    row: &Row,
    i: usize,
    t: ColType,
    want_key: bool,
) -> Result<(Cell<'_>, Option<Value>), tokio_postgres::Error> {
    fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Cell<'static>) -> Cell<'static> {
        v.map_or(Cell::Null, f)
    }
    let (c, key) = match t {
        ColType::Int16 => {
            let v: Option<i16> = row.try_get(i)?;
            (
                opt(v, |v| Cell::Int(v.into())),
                v.filter(|_| want_key).map(Value::from),
            )
        }
        ColType::Int32 => {
            let v: Option<i32> = row.try_get(i)?;
            (
                opt(v, |v| Cell::Int(v.into())),
                v.filter(|_| want_key).map(Value::from),
            )
        }
        ColType::Int64 => {
            let v: Option<i64> = row.try_get(i)?;
            (opt(v, Cell::Int), v.filter(|_| want_key).map(Value::from))
        }
        ColType::Float32 => {
            let v: Option<f32> = row.try_get(i)?;
            (
                opt(v, |v| Cell::Float(v.into())),
                v.filter(|_| want_key).map(|v| Value::from(v.to_string())),
            )
        }
        ColType::Float64 => {
            let v: Option<f64> = row.try_get(i)?;
            (
                opt(v, Cell::Float),
                v.filter(|_| want_key).map(|v| Value::from(v.to_string())),
            )
        }
        ColType::Decimal(..) | ColType::Text => {
            let v: Option<&str> = row.try_get(i)?;
            (
                v.map_or(Cell::Null, |s| Cell::Text(s.into())),
                v.filter(|_| want_key).map(Value::from),
            )
        }
        ColType::Bool => {
            let v: Option<bool> = row.try_get(i)?;
            (opt(v, Cell::Bool), v.filter(|_| want_key).map(Value::from))
        }
        ColType::Date => {
            let v: Option<NaiveDate> = row.try_get(i)?;
            (
                opt(v, Cell::Date),
                v.filter(|_| want_key)
                    .map(|d| Value::from(d.format("%Y-%m-%d").to_string())),
            )
        }
        ColType::Timestamp => {
            let v: Option<NaiveDateTime> = row.try_get(i)?;
            (
                opt(v, |t| Cell::Micros(t.and_utc().timestamp_micros())),
                v.filter(|_| want_key)
                    .map(|t| Value::from(t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())),
            )
        }
        ColType::TimestampTz => {
            let v: Option<DateTime<Utc>> = row.try_get(i)?;
            (
                opt(v, |t| Cell::Micros(t.timestamp_micros())),
                v.filter(|_| want_key)
                    .map(|t| Value::from(t.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string())),
            )
        }
        ColType::Binary => {
            let v: Option<&[u8]> = row.try_get(i)?;
            (v.map_or(Cell::Null, Cell::Bytes), None)
        }
    };
    Ok((c, key))
}

impl Pg {
    /// Connects to `url` (`postgres://USER@HOST:PORT/DB`).
    pub async fn connect(url: &str, password: Option<String>) -> Result<Pg, SourceError> {
        let mut cfg: tokio_postgres::Config = url
            .parse()
            .map_err(|e| SourceError(format!("the PostgreSQL URL `{url}` cannot be read: {e}")))?;
        if let Some(p) = password {
            cfg.password(p);
        }
        cfg.connect_timeout(std::time::Duration::from_secs(10));
        cfg.application_name("lakegate-blueprint");
        // A local socket is never a source: the server there may trust the
        // operating-system user lakegate runs as (`spec` refuses such URLs
        // too; this checks what the client will really connect to).
        if cfg
            .get_hosts()
            .iter()
            .any(|h| !matches!(h, tokio_postgres::config::Host::Tcp(_)))
            || !cfg.get_hostaddrs().is_empty()
            || cfg.get_hosts().is_empty()
        {
            return Err(SourceError(
                "a PostgreSQL source is reached over TCP only; write the URL as \
                 `postgres://USER@HOST:PORT/DB`"
                    .into(),
            ));
        }
        let db = cfg.get_dbname().unwrap_or("").to_string();
        let (client, conn) = cfg.connect(NoTls).await.map_err(|e| pg_err(&db, &e))?;
        let conn = tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::warn!(error = %e, "PostgreSQL source connection ended");
            }
        });
        Ok(Pg { client, conn, db })
    }

    pub(super) async fn tables(
        &mut self,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<SourceTable>, SourceError> {
        let rows = self
            .client
            .query(
                "SELECT c.table_schema::text, c.table_name::text, c.column_name::text, \
                        c.data_type::text, c.numeric_precision::int4, c.numeric_scale::int4 \
                 FROM information_schema.columns c \
                 JOIN information_schema.tables t \
                   ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                 WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') \
                   AND t.table_type IN ('BASE TABLE', 'VIEW') \
                 ORDER BY 1, 2, c.ordinal_position",
                &[],
            )
            .await
            .map_err(|e| pg_err(&self.db, &e))?;
        let mut out: Vec<SourceTable> = Vec::new();
        for r in rows {
            let get = |i: usize| -> Result<String, SourceError> {
                r.try_get::<_, String>(i).map_err(|e| pg_err(&self.db, &e))
            };
            let (schema, table, column, data_type) = (get(0)?, get(1)?, get(2)?, get(3)?);
            let name = format!("{schema}.{table}");
            if !wanted(&name) {
                continue;
            }
            let precision: Option<i32> = r.try_get(4).map_err(|e| pg_err(&self.db, &e))?;
            let scale: Option<i32> = r.try_get(5).map_err(|e| pg_err(&self.db, &e))?;
            let ty = map_type(&data_type, precision, scale).ok_or_else(|| {
                let declared = if data_type == "numeric" {
                    "numeric without a precision".to_string()
                } else {
                    data_type.clone()
                };
                SourceError(format!(
                    "column `{column}` of source table `{name}` has type `{declared}`, which has \
                     no faithful mapping; cast it in a view (numeric(p,s) up to 38 digits, text, \
                     …) and load the view, or leave the table out with `exclude`"
                ))
            })?;
            let col = SourceColumn {
                name: column.to_ascii_lowercase(),
                source: column,
                declared: data_type,
                ty,
            };
            add_listed_column(&mut out, name, Some(schema), table, col);
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
        let e = |e: tokio_postgres::Error| pg_err(&db, &e);
        let schema = table.schema.as_deref().unwrap_or("public");
        let from = format!("{}.{}", quote(schema), quote(&table.base));
        let select: Vec<String> = table
            .columns
            .iter()
            .map(|c| match c.ty {
                ColType::Decimal(..) | ColType::Text => format!("{}::text", quote(&c.source)),
                _ => quote(&c.source),
            })
            .collect();
        let mut sql = format!("SELECT {} FROM {from}", select.join(", "));
        let mut params: Vec<String> = Vec::new();
        let mut key_idx = Vec::new();
        let tx = self
            .client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(e)?;
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
                    if col.ty == ColType::Binary {
                        return Err(SourceError(format!(
                            "bookmark key `{k}` of source table `{}` is binary; bookmark keys \
                             must be numbers, text, dates or timestamps",
                            table.name
                        )));
                    }
                    keys.push((quote(&col.source), cast_name(col.ty)));
                }
            }
            let tuple: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
            let nulls: i64 = tx
                .query_one(&null_keys_sql(&from, &tuple), &[])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(e)?;
            refuse_null_keys(table, c, nulls)?;
            if let Some(after) = c.after {
                let op = beyond(c.order);
                let mut marks = Vec::new();
                for (n, (v, (_, cast))) in after.iter().zip(&keys).enumerate() {
                    marks.push(format!("CAST(${}::text AS {cast})", n + 1));
                    params.push(match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        other => {
                            return Err(SourceError(format!(
                                "the committed bookmark holds `{other}`, which is not a key value"
                            )));
                        }
                    });
                }
                sql.push_str(&format!(
                    " WHERE ({}) {op} ({})",
                    tuple.join(", "),
                    marks.join(", ")
                ));
            }
            sql.push_str(&order_by(&tuple, c.order));
        }
        let params: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let stream = tx.query_raw(&sql, params).await.map_err(e)?;
        pin_mut!(stream);
        let mut sink = RowSink::new(table, key_idx, to);
        while let Some(row) = stream.next().await {
            let row = row.map_err(e)?;
            sink.begin_row();
            for (i, col) in table.columns.iter().enumerate() {
                let (c, k) = cell(&row, i, col.ty, sink.is_key(i)).map_err(e)?;
                sink.push(i, c, k)?;
            }
            sink.end_row().await?;
        }
        let out = sink.finish().await?;
        tx.commit().await.map_err(e)?;
        Ok(out)
    }
}
