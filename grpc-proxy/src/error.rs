//! Errors of starting and running the server and of handling the signing
//! key. Errors of individual requests are `tonic::Status` values made in
//! [`crate::status`] (policy-engine errors) and [`crate::auth`] (tokens).

use std::path::PathBuf;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What stopped the server (or a key operation). Messages are lower case and
/// say what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The data directory cannot be created or used.
    #[error("cannot use data directory `{path}`: {message}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What went wrong and what to do.
        message: String,
    },
    /// The signing key cannot be read or created.
    #[error("signing key `{path}`: {message}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What went wrong and what to do.
        message: String,
    },
    /// The governance store cannot be opened; the server refuses to start.
    #[error(
        "cannot open the governance store `{store}`: {message}; the server refuses to start \
         without it. Check that it is a lakegate store you can read and write (a file in \
         --data-dir, or the database --store names) and that it is reachable"
    )]
    Store {
        /// The store: its file, or its URL without the password.
        store: String,
        /// The store's error.
        message: String,
    },
    /// Bootstrapping the admins failed.
    #[error("cannot make `{admin}` a data lake admin: {message}")]
    Bootstrap {
        /// The admin.
        admin: String,
        /// The policy engine's error.
        message: String,
    },
    /// The listen address cannot be bound.
    #[error(
        "cannot listen on `{addr}`: {message}; pass another --listen address (e.g. 127.0.0.1:0)"
    )]
    Bind {
        /// The address asked for.
        addr: String,
        /// The OS error.
        message: String,
    },
    /// The gRPC server failed.
    #[error("the server stopped with an error: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// A feature that is not built yet.
    #[error("{0} is not implemented yet")]
    NotImplemented(&'static str),
    /// A blueprint of `--blueprints DIR` is bad; the server does not start.
    #[error("{0}; fix the blueprint or remove it from the folder")]
    Blueprints(String),
    /// The demo catalog could not be set up.
    #[error("cannot set up the demo catalog: {0}; remove the data directory and try again")]
    Demo(String),
    /// The audit log cannot be opened.
    #[error(
        "cannot open the audit log `{path}`: {message}; pass another --audit-log or --data-dir"
    )]
    Audit {
        /// The audit file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// The embedded engine cannot start, or the upstream URL is unusable.
    #[error("cannot start the query engine: {0}")]
    Engine(String),
    /// The identity provider's key set (`--jwks-file`) cannot be used.
    #[error("cannot use the identity provider's key set: {0}; fix --jwks-url or --jwks-file")]
    Jwks(String),
    /// Writing to stdout failed.
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
}

/// Shortens user input for error messages (80 characters at most).
pub fn clip(s: &str) -> String {
    if s.chars().count() > 80 {
        let head: String = s.chars().take(77).collect();
        format!("{head}...")
    } else {
        s.to_string()
    }
}
