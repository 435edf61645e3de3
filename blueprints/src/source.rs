//! Database sources: list tables, map their columns, read rows into Arrow.
//!
//! A table is named `SCHEMA.TABLE` in PostgreSQL and `TABLE` in SQLite and
//! MySQL (whose URL names one database);
//! the blueprint's `include`/`exclude` patterns match those names.
//!
//! Incremental reads compare the bookmark keys as a tuple with the source's
//! own operators (`(k1, k2) > ($1, $2)`) and order by the same tuple, so the
//! boundary is exactly where the last committed row was: a row with the
//! same first key and a larger second one is loaded, the committed row is
//! not. The bookmark is kept in the source's own terms (the text a value
//! prints as, or an SQLite number), so it compares the same way next time.

mod mysql;
mod postgres;
mod sqlite;

use deltalake_core::arrow::array::RecordBatch;
use serde_json::Value;

use crate::columns::{BatchBuilder, Cell, SourceColumn};
use crate::spec::Order;

/// Rows per Arrow batch.
pub const BATCH_ROWS: usize = 8192;

/// A failure reading a source: the message says what and where, and never
/// holds a password.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// A source table and its columns.
#[derive(Debug, Clone)]
pub struct SourceTable {
    /// `SCHEMA.TABLE` (PostgreSQL) or `TABLE` (SQLite, MySQL).
    pub name: String,
    /// The table name without its schema.
    pub base: String,
    /// Its schema (PostgreSQL), kept apart: a schema name may hold a `.`.
    pub schema: Option<String>,
    /// Columns in table order, with the types they load as.
    pub columns: Vec<SourceColumn>,
}

/// Which rows an incremental read takes.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    /// Bookmark columns, compared as a tuple.
    pub keys: &'a [String],
    /// Beyond the largest tuple (`asc`) or before the smallest (`desc`).
    pub order: Order,
    /// The committed bookmark; `None` reads every row.
    pub after: Option<&'a [Value]>,
}

/// What a read produced.
#[derive(Debug, Default)]
pub struct ReadOut {
    /// The rows not sent to a writer.
    pub batches: Vec<RecordBatch>,
    /// How many.
    pub rows: u64,
    /// Approximate bytes of their values.
    pub bytes: u64,
    /// The last row's bookmark tuple, when a cursor was given and rows were read.
    pub last_key: Option<Vec<Value>>,
}

/// An open source database.
pub enum Source {
    /// PostgreSQL, through tokio-postgres.
    Postgres(postgres::Pg),
    /// An SQLite file.
    Sqlite(sqlite::Lite),
    /// MySQL or MariaDB, through mysql_async.
    MySql(mysql::MySql),
}

impl Source {
    /// Connects to `url`, with the password from `password` if any.
    pub async fn connect(url: &str, password: Option<String>) -> Result<Source, SourceError> {
        let scheme = url.split_once("://").map_or("", |(s, _)| s);
        match scheme {
            "postgres" | "postgresql" => Ok(Source::Postgres(
                postgres::Pg::connect(url, password).await?,
            )),
            "sqlite" => Ok(Source::Sqlite(sqlite::Lite::open(url)?)),
            "mysql" => Ok(Source::MySql(mysql::MySql::connect(url, password).await?)),
            other => Err(SourceError(format!(
                "`{other}://` is not a database source"
            ))),
        }
    }

    /// Every table and view of the source, with its columns mapped.
    /// A column whose type has no faithful mapping is an error naming the
    /// table, the column and the type.
    pub async fn tables(
        &mut self,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Vec<SourceTable>, SourceError> {
        match self {
            Source::Postgres(pg) => pg.tables(wanted).await,
            Source::Sqlite(l) => l.tables(wanted),
            Source::MySql(m) => m.tables(wanted).await,
        }
    }

    /// Reads `table`'s rows (those beyond `cursor`, when given), in one
    /// consistent snapshot of the source. PostgreSQL and MySQL send full
    /// batches to `to` as they read, when given; SQLite (a local file)
    /// returns its batches in the result.
    pub async fn read(
        &mut self,
        table: &SourceTable,
        cursor: Option<&Cursor<'_>>,
        to: Option<BatchOut>,
    ) -> Result<ReadOut, SourceError> {
        match self {
            Source::Postgres(pg) => pg.read(table, cursor, to).await,
            Source::Sqlite(l) => l.read(table, cursor),
            Source::MySql(m) => m.read(table, cursor, to).await,
        }
    }
}

/// Quotes an identifier for SQL (`"` doubled).
pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// `SELECT count(*) FROM {from} WHERE k1 IS NULL OR …`: rows the cursor
/// could not place.
pub(crate) fn null_keys_sql(from: &str, keys: &[&str]) -> String {
    let any_null: Vec<String> = keys.iter().map(|k| format!("{k} IS NULL")).collect();
    format!(
        "SELECT count(*) FROM {from} WHERE {}",
        any_null.join(" OR ")
    )
}

/// The error for `nulls` rows with a NULL bookmark key (none: `Ok`).
pub(crate) fn refuse_null_keys(
    table: &SourceTable,
    cursor: &Cursor<'_>,
    nulls: i64,
) -> Result<(), SourceError> {
    if nulls == 0 {
        return Ok(());
    }
    Err(SourceError(format!(
        "{nulls} rows of source table `{}` have a NULL bookmark key ({}); an incremental load \
         cannot place them, so give the keys values or load the table as a snapshot",
        table.name,
        cursor.keys.join(", ")
    )))
}

/// The tuple comparison beyond the bookmark: `>` ascending, `<` descending.
pub(crate) fn beyond(order: Order) -> &'static str {
    if order == Order::Asc { ">" } else { "<" }
}

