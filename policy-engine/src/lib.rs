//! # policy-engine
//!
//! lakegate's governance core: the model, the store, the Cedar decision point,
//! effective access and the SQL rewrite (module `rewrite`, with the proxy issue). It has no network or
//! query-engine code; `grpc-proxy`, `blueprints` and the `lakegate` CLI call it
//! with plain Rust calls.
//!
//! ```text
//!  admin call / query ──▶ Governance ──snapshot()──▶ Store (SQLite | memory)
//!                            │                          ▲ commit(expected_version, changes)
//!                            ▼                          │
//!                        Snapshot { Catalog, Compiled } ┘
//!                            │ grants + admins + policy files ──compile──▶ Cedar policies,
//!                            │                                            indexed by (principal, resource)
//!                            ▼
//!                        Authorizer: entities + policy slice ──▶ cedar_policy::Authorizer
//!                            ▼
//!                        effective_access(caller, table) ──▶ TableAccess ──▶ rewrite
//! ```
//!
//! Key types: [`model::Principal`], [`model::Resource`], [`model::Grant`],
//! [`access::TableAccess`], [`authorize::Decision`], [`governance::Governance`].
//!
//! Decisions we made:
//! - We keep one immutable [`governance::Snapshot`] per store version and check
//!   the version on every request, because a revoke must take effect for the
//!   next statement on every node sharing the store, and no decision may mix
//!   two versions.
//! - We compile each grant into its own Cedar policy (and one more for its grant
//!   option) and decide over a slice keyed by principal and resource ancestry,
//!   because Cedar evaluates every policy in the set it is given; slicing keeps
//!   decision time flat as grants grow.
//! - We treat any Cedar evaluation error as a deny, unlike Cedar, which skips
//!   the erroring policy: a broken forbid must not silently stop forbidding.
//! - We decide SELECT per column: a column is visible iff Cedar allows SELECT
//!   on it, so column grants, exclude lists, tag grants and `forbid` policies on
//!   columns compose in one place.
//! - Grants merge per (principal, resource): the grant id is a hash of both, so
//!   granting twice is idempotent and revoke finds exactly what to narrow.

pub mod access;
pub mod authorize;
pub mod catalog;
pub mod compile;
pub mod error;
pub mod explain;
pub mod filters;
pub mod governance;
pub mod grants;
pub mod lftags;
pub mod model;
mod parse_budget;
pub mod policies;
pub mod predicate;
pub mod repo;
pub mod rewrite;
pub mod share;
pub mod store;
pub mod suggest;
pub mod tags;

pub use access::{ColumnAccess, RowPredicate, TableAccess};
pub use authorize::{Decision, Target};
pub use error::{Error, Result};
pub use governance::{
    CrawlAction, Governance, GrantRequest, NewTable, PermissionFilter, ResourceSpec,
};
pub use model::{Caller, ColumnMask, Grant, Permission, Principal, Resource};
pub use predicate::RowExpr;
pub use rewrite::{Placement, RewriteOptions, Rewritten, RewrittenTable, TableResolver, rewrite};
pub use store::{MemStore, SqliteStore, Store};
