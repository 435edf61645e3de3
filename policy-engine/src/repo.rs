//! Policy-as-code (DESIGN §8): an account's whole governance kept as a
//! repository of files, planned against a server as a change list and an
//! effective-access diff, and applied in one commit.
//!
//! ```text
//! files ──parse──▶ Repo ──replay onto (catalog − managed objects)──▶ after: Catalog
//!                                                   │
//!  before: Catalog ─────────────── diff ────────────┤──▶ Vec<Change>   (what apply commits)
//!                                                   └──▶ access diff   (effective_access on both)
//!                                                        invariants    (on after)
//! ```
//!
//! Decisions we made:
//! - The desired state is built by *replaying* the repository through the
//!   same [`crate::Governance`] operations the CLI calls (over an in-memory
//!   store seeded with the current catalog), so a repository is validated by
//!   exactly the rules a `grant` or `data-filter create` meets, and the
//!   after-state is exactly what those commands would have produced.
//! - The effective-access diff calls [`crate::access::effective_access`],
//!   the function every query's rewrite calls; there is no second
//!   implementation of access to drift from the enforced one.
//! - The repository manages what its account's admins declare: explicit
//!   grants made within the account, data cells filters, LF-tags and their
//!   assignments, resource links and the Cedar policy set. Databases,
//!   tables, locations, admins, creators' implicit grants and the grants
//!   another account's admins make on what this one shares are not in it,
//!   and a plan never removes them.

mod access_diff;
mod export;
mod files;
mod invariants;
mod lint;
mod plan;
mod replay;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use access_diff::{AccessChange, AccessSummary, Subject};
pub use export::export;
pub use files::{Located, Repo, is_repository_file, parse};
pub use invariants::{Invariant, InvariantResult, Violation};
pub use lint::lint;
pub use plan::{ObjectChange, Plan};

/// One file of a repository: a path relative to its root, and its text.
pub type RepoFile = crate::model::PolicyFile;

/// An LF-tag key and its values (`tags:` in `grants/*.yaml`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagDecl {
    /// The key.
    pub key: String,
    /// Its allowed values.
    pub values: Vec<String>,
}

/// LF-tags assigned to a database, a table or some of its columns
/// (`tag_assignments:`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignDecl {
    /// `DB`, for a database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// `DB.TABLE`, for a table or its columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Columns of `table` (none: the table itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// KEY: VALUE.
    pub tags: BTreeMap<String, String>,
}

/// A data cells filter (`filters:`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterDecl {
    /// `DB.TABLE.NAME`.
    pub name: String,
    /// The row predicate; omit with `all_rows: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_filter: Option<String>,
    /// Every row.
    #[serde(default, skip_serializing_if = "is_false")]
    pub all_rows: bool,
    /// Only these columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// Every column but these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_columns: Vec<String>,
}

/// A `TABLE`/`DATABASE` LF-tag expression grant's resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagPolicyDecl {
    /// `DATABASE` or `TABLE`.
    pub resource_type: String,
    /// KEY: [VALUES]: AND across keys, OR across values.
    pub tags: BTreeMap<String, Vec<String>>,
}

/// A grant (`grants:`): the `grant` command's flags as fields. Exactly one
/// resource field is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantDecl {
    /// The grantee: `ACCOUNT:user/NAME`, `…:role/…`, `…:group/…` or `ACCOUNT`.
    pub principal: String,
    /// Permissions.
    pub permissions: Vec<String>,
    /// Permissions with the grant option.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grantable: Vec<String>,
    /// The account's catalog.
    #[serde(default, skip_serializing_if = "is_false")]
    pub catalog: bool,
    /// `DB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// `DB.TABLE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Columns of `table`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// Every column of `table` but these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_columns: Vec<String>,
    /// `DB.TABLE.FILTER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_filter: Option<String>,
    /// A registered location's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `KEY=V1,V2`: the LF-tag itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lf_tag: Option<String>,
    /// An LF-tag expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_policy: Option<TagPolicyDecl>,
    /// COLUMN: null | redact | last4 | hash | expr:SQL.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub masks: BTreeMap<String, String>,
}

/// A resource link (`links:`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkDecl {
    /// `DB.NAME` in this account's catalog.
    pub name: String,
    /// `ACCOUNT:DB.TABLE`, the shared table.
    pub target: String,
}

/// One `grants/*.yaml` file: any of its sections may be absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsFile {
    /// LF-tag keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagDecl>,
    /// LF-tag assignments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag_assignments: Vec<AssignDecl>,
    /// Data cells filters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<FilterDecl>,
    /// Grants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<GrantDecl>,
    /// Resource links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkDecl>,
}

fn is_false(b: &bool) -> bool {
    !*b
}