/// ` ORDER BY k1 DIR, k2 DIR`.
pub(crate) fn order_by(keys: &[&str], order: Order) -> String {
    let dir = if order == Order::Asc { "ASC" } else { "DESC" };
    let keys: Vec<String> = keys.iter().map(|k| format!("{k} {dir}")).collect();
    format!(" ORDER BY {}", keys.join(", "))
}

/// Checks a cursor against the table: every key is a column, and the
/// committed bookmark has one value per key.
pub(crate) fn check_cursor(table: &SourceTable, cursor: &Cursor<'_>) -> Result<(), SourceError> {
    for k in cursor.keys {
        if !table.columns.iter().any(|c| c.name == *k) {
            return Err(SourceError(format!(
                "bookmark key `{k}` is not a column of source table `{}`; its columns are: {}",
                table.name,
                table
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    if let Some(after) = cursor.after
        && after.len() != cursor.keys.len()
    {
        return Err(SourceError(format!(
            "the committed bookmark of table `{}` has {} values but the blueprint names {} keys; \
             the keys changed since the last run, so run it as a new blueprint",
            table.name,
            after.len(),
            cursor.keys.len()
        )));
    }
    Ok(())
}

/// Adds a listed column to its table (the listing is ordered by table).
pub(crate) fn add_listed_column(
    out: &mut Vec<SourceTable>,
    name: String,
    schema: Option<String>,
    base: String,
    col: SourceColumn,
) {
    match out.last_mut() {
        Some(t) if t.name == name => t.columns.push(col),
        _ => out.push(SourceTable {
            name,
            schema,
            base,
            columns: vec![col],
        }),
    }
}

/// Where a read's batches go as they fill: to the table's writer, which
/// holds few of them at a time. Without one, the read keeps them.
pub type BatchOut = tokio::sync::mpsc::Sender<RecordBatch>;

/// Collects a table's rows into Arrow batches, with the bookmark tuple of
/// the last row; shared by the database readers.
pub(crate) struct RowSink<'a> {
    table: &'a SourceTable,
    key_idx: Vec<usize>,
    key: Vec<Value>,
    b: BatchBuilder,
    out: ReadOut,
    row_no: u64,
    to: Option<BatchOut>,
    sent: bool,
}

impl<'a> RowSink<'a> {
    /// A sink for `table`, keeping the values of columns `key_idx` (in
    /// bookmark order) as each row's bookmark.
    /// Full batches go to `to` when given.
    pub(crate) fn new(table: &'a SourceTable, key_idx: Vec<usize>, to: Option<BatchOut>) -> Self {
        Self {
            table,
            key: vec![Value::Null; key_idx.len()],
            key_idx,
            b: BatchBuilder::new(&table.columns),
            out: ReadOut::default(),
            row_no: 0,
            to,
            sent: false,
        }
    }

    async fn emit(&mut self, batch: RecordBatch) -> Result<(), SourceError> {
        match &self.to {
            Some(to) => {
                self.sent = true;
                to.send(batch).await.map_err(|_| {
                    SourceError(format!(
                        "the writer of source table `{}` stopped",
                        self.table.name
                    ))
                })
            }
            None => {
                self.out.batches.push(batch);
                Ok(())
            }
        }
    }

    /// Whether column `i` is a bookmark key (its bookmark form is needed).
    pub(crate) fn is_key(&self, i: usize) -> bool {
        self.key_idx.contains(&i)
    }

    /// Starts the next row; returns its number (from 1), for messages.
    pub(crate) fn begin_row(&mut self) -> u64 {
        self.row_no += 1;
        self.row_no
    }

    /// Column `i` of the current row, with its bookmark form if a key.
    pub(crate) fn push(
        &mut self,
        i: usize,
        cell: Cell<'_>,
        key: Option<Value>,
    ) -> Result<(), SourceError> {
        self.b.push(i, cell).map_err(|m| {
            SourceError(format!(
                "source table `{}`, row {}: {m}",
                self.table.name, self.row_no
            ))
        })?;
        for (slot, ki) in self.key.iter_mut().zip(&self.key_idx) {
            if *ki == i {
                *slot = key.clone().unwrap_or(Value::Null);
            }
        }
        Ok(())
    }

    /// Ends the current row.
    pub(crate) async fn end_row(&mut self) -> Result<(), SourceError> {
        self.b.end_row();
        if !self.key_idx.is_empty() {
            self.out.last_key = Some(self.key.clone());
        }
        if self.b.rows() >= BATCH_ROWS {
            let batch = self.b.finish().map_err(SourceError)?;
            self.emit(batch).await?;
        }
        Ok(())
    }

    /// The rows read (an empty batch, for its schema, when there were none).
    pub(crate) async fn finish(mut self) -> Result<ReadOut, SourceError> {
        if self.b.rows() > 0 || (self.out.batches.is_empty() && !self.sent) {
            let batch = self.b.finish().map_err(SourceError)?;
            self.emit(batch).await?;
        }
        self.out.rows = self.row_no;
        self.out.bytes = self.b.bytes();
        Ok(self.out)
    }
}
