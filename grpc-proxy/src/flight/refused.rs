//! The Flight SQL requests lakegate refuses, in one table: what each is and
//! what to do instead. Every refusal is PERMISSION_DENIED, after the caller
//! was authenticated (an unauthenticated caller learns nothing).

use super::*;

/// A refused request.
pub(super) enum Refused<'a> {
    /// A Substrait plan (statement or prepared).
    Substrait,
    /// An update statement.
    Update,
    /// Bulk ingest.
    Ingest,
    /// Parameters bound to a prepared statement.
    BindParameters,
    /// A prepared update.
    PreparedUpdate,
    /// Begin or end a transaction.
    Transaction,
    /// Begin or end a savepoint.
    Savepoint,
    /// CancelQuery.
    CancelQuery,
    /// DoExchange.
    Exchange,
    /// A Flight SQL command lakegate does not know (its type URL).
    Command(&'a str),
    /// A ticket lakegate did not issue (its type URL).
    Ticket(&'a str),
    /// A DoPut of another kind (its type URL).
    Put(&'a str),
    /// An action lakegate does not know (its type).
    Action(&'a str),
}

const READ_ONLY: &str = "run queries without one (lakegate is read-only)";
const LOAD: &str = "lakegate serves read-only queries; load data with a blueprint";

impl Refused<'_> {
    /// What was refused, and what to do instead.
    fn describe(&self) -> (String, &'static str) {
        let clip = crate::error::clip;
        match self {
            Refused::Substrait => ("a Substrait plan".into(), "send the query as SQL"),
            Refused::Update => ("an update statement".into(), LOAD),
            Refused::Ingest => ("bulk ingest".into(), LOAD),
            Refused::BindParameters => (
                "binding parameters to a prepared statement".into(),
                "write the values into the SQL text",
            ),
            Refused::PreparedUpdate => (
                "a prepared update".into(),
                "lakegate serves read-only queries",
            ),
            Refused::Transaction => ("a transaction".into(), READ_ONLY),
            Refused::Savepoint => ("a savepoint".into(), READ_ONLY),
            Refused::CancelQuery => ("CancelQuery".into(), "close the result stream instead"),
            Refused::Exchange => ("DoExchange".into(), "use GetFlightInfo and DoGet"),
            Refused::Command(t) => (
                format!("the Flight SQL command `{}`", clip(t)),
                "lakegate serves read-only SQL queries and metadata",
            ),
            Refused::Ticket(t) => (
                format!("a ticket of type `{}`", clip(t)),
                "use the tickets lakegate returns from GetFlightInfo",
            ),
            Refused::Put(t) => (
                format!("DoPut `{}`", clip(t)),
                "lakegate is read-only; load data with a blueprint",
            ),
            Refused::Action(t) => (
                format!("the action `{}`", clip(t)),
                "lakegate supports CreatePreparedStatement and ClosePreparedStatement only",
            ),
        }
    }
}

/// The status for a refused request.
pub(super) fn refuse(r: Refused<'_>) -> Status {
    let (what, todo) = r.describe();
    status(ProxyError::Refused { what, todo })
}
