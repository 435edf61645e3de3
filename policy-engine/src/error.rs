//! The policy engine's errors. Messages are lower case, name the user's input
//! in backticks and say what to do next.

/// Result with the policy engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong. The gRPC layer maps each variant to one status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The request is malformed or names something that is not there
    /// (INVALID_ARGUMENT). Hidden tables and columns are reported with this
    /// variant too, exactly like missing ones (DESIGN §3 rule 12).
    #[error("{0}")]
    InvalidArgument(String),
    /// The object to create exists already (ALREADY_EXISTS).
    #[error("{0}")]
    AlreadyExists(String),
    /// The caller may see the object but lacks a permission (PERMISSION_DENIED).
    #[error("{0}")]
    PermissionDenied(String),
    /// The request needs a state it is not in, e.g. a tag value still in use
    /// (FAILED_PRECONDITION).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The store changed while the request was being decided; retry (ABORTED).
    #[error("the catalog changed while this request was being applied; retry it")]
    Conflict,
    /// The store cannot be read or written; every request is denied until it
    /// can (UNAVAILABLE).
    #[error("the governance store is unavailable ({0}); requests are denied until it is back")]
    StoreUnavailable(String),
    /// A bug in lakegate (INTERNAL). Details go to the log, not the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// An [`Error::InvalidArgument`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
    /// An [`Error::PermissionDenied`].
    pub fn denied(msg: impl Into<String>) -> Self {
        Error::PermissionDenied(msg.into())
    }
    /// An [`Error::Internal`].
    pub fn internal(msg: impl Into<String>) -> Self {
        Error::Internal(msg.into())
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::StoreUnavailable(e.to_string())
    }
}
