//! The engine's errors. Messages are lower case, name the user's input in
//! backticks and say what to do next.

use datafusion::error::DataFusionError;

/// What went wrong in the embedded engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The request or the data it names is not usable (INVALID_ARGUMENT):
    /// a missing location, no files, a bad column name, an inconsistent
    /// partition layout, a query that does not plan.
    #[error("{0}")]
    InvalidArgument(String),
    /// The statement is not allowed by the engine (PERMISSION_DENIED is not
    /// right here: nobody may run it), e.g. DDL, COPY or SET.
    #[error("{0}")]
    NotAllowed(String),
    /// The files no longer match the catalog, or the catalog is not in a
    /// state the engine can serve (FAILED_PRECONDITION).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Something the engine does not support, e.g. an `s3://` location.
    #[error("{0}")]
    Unsupported(String),
    /// The statement needs more memory than it may use, or the server's
    /// memory for statements is in use (RESOURCE_EXHAUSTED).
    #[error("{0}")]
    ResourceExhausted(String),
    /// The statement ran past its deadline (DEADLINE_EXCEEDED).
    #[error("{0}")]
    DeadlineExceeded(String),
    /// A bug in lakegate (INTERNAL).
    #[error("internal error in the query engine: {0}")]
    Internal(String),
}

impl EngineError {
    /// An [`EngineError::InvalidArgument`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        EngineError::InvalidArgument(msg.into())
    }
    /// An [`EngineError::Internal`].
    pub fn internal(msg: impl Into<String>) -> Self {
        EngineError::Internal(msg.into())
    }

    /// Maps a DataFusion error raised while planning or running a query.
    ///
    /// Plan, schema, SQL and execution errors come from the query or the
    /// data and are the user's to fix; `Internal`/`NotImplemented` stay
    /// distinguishable so they can be logged as bugs.
    pub fn from_datafusion(e: DataFusionError) -> Self {
        // Our own errors raised inside DataFusion (e.g. files that no longer
        // match the catalog) come back unchanged.
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = cur {
            if let Some(ours) = err.downcast_ref::<EngineError>() {
                return ours.clone();
            }
            cur = err.source();
        }
        let root = e.find_root();
        match root {
            DataFusionError::Internal(m) => EngineError::Internal(m.clone()),
            DataFusionError::ResourcesExhausted(m) => EngineError::ResourceExhausted(m.clone()),
            DataFusionError::NotImplemented(m) => {
                EngineError::Unsupported(format!("{}; rewrite the query without it", lower(m)))
            }
            DataFusionError::SQL(e, _) => {
                EngineError::InvalidArgument(format!("the query does not parse: {e}; fix the SQL"))
            }
            DataFusionError::Plan(m) => {
                EngineError::InvalidArgument(format!("the query cannot be planned: {m}"))
            }
            DataFusionError::SchemaError(e, _) => {
                EngineError::InvalidArgument(format!("the query cannot be planned: {e}"))
            }
            DataFusionError::ObjectStore(e) => EngineError::FailedPrecondition(format!(
                "the table's files cannot be read: {e}; check the table's location"
            )),
            DataFusionError::IoError(e) => EngineError::FailedPrecondition(format!(
                "the table's files cannot be read: {e}; check the table's location"
            )),
            DataFusionError::Execution(m) => EngineError::InvalidArgument(m.clone()),
            other => EngineError::InvalidArgument(format!("the query failed: {other}")),
        }
    }
}

fn lower(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

impl From<EngineError> for policy_engine::Error {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::InvalidArgument(m) => policy_engine::Error::InvalidArgument(m),
            EngineError::NotAllowed(m) => policy_engine::Error::InvalidArgument(m),
            EngineError::Unsupported(m) => policy_engine::Error::InvalidArgument(m),
            EngineError::FailedPrecondition(m) => policy_engine::Error::FailedPrecondition(m),
            // policy-engine has no such codes; callers that can should map
            // these with their own status (see `lakegate_engine::status`).
            EngineError::ResourceExhausted(m) | EngineError::DeadlineExceeded(m) => {
                policy_engine::Error::FailedPrecondition(m)
            }
            EngineError::Internal(m) => policy_engine::Error::Internal(m),
        }
    }
}

impl EngineError {
    /// The policy-engine error this maps to (bad input → `InvalidArgument`,
    /// stale files → `FailedPrecondition`, bugs → `Internal`).
    pub fn to_policy_error(&self) -> policy_engine::Error {
        match self {
            EngineError::InvalidArgument(m)
            | EngineError::NotAllowed(m)
            | EngineError::Unsupported(m) => policy_engine::Error::InvalidArgument(m.clone()),
            EngineError::FailedPrecondition(m)
            | EngineError::ResourceExhausted(m)
            | EngineError::DeadlineExceeded(m) => {
                policy_engine::Error::FailedPrecondition(m.clone())
            }
            EngineError::Internal(m) => policy_engine::Error::Internal(m.clone()),
        }
    }
}
