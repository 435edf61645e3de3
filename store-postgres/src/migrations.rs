//! Versioned schema migrations. `lakegate_schema` records how many ran; a
//! store whose schema is newer than this binary is refused, so an old node
//! never writes a state it does not understand.

use policy_engine::{Error, Result};
use tokio_postgres::Client;

/// Migrations, applied in order; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE lakegate_meta (k TEXT PRIMARY KEY, v BIGINT NOT NULL);
     INSERT INTO lakegate_meta (k, v) VALUES ('version', 0);
     CREATE TABLE lakegate_objects (
        kind TEXT NOT NULL,
        key  TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, key)
     );
     CREATE TABLE lakegate_keys (name TEXT PRIMARY KEY, value BYTEA NOT NULL);",
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// An arbitrary constant: the advisory lock that serialises migrations of
/// nodes starting at once.
const MIGRATION_LOCK: i64 = 0x6c61_6b65_6761_7465;

/// The schema version the store holds, without writing: `None` if it has
/// no lakegate schema yet.
async fn current(client: &Client, label: &str) -> Result<Option<i32>> {
    let err = |e: tokio_postgres::Error| crate::pool::error(label, &e);
    let exists: bool = client
        .query_one("SELECT to_regclass('lakegate_schema') IS NOT NULL", &[])
        .await
        .map_err(err)?
        .try_get(0)
        .map_err(err)?;
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt("SELECT version FROM lakegate_schema WHERE id = 1", &[])
        .await
        .map_err(err)?;
    row.map(|r| r.try_get(0).map_err(err)).transpose()
}

/// Applies the pending migrations in one transaction. A store already at
/// this binary's version is only read, so nodes that only read the catalog
/// need no write right on the schema.
pub(crate) async fn apply(client: &mut Client, label: &str) -> Result<()> {
    match current(client, label).await? {
        Some(have) if have == SCHEMA_VERSION => return Ok(()),
        Some(have) if have > SCHEMA_VERSION => {
            return Err(Error::StoreUnavailable(format!(
                "store `{label}` has schema version {have}, newer than this lakegate \
                 understands ({SCHEMA_VERSION}); upgrade lakegate"
            )));
        }
        _ => {}
    }
    let err = |e: tokio_postgres::Error| crate::pool::error(label, &e);
    let tx = client.transaction().await.map_err(err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(err)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS lakegate_schema (
            id INT PRIMARY KEY CHECK (id = 1),
            version INT NOT NULL
         )",
    )
    .await
    .map_err(err)?;
    let have: i32 = match tx
        .query_opt("SELECT version FROM lakegate_schema WHERE id = 1", &[])
        .await
        .map_err(err)?
    {
        Some(row) => row.try_get(0).map_err(err)?,
        None => 0,
    };
    if have > SCHEMA_VERSION {
        return Err(Error::StoreUnavailable(format!(
            "store `{label}` has schema version {have}, newer than this lakegate understands \
             ({SCHEMA_VERSION}); upgrade lakegate"
        )));
    }
    let pending = usize::try_from(have).unwrap_or(0);
    for sql in MIGRATIONS.iter().skip(pending) {
        tx.batch_execute(sql).await.map_err(err)?;
    }
    tx.execute(
        "INSERT INTO lakegate_schema (id, version) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version",
        &[&SCHEMA_VERSION],
    )
    .await
    .map_err(err)?;
    tx.commit().await.map_err(err)?;
    Ok(())
}
