//! Metadata: the SQL info lakegate reports, catalogs, schemas and tables
//! filtered to what the caller may see, and key commands (lakegate's
//! catalog has no keys: empty results of the right shape, after checking
//! the caller may see every table named).

use super::*;

/// `CATALOG.SCHEMA[.TABLE]` of each row of a built listing (its first
/// `parts` columns, which the Flight SQL builders make strings), for the
/// audit line: what was sent, after the request's own filters.
pub(super) fn listed(batch: &RecordBatch, parts: usize) -> Vec<String> {
    use arrow::array::AsArray;
    let cols: Vec<_> = batch
        .columns()
        .iter()
        .take(parts)
        .filter_map(|c| c.as_string_opt::<i32>())
        .collect();
    if cols.len() != parts {
        return vec![format!(
            "({} rows of an unexpected shape)",
            batch.num_rows()
        )];
    }
    (0..batch.num_rows())
        .map(|r| {
            cols.iter()
                .map(|c| c.value(r))
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect()
}

/// Builds the SQL info the proxy reports.
pub(super) fn sql_info() -> Result<SqlInfoData, Status> {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "lakegate");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "59");
    b.append(SqlInfo::FlightSqlServerReadOnly, true);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(SqlInfo::FlightSqlServerTransaction, 0i32);
    b.append(SqlInfo::FlightSqlServerCancel, false);
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, false);
    b.append(SqlInfo::SqlDdlTable, false);
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.build()
        .map_err(|e| status(ProxyError::Internal(format!("sql info: {e}"))))
}

impl FlightProxy {
    pub(super) fn metadata_info<M: ProstMessageExt>(
        &self,
        cmd: M,
        descriptor: FlightDescriptor,
        schema: &Schema,
    ) -> Result<Response<FlightInfo>, Status> {
        let ticket = Ticket::new(cmd.as_any().encode_to_vec());
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(ProxyError::from)?
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    /// Visible databases and tables of the caller, each table with only its
    /// visible columns.
    pub(super) fn visible_tables(
        &self,
        caller: &Caller,
        want_db: Option<&str>,
    ) -> Result<Vec<(String, String, Schema)>, Status> {
        let mut out = Vec::new();
        let listed = self
            .gov
            .list_databases_and_tables(caller, want_db)
            .map_err(from_error)?;
        for (db, tables) in listed {
            for t in tables {
                let fields: Vec<Field> = t
                    .columns
                    .iter()
                    .map(|c| {
                        let dt = c.data_type.parse::<DataType>().unwrap_or(DataType::Utf8);
                        Field::new(&c.name, dt, true)
                    })
                    .collect();
                out.push((db.name.clone(), t.name.table.clone(), Schema::new(fields)));
            }
        }
        Ok(out)
    }

    /// Checks that the caller may see `DB.TABLE` named by a key command.
    pub(super) fn check_visible_table(
        &self,
        caller: &Caller,
        catalog: Option<&str>,
        db: Option<&str>,
        table: &str,
    ) -> Result<(), Status> {
        if catalog.is_some_and(|c| c != caller.account().as_str()) {
            return Err(from_error(policy_engine::Error::invalid(format!(
                "catalog `{}` was not found; your catalog is `{}`",
                catalog.unwrap_or_default(),
                caller.account()
            ))));
        }
        let Some(db) = db else {
            return Err(from_error(policy_engine::Error::invalid(
                "name the table's database (db_schema) as well as the table",
            )));
        };
        self.gov
            .describe_table(caller, &format!("{db}.{table}"))
            .map(|_| ())
            .map_err(from_error)
    }
}

/// (catalog, db_schema, table) named by a key command.
pub(super) type KeyTable = (Option<String>, Option<String>, String);

pub(super) fn cross_tables(q: &CommandGetCrossReference) -> [KeyTable; 2] {
    [
        (
            q.pk_catalog.clone(),
            q.pk_db_schema.clone(),
            q.pk_table.clone(),
        ),
        (
            q.fk_catalog.clone(),
            q.fk_db_schema.clone(),
            q.fk_table.clone(),
        ),
    ]
}

impl FlightProxy {
    /// Authenticates and checks the caller may see every table a key
    /// command names.
    pub(super) fn check_key_tables<T>(
        &self,
        request: &Request<T>,
        tables: &[KeyTable],
    ) -> Result<(), Status> {
        let caller = self.caller(request)?;
        for (catalog, db, table) in tables {
            self.check_visible_table(&caller, catalog.as_deref(), db.as_deref(), table)?;
        }
        Ok(())
    }

    pub(super) fn key_info<M: ProstMessageExt>(
        &self,
        request: &Request<FlightDescriptor>,
        tables: &[KeyTable],
        cmd: M,
        schema: &Schema,
    ) -> Result<Response<FlightInfo>, Status> {
        self.check_key_tables(request, tables)?;
        self.metadata_info(cmd, request.get_ref().clone(), schema)
    }

    /// lakegate's catalog has no keys: an empty result of the right shape.
    pub(super) fn key_rows(
        &self,
        request: &Request<Ticket>,
        tables: &[KeyTable],
        schema: Schema,
    ) -> Result<Response<BoxStream<FlightData>>, Status> {
        self.check_key_tables(request, tables)?;
        Ok(Response::new(Self::encode_batch(RecordBatch::new_empty(
            Arc::new(schema),
        ))))
    }
}

pub(super) fn primary_keys_schema() -> Schema {
    Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ])
}

pub(super) fn foreign_keys_schema() -> Schema {
    Schema::new(vec![
        Field::new("pk_catalog_name", DataType::Utf8, true),
        Field::new("pk_db_schema_name", DataType::Utf8, true),
        Field::new("pk_table_name", DataType::Utf8, false),
        Field::new("pk_column_name", DataType::Utf8, false),
        Field::new("fk_catalog_name", DataType::Utf8, true),
        Field::new("fk_db_schema_name", DataType::Utf8, true),
        Field::new("fk_table_name", DataType::Utf8, false),
        Field::new("fk_column_name", DataType::Utf8, false),
        Field::new("key_sequence", DataType::Int32, false),
        Field::new("fk_key_name", DataType::Utf8, true),
        Field::new("pk_key_name", DataType::Utf8, true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ])
}
