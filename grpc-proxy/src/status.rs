//! The one place where a [`policy_engine::Error`] becomes a gRPC status.
//!
//! The match is exhaustive with no catch-all arm, so a new error variant
//! does not compile until someone decides its status code. Internal details
//! (bugs, store failures) go to the log, never to the client.

use policy_engine::Error;
use tonic::Status;

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
        Error::Internal(detail) => {
            tracing::error!(%detail, "internal error (a bug in lakegate)");
            Status::internal(
                "internal error in lakegate; this is a bug, details are in the server log",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

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
}
