//! `lakegate engine`: the embedded engine as a plain, unauthenticated Flight
//! SQL server (DESIGN §5). Only lakegate should be able to reach it.
//!
//! Statement handles carry the SQL text itself: the server is stateless, so
//! any replica can serve any ticket.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandStatementQuery, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, IpcMessage, SchemaAsIpc,
    Ticket,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::arrow::record_batch::RecordBatch;
use futures::{Stream, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use crate::engine::Engine;
use crate::error::EngineError;

type DoGetStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;

/// Prefix of statement and prepared-statement handles.
const HANDLE_PREFIX: &[u8] = b"lakegate-sql:";

/// Flight SQL over an [`Engine`], without authentication.
#[derive(Clone)]
pub struct EngineFlightService {
    engine: Arc<Engine>,
    sql_info: Arc<SqlInfoData>,
}

impl std::fmt::Debug for EngineFlightService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineFlightService")
            .finish_non_exhaustive()
    }
}

impl EngineFlightService {
    /// A service over `engine`.
    pub fn new(engine: Arc<Engine>) -> Result<Self, EngineError> {
        let mut b = SqlInfoDataBuilder::new();
        b.append(SqlInfo::FlightSqlServerName, "lakegate engine");
        b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
        b.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
        b.append(SqlInfo::FlightSqlServerReadOnly, true);
        b.append(SqlInfo::FlightSqlServerSql, true);
        b.append(SqlInfo::FlightSqlServerSubstrait, false);
        b.append(SqlInfo::FlightSqlServerTransaction, 0_i32);
        b.append(SqlInfo::FlightSqlServerCancel, false);
        b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
        b.append(SqlInfo::SqlDdlCatalog, false);
        b.append(SqlInfo::SqlDdlSchema, false);
        b.append(SqlInfo::SqlDdlTable, false);
        let sql_info = b
            .build()
            .map_err(|e| EngineError::internal(format!("sql info: {e}")))?;
        Ok(Self {
            engine,
            sql_info: Arc::new(sql_info),
        })
    }

    /// The tonic service to add to a server.
    pub fn into_server(self) -> FlightServiceServer<Self> {
        FlightServiceServer::new(self)
    }
}

/// Serves `engine` over Flight SQL on `listener` until `shutdown` completes.
pub async fn serve_engine(
    engine: Arc<Engine>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), EngineError> {
    let service = EngineFlightService::new(engine)?;
    // Small request/response messages: do not wait for Nagle (a 40 ms stall per call otherwise).
    let incoming = tokio_stream::StreamExt::map(
        tokio_stream::wrappers::TcpListenerStream::new(listener),
        |conn| {
            conn.inspect(|s| {
                let _ = s.set_nodelay(true);
            })
        },
    );
    tonic::transport::Server::builder()
        .add_service(service.into_server())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| EngineError::internal(format!("flight server: {e}")))
}

/// The one place engine errors become gRPC statuses.
pub fn status(e: EngineError) -> Status {
    match e {
        EngineError::InvalidArgument(m) | EngineError::NotAllowed(m) => Status::invalid_argument(m),
        EngineError::Unsupported(m) => Status::unimplemented(m),
        EngineError::FailedPrecondition(m) => Status::failed_precondition(m),
        EngineError::ResourceExhausted(m) => Status::resource_exhausted(m),
        EngineError::DeadlineExceeded(m) => Status::deadline_exceeded(m),
        EngineError::Internal(m) => {
            tracing::error!(error = %m, "internal error in the query engine");
            Status::internal("internal error in the query engine; see the server log")
        }
    }
}

fn handle_for(sql: &str) -> prost::bytes::Bytes {
    let mut v = HANDLE_PREFIX.to_vec();
    v.extend_from_slice(sql.as_bytes());
    v.into()
}

fn sql_of(handle: &[u8]) -> Result<String, Status> {
    handle
        .strip_prefix(HANDLE_PREFIX)
        .and_then(|b| std::str::from_utf8(b).ok())
        .map(str::to_string)
        .ok_or_else(|| {
            Status::invalid_argument(
                "the statement handle was not issued by this server; run the query again",
            )
        })
}

fn flight_info(
    schema: &SchemaRef,
    ticket: Vec<u8>,
    descriptor: FlightDescriptor,
) -> Result<FlightInfo, Status> {
    let endpoint = FlightEndpoint::new().with_ticket(Ticket {
        ticket: ticket.into(),
    });
    Ok(FlightInfo::new()
        .try_with_schema(schema.as_ref())
        .map_err(|e| Status::internal(format!("encoding schema: {e}")))?
        .with_endpoint(endpoint)
        .with_descriptor(descriptor))
}

fn one_batch(schema: SchemaRef, batch: Result<RecordBatch, Status>) -> Response<DoGetStream> {
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::once(async move {
            batch.map_err(|s| FlightError::Tonic(Box::new(s)))
        }))
        .map_err(Status::from);
    Response::new(Box::pin(stream))
}

