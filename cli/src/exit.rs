//! Exit codes and the CLI's error type. A denial is not a failure: it has
//! its own exit code (3), so scripts can tell "not allowed" from "broken".

use std::process::ExitCode;

use tonic::{Code, Status};

/// The command's exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Something went wrong (1).
    Error = 1,
    /// The command line is wrong (2; clap uses it for its own errors too).
    Usage = 2,
    /// The caller is not allowed, or not authenticated (3).
    Denied = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// An error to print as `error: MESSAGE` with its exit code.
#[derive(Debug)]
pub struct CliError {
    /// Exit code.
    pub exit: Exit,
    /// What went wrong and what to do.
    pub message: String,
}

impl CliError {
    /// An error (exit 1).
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Error,
            message: message.into(),
        }
    }

    /// A denial or failed authentication (exit 3).
    pub fn denied(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Denied,
            message: message.into(),
        }
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    /// A status from the server, with a hint where the status alone does not
    /// say what to do.
    pub fn from_status(s: Status, endpoint: &str) -> Self {
        let msg = s.message().to_string();
        match s.code() {
            Code::PermissionDenied | Code::Unauthenticated => Self {
                exit: Exit::Denied,
                message: msg,
            },
            Code::Unavailable if msg.contains("transport") || msg.contains("connect") => {
                Self::error(format!(
                    "lost the connection to lakegate at {endpoint} ({msg}); is `lakegate serve` \
                     running there? set --endpoint or LAKEGATE_ENDPOINT"
                ))
            }
            Code::Unimplemented => Self::error(format!(
                "the server at {endpoint} does not support this call ({msg}); is it a lakegate \
                 server of the same version?"
            )),
            _ if msg.contains("HTTP status code 431") => Self::error(format!(
                "the server refused the request headers as too large ({msg}); check the token \
                 passed with --token or LAKEGATE_TOKEN"
            )),
            // A server limit's message already says which flag and what to do.
            Code::ResourceExhausted | Code::OutOfRange if !msg.contains("`--max-") => {
                Self::error(format!("{msg}; send less input"))
            }
            _ => Self::error(msg),
        }
    }
}

/// Prints the error and returns its exit code.
pub fn report(e: CliError) -> ExitCode {
    eprintln!("error: {}", e.message);
    e.exit.into()
}
