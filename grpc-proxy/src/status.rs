//! The one place where an error of a request becomes a gRPC status.
//!
//! Every failure of a Flight SQL request is a [`ProxyError`]; [`status`]
//! maps it to the status the client sees. Each match is exhaustive with no
//! catch-all arm, so a new error variant (of the proxy, the policy engine
//! or the engine) does not compile until someone decides its status code.
//! Internal details (bugs, store failures, an upstream's internal errors
//! and its address) go to the log, never to the client.
//!
//! An upstream engine's status code is passed on as it is, with its message
//! prefixed so the client knows which side spoke.

use std::time::Duration;

use lakegate_engine::EngineError;
use policy_engine::Error;
use tonic::{Code, Status};

/// Everything a request to the proxy can fail with.
#[derive(Debug)]
pub enum ProxyError {
    /// A governance decision or failure (the policy engine's error).
    Policy(Error),
    /// The embedded engine refused, failed or stopped the statement.
    Engine(EngineError),
    /// The upstream engine answered with this status.
    Upstream(Status),
    /// The statement ran past `--statement-timeout` (the duration) and was
    /// stopped.
    Deadline(Duration),
    /// The decision's audit line could not be written, so the decision
    /// does not take effect.
    Audit(crate::audit::AuditUnwritable),
    /// A resource limit: which flag, its value, and what was asked for.
    Limit {
        /// The flag that sets it, e.g. `--max-result-rows`.
        flag: &'static str,
        /// What went over it, e.g. "the result has more than 1000 rows".
        what: String,
        /// What to do instead.
        todo: &'static str,
    },
    /// A request lakegate does not serve: what it was, and what to do.
    Refused {
        /// What was refused, e.g. "a Substrait plan".
        what: String,
        /// What to do instead.
        todo: &'static str,
    },
    /// A ticket or handle that names nothing lakegate can run; the message
    /// says what to do.
    BadTicket(&'static str),
    /// No usable credential; the message says what to send.
    Unauthenticated(String),
    /// Building or encoding a response failed: a bug in lakegate. The detail
    /// is logged.
    Internal(String),
}

impl From<Error> for ProxyError {
    fn from(e: Error) -> Self {
        ProxyError::Policy(e)
    }
}

impl From<EngineError> for ProxyError {
    fn from(e: EngineError) -> Self {
        ProxyError::Engine(e)
    }
}

impl From<arrow::error::ArrowError> for ProxyError {
    fn from(e: arrow::error::ArrowError) -> Self {
        ProxyError::Internal(format!("arrow: {e}"))
    }
}

impl From<arrow_flight::error::FlightError> for ProxyError {
    /// Building a metadata or result batch failed: a bug.
    fn from(e: arrow_flight::error::FlightError) -> Self {
        ProxyError::Internal(format!("flight: {e}"))
    }
}

impl From<ProxyError> for Status {
    fn from(e: ProxyError) -> Self {
        status(e)
    }
}

/// Maps a request's error to the gRPC status the client sees.
pub fn status(err: ProxyError) -> Status {
    match err {
        ProxyError::Policy(e) => from_error(e),
        ProxyError::Engine(e) => engine(e),
        ProxyError::Upstream(s) => upstream(&s),
        ProxyError::Deadline(timeout) => Status::deadline_exceeded(format!(
            "the statement ran longer than {} ms (set with `--statement-timeout`) and was \
             stopped; make it cheaper, e.g. filter earlier or aggregate less",
            timeout.as_millis()
        )),
        ProxyError::Audit(e) => {
            tracing::error!("decision denied: {e}");
            Status::unavailable(
                "the audit log cannot be written, so this decision was denied (lakegate does not \
                 serve what it cannot record); the operator must free the audit log's disk or fix \
                 its file, or run with --audit-best-effort",
            )
        }
        ProxyError::Limit { flag, what, todo } => {
            crate::metrics::metrics().limit_refusal();
            Status::resource_exhausted(format!("{what}, over the limit `{flag}`; {todo}"))
        }
        ProxyError::Refused { what, todo } => {
            Status::permission_denied(format!("{what} is not allowed through lakegate; {todo}"))
        }
        ProxyError::BadTicket(m) => Status::invalid_argument(m),
        ProxyError::Unauthenticated(m) => Status::unauthenticated(m),
        ProxyError::Internal(detail) => internal(&detail),
    }
}

/// Maps a policy-engine error to the gRPC status the client sees.
pub fn from_error(err: Error) -> Status {
    match err {
        Error::InvalidArgument(m) => Status::invalid_argument(m),
        Error::AlreadyExists(m) => Status::already_exists(m),
        Error::PermissionDenied(m) => Status::permission_denied(m),
        Error::FailedPrecondition(m) => Status::failed_precondition(m),
        e @ Error::Conflict => Status::aborted(e.to_string()),
        Error::StoreUnavailable(detail) => {
            tracing::error!(%detail, "governance store unavailable; denying the request");
            Status::unavailable(
                "the governance store is unavailable; requests are denied until it is back \
                 (details are in the server log)",
            )
        }
        Error::Internal(detail) => internal(&detail),
    }
}

fn internal(detail: &str) -> Status {
    tracing::error!(%detail, "internal error (a bug in lakegate)");
    Status::internal("internal error in lakegate; this is a bug, details are in the server log")
}

/// The embedded engine's errors. Errors of the caller's own statement
/// (including those that happen while it streams, e.g. a division by zero
/// on a visible row) are INVALID_ARGUMENT with the engine's message.
fn engine(e: EngineError) -> Status {
    match e {
        EngineError::InvalidArgument(m) | EngineError::Unsupported(m) => {
            Status::invalid_argument(m)
        }
        EngineError::NotAllowed(m) => Status::invalid_argument(m),
        EngineError::FailedPrecondition(m) => Status::failed_precondition(m),
        EngineError::ResourceExhausted(m) => Status::resource_exhausted(m),
        EngineError::DeadlineExceeded(m) => Status::deadline_exceeded(m),
        EngineError::Internal(detail) => internal(&detail),
    }
}

/// An upstream's status, code kept. Its message reaches the client when it
/// is about the statement; when the upstream is unreachable, failed
/// internally or refused lakegate's own credentials, the client gets what
/// to do and the log gets the detail (which may name hosts and paths).
fn upstream(s: &Status) -> Status {
    let code = s.code();
    let said = || format!("the query engine: {}", s.message());
    match code {
        Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::FailedPrecondition
        | Code::OutOfRange
        | Code::Unimplemented
        | Code::ResourceExhausted
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::Cancelled
        | Code::PermissionDenied => Status::new(code, said()),
        Code::Unavailable => {
            tracing::warn!(detail = %s.message(), "upstream query engine unavailable");
            Status::unavailable(
                "the upstream query engine is unreachable; check that it runs and that \
                 `lakegate serve --upstream` points at it (details are in the server log)",
            )
        }
        Code::Unauthenticated => {
            tracing::error!(detail = %s.message(), "upstream refused lakegate's credentials");
            Status::unauthenticated(
                "the upstream query engine refused lakegate's own credentials (your token \
                 was accepted); ask the operator to check the sidecar's upstream settings",
            )
        }
        Code::Internal | Code::Unknown | Code::DataLoss | Code::Ok => {
            tracing::error!(code = ?code, detail = %s.message(), "upstream query engine failed");
            Status::new(
                if code == Code::Ok {
                    Code::Internal
                } else {
                    code
                },
                "the upstream query engine failed internally; details are in lakegate's log",
            )
        }
    }
}

/// The status for an upstream's `s` that broke a result while it was
/// streaming, if `s` says the connection was lost (the engine died, the
/// network broke): the result is cut short. `None` for a status the
/// engine sent, which maps as any other upstream status.
pub fn lost_mid_stream(s: &Status) -> Option<Status> {
    if !lost_connection(s) {
        return None;
    }
    tracing::warn!(code = ?s.code(), detail = %s.message(), "lost the upstream query engine mid-statement");
    Some(Status::unavailable(
        "lost the connection to the upstream query engine while the result was streaming; \
         the statement was stopped, and the rows already sent are an incomplete result; retry \
         once the engine is back (details are in the server log)",
    ))
}

/// Whether `s` was made here from a failed connection (tonic keeps the
/// transport error as the source; a status the upstream sent has none),
/// e.g. the engine died while a result streamed.
fn lost_connection(s: &Status) -> bool {
    // Not CANCELLED: tonic also makes that from a local timeout.
    matches!(s.code(), Code::Unknown | Code::Internal | Code::Unavailable)
        && std::error::Error::source(s).is_some()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, reason = "test code")]
    use super::*;

    #[test]
    fn codes() {
        let cases = [
            (Error::invalid("x"), Code::InvalidArgument),
            (Error::AlreadyExists("x".into()), Code::AlreadyExists),
            (Error::denied("x"), Code::PermissionDenied),
            (
                Error::FailedPrecondition("x".into()),
                Code::FailedPrecondition,
            ),
            (Error::Conflict, Code::Aborted),
            (
                Error::StoreUnavailable("secret path".into()),
                Code::Unavailable,
            ),
            (Error::internal("secret detail"), Code::Internal),
        ];
        for (e, code) in cases {
            let s = from_error(e);
            assert_eq!(s.code(), code);
            assert!(!s.message().contains("secret"));
        }
    }

    /// A broken connection mid-stream says the result is incomplete; a
    /// status the engine sent (no transport source) keeps its meaning.
    #[test]
    fn a_lost_connection_mid_stream_is_unavailable_and_incomplete() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by 10.0.0.7");
        let mid_stream = |s: Status| lost_mid_stream(&s).unwrap_or_else(|| upstream(&s));
        let lost = mid_stream(Status::from_error(Box::new(io)));
        assert_eq!(lost.code(), Code::Unavailable);
        assert!(lost.message().contains("incomplete result"), "{lost:?}");
        assert!(!lost.message().contains("10.0.0.7"), "{lost:?}");
        let said = mid_stream(Status::new(Code::Unknown, "engine bug"));
        assert_eq!(said.code(), Code::Unknown);
        assert!(!said.message().contains("incomplete"), "{said:?}");
        let refused = mid_stream(Status::invalid_argument("no such column"));
        assert_eq!(refused.code(), Code::InvalidArgument);
    }

    /// Every upstream code but OK is passed on; messages of internal
    /// failures, unreachability and credential problems are not.
    #[test]
    fn upstream_codes_are_passed_on() {
        let all = [
            Code::Cancelled,
            Code::Unknown,
            Code::InvalidArgument,
            Code::DeadlineExceeded,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::ResourceExhausted,
            Code::FailedPrecondition,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unimplemented,
            Code::Internal,
            Code::Unavailable,
            Code::DataLoss,
            Code::Unauthenticated,
        ];
        for code in all {
            let s = status(ProxyError::Upstream(Status::new(
                code,
                "secret at 10.0.0.7:/srv/x",
            )));
            assert_eq!(s.code(), code);
            let hidden = matches!(
                code,
                Code::Unknown
                    | Code::Internal
                    | Code::DataLoss
                    | Code::Unavailable
                    | Code::Unauthenticated
            );
            assert_eq!(!s.message().contains("secret"), hidden, "{code:?}");
        }
        let s = status(ProxyError::Upstream(Status::new(Code::Ok, "secret")));
        assert_eq!(s.code(), Code::Internal);
    }

    #[test]
    fn engine_internal_details_are_logged_not_sent() {
        let s = status(ProxyError::Engine(EngineError::Internal("secret".into())));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("secret"));
        let s = status(ProxyError::Internal("secret".into()));
        assert!(!s.message().contains("secret"));
    }
}