impl EngineFlightService {
    async fn run(&self, sql: &str) -> Result<Response<DoGetStream>, Status> {
        let query = self.engine.prepare(sql).await.map_err(status)?;
        let schema = query.schema();
        let batches = query
            .execute()
            .await
            .map_err(status)?
            .map_err(|e| FlightError::Tonic(Box::new(status(EngineError::from_datafusion(e)))));
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(Status::from);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn schema_of(&self, sql: &str) -> Result<SchemaRef, Status> {
        Ok(self.engine.prepare(sql).await.map_err(status)?.schema())
    }
}

#[tonic::async_trait]
impl FlightSqlService for EngineFlightService {
    type FlightService = EngineFlightService;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = self.schema_of(&query.query).await?;
        let ticket = TicketStatementQuery {
            statement_handle: handle_for(&query.query),
        };
        let info = flight_info(
            &schema,
            ticket.as_any().encode_to_vec(),
            request.into_inner(),
        )?;
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let sql = sql_of(&ticket.statement_handle)?;
        self.run(&sql).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let schema = self.schema_of(&query.query).await?;
        let IpcMessage(dataset_schema) =
            SchemaAsIpc::new(schema.as_ref(), &IpcWriteOptions::default())
                .try_into()
                .map_err(|e| Status::internal(format!("encoding schema: {e}")))?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle_for(&query.query),
            dataset_schema,
            parameter_schema: Default::default(),
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        sql_of(&query.prepared_statement_handle).map(|_| ())
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let sql = sql_of(&cmd.prepared_statement_handle)?;
        let schema = self.schema_of(&sql).await?;
        let info = flight_info(&schema, cmd.as_any().encode_to_vec(), request.into_inner())?;
        Ok(Response::new(info))
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let sql = sql_of(&cmd.prepared_statement_handle)?;
        self.run(&sql).await
    }

    async fn do_put_prepared_statement_query(
        &self,
        _query: CommandPreparedStatementQuery,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<arrow_flight::sql::DoPutPreparedStatementResult, Status> {
        Err(Status::unimplemented(
            "prepared statement parameters are not supported by `lakegate engine`; write the \
             values into the SQL text",
        ))
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        let info = flight_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )?;
        Ok(Response::new(info))
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let mut b = query.into_builder();
        let mut last: Option<String> = None;
        for t in self.engine.tables() {
            if last.as_deref() != Some(t.account.as_str()) {
                b.append(t.account.as_str());
                last = Some(t.account.to_string());
            }
        }
        let schema = b.schema();
        Ok(one_batch(schema, b.build().map_err(Status::from)))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        let info = flight_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )?;
        Ok(Response::new(info))
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let mut b = query.into_builder();
        let mut seen = std::collections::BTreeSet::new();
        for t in self.engine.tables() {
            if seen.insert((t.account.to_string(), t.name.database.clone())) {
                b.append(t.account.as_str(), &t.name.database);
            }
        }
        let schema = b.schema();
        Ok(one_batch(schema, b.build().map_err(Status::from)))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        let info = flight_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )?;
        Ok(Response::new(info))
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let mut b = query.into_builder();
        for t in self.engine.tables() {
            b.append(
                t.account.as_str(),
                &t.name.database,
                &t.name.table,
                "TABLE",
                t.schema.as_ref(),
            )
            .map_err(Status::from)?;
        }
        let schema = b.schema();
        Ok(one_batch(schema, b.build().map_err(Status::from)))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        let info = flight_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )?;
        Ok(Response::new(info))
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let mut b = query.into_builder();
        b.append("TABLE");
        let schema = b.schema();
        Ok(one_batch(schema, b.build().map_err(Status::from)))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&self.sql_info).schema();
        let info = flight_info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )?;
        Ok(Response::new(info))
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<DoGetStream>, Status> {
        let b = query.into_builder(&self.sql_info);
        let schema = b.schema();
        Ok(one_batch(schema, b.build().map_err(Status::from)))
    }

    async fn get_flight_info_fallback(
        &self,
        cmd: arrow_flight::sql::Command,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Err(Status::unimplemented(format!(
            "`{}` is not supported by `lakegate engine`",
            cmd.type_url()
        )))
    }

    async fn do_handshake(
        &self,
        _request: Request<Streaming<arrow_flight::HandshakeRequest>>,
    ) -> Result<
        Response<
            Pin<Box<dyn Stream<Item = Result<arrow_flight::HandshakeResponse, Status>> + Send>>,
        >,
        Status,
    > {
        // No authentication: answer the handshake with an empty token.
        let out = futures::stream::once(async {
            Ok(arrow_flight::HandshakeResponse {
                protocol_version: 0,
                payload: Default::default(),
            })
        });
        Ok(Response::new(Box::pin(out)))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

#[cfg(test)]
mod tests;
