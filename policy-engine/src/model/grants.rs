//! Permissions, grant resources, column masks and grants (DESIGN §2 and
//! §3 rules 8, 13): what a grant gives, on what, to whom.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{AccountId, ColumnSelection, LocationUri, Principal, TableName, clip};
use crate::error::{Error, Result};

/// A Lake Formation permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(
    missing_docs,
    reason = "variants are Lake Formation's permission names (DESIGN §2)"
)]
pub enum Permission {
    All,
    Select,
    Insert,
    Delete,
    Describe,
    Alter,
    Drop,
    CreateDatabase,
    CreateTable,
    DataLocationAccess,
    Associate,
    GrantWithLfTagExpression,
}

impl Permission {
    /// Every permission, in a stable order.
    pub const EVERY: [Permission; 12] = [
        Permission::All,
        Permission::Select,
        Permission::Insert,
        Permission::Delete,
        Permission::Describe,
        Permission::Alter,
        Permission::Drop,
        Permission::CreateDatabase,
        Permission::CreateTable,
        Permission::DataLocationAccess,
        Permission::Associate,
        Permission::GrantWithLfTagExpression,
    ];

    /// The permission's name, as Lake Formation and Cedar actions spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::All => "ALL",
            Permission::Select => "SELECT",
            Permission::Insert => "INSERT",
            Permission::Delete => "DELETE",
            Permission::Describe => "DESCRIBE",
            Permission::Alter => "ALTER",
            Permission::Drop => "DROP",
            Permission::CreateDatabase => "CREATE_DATABASE",
            Permission::CreateTable => "CREATE_TABLE",
            Permission::DataLocationAccess => "DATA_LOCATION_ACCESS",
            Permission::Associate => "ASSOCIATE",
            Permission::GrantWithLfTagExpression => "GRANT_WITH_LF_TAG_EXPRESSION",
        }
    }

    /// Parses a permission name (case-insensitive).
    pub fn parse(s: &str) -> Result<Self> {
        let up = s.trim().to_ascii_uppercase();
        Permission::EVERY
            .into_iter()
            .find(|p| p.as_str() == up)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "`{}` is not a permission; permissions are: {}",
                    clip(s),
                    Permission::EVERY.map(|p| p.as_str()).join(", ")
                ))
            })
    }

    /// Parses a comma-separated permission list.
    pub fn parse_list(s: &str) -> Result<BTreeSet<Permission>> {
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(Permission::parse)
            .collect()
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Resource type of an LF-tag policy grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TagResourceType {
    /// The grant applies to matching databases.
    Database,
    /// The grant applies to matching tables (and columns).
    Table,
}

/// A tag expression: AND across keys, OR across the values of one key.
pub type TagExpression = BTreeMap<String, BTreeSet<String>>;

/// The resource of a grant (DESIGN §2), within the grant's account.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Resource {
    /// The account's catalog.
    Catalog,
    /// A database.
    Database {
        /// Database name.
        database: String,
    },
    /// A whole table (no column list).
    Table {
        /// Table name.
        table: TableName,
    },
    /// Some columns of a table (include or exclude list); SELECT only.
    TableWithColumns {
        /// Table name.
        table: TableName,
        /// The columns (never `All`).
        columns: ColumnSelection,
    },
    /// A data cells filter.
    DataFilter {
        /// Table name.
        table: TableName,
        /// Filter name.
        filter: String,
    },
    /// A data location.
    DataLocation {
        /// Location URI.
        uri: LocationUri,
    },
    /// Values of one LF-tag key.
    LfTag {
        /// Tag key.
        key: String,
        /// Tag values.
        values: BTreeSet<String>,
    },
    /// A resource link in the account's catalog: a grant on it concerns the
    /// link itself (DESCRIBE, DROP), never the table it points at.
    ResourceLink {
        /// The link's name.
        link: TableName,
    },
    /// Every database or table whose effective tags match the expression.
    LfTagPolicy {
        /// DATABASE or TABLE.
        resource_type: TagResourceType,
        /// The expression.
        expression: TagExpression,
    },
}

impl Resource {
    /// The permissions that may be granted on this kind of resource (DESIGN §3 rule 13).
    pub fn valid_permissions(&self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Resource::Catalog => &[CreateDatabase, Describe, Alter, Drop, All],
            Resource::Database { .. }
            | Resource::LfTagPolicy {
                resource_type: TagResourceType::Database,
                ..
            } => &[CreateTable, Describe, Alter, Drop, All],
            Resource::Table { .. }
            | Resource::LfTagPolicy {
                resource_type: TagResourceType::Table,
                ..
            } => &[Select, Insert, Delete, Describe, Alter, Drop, All],
            Resource::TableWithColumns { .. } => &[Select],
            Resource::DataFilter { .. } => &[Select, Describe, Drop],
            Resource::DataLocation { .. } => &[DataLocationAccess],
            Resource::LfTag { .. } => &[Associate, Describe, GrantWithLfTagExpression],
            Resource::ResourceLink { .. } => &[Describe, Drop],
        }
    }

    /// What kind of resource this is, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Resource::Catalog => "catalog",
            Resource::Database { .. } => "database",
            Resource::Table { .. } => "table",
            Resource::TableWithColumns { .. } => "table with columns",
            Resource::DataFilter { .. } => "data cells filter",
            Resource::DataLocation { .. } => "data location",
            Resource::LfTag { .. } => "LF-tag",
            Resource::ResourceLink { .. } => "resource link",
            Resource::LfTagPolicy {
                resource_type: TagResourceType::Database,
                ..
            } => "DATABASE LF-tag policy",
            Resource::LfTagPolicy {
                resource_type: TagResourceType::Table,
                ..
            } => "TABLE LF-tag policy",
        }
    }

    /// The table this resource concerns, if any.
    pub fn table(&self) -> Option<&TableName> {
        match self {
            Resource::Table { table }
            | Resource::TableWithColumns { table, .. }
            | Resource::DataFilter { table, .. }
            | Resource::ResourceLink { link: table } => Some(table),
            _ => None,
        }
    }

    /// The key under which grants on this resource are merged: two grants to
    /// one principal with the same key are one grant.
    pub fn merge_key(&self) -> String {
        match self {
            Resource::Catalog => "catalog".into(),
            Resource::Database { database } => format!("database:{database}"),
            Resource::Table { table } => format!("table:{table}"),
            Resource::TableWithColumns { table, .. } => format!("columns:{table}"),
            Resource::DataFilter { table, filter } => format!("filter:{table}.{filter}"),
            Resource::DataLocation { uri } => format!("location:{uri}"),
            Resource::LfTag { key, .. } => format!("lftag:{key}"),
            Resource::ResourceLink { link } => format!("link:{link}"),
            Resource::LfTagPolicy {
                resource_type,
                expression,
            } => format!(
                "lftagpolicy:{resource_type:?}:{}",
                expression
                    .iter()
                    .map(|(k, vs)| format!(
                        "{k}={}",
                        vs.iter().cloned().collect::<Vec<_>>().join(",")
                    ))
                    .collect::<Vec<_>>()
                    .join(";")
            ),
        }
    }
}

impl Resource {
    /// The resource as another account names it: its table as
    /// `ACCOUNT:DB.TABLE`, anything else followed by `of account ACCOUNT`.
    pub fn display_in(&self, account: &AccountId) -> String {
        let text = self.to_string();
        match self.table() {
            Some(t) => text.replacen(&t.to_string(), &format!("{account}:{t}"), 1),
            None => format!("{text} of account {account}"),
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Catalog => write!(f, "catalog"),
            Resource::Database { database } => write!(f, "database {database}"),
            Resource::Table { table } => write!(f, "table {table}"),
            Resource::TableWithColumns { table, columns } => match columns {
                ColumnSelection::All => write!(f, "table {table}"),
                ColumnSelection::Include(c) => write!(
                    f,
                    "table {table} columns ({})",
                    c.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                ColumnSelection::Exclude(c) => write!(
                    f,
                    "table {table} all columns except ({})",
                    c.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            },
            // A receiving account's filter (stored as NAME@ACCOUNT) reads as
            // it named it; only that account ever sees it.
            Resource::DataFilter { table, filter } => write!(
                f,
                "data filter {table}.{}",
                filter.split_once('@').map_or(filter.as_str(), |(n, _)| n)
            ),
            Resource::DataLocation { uri } => write!(f, "location {uri}"),
            Resource::ResourceLink { link } => write!(f, "resource link {link}"),
            Resource::LfTag { key, values } => write!(
                f,
                "lf-tag {key}={}",
                values.iter().cloned().collect::<Vec<_>>().join(",")
            ),
            Resource::LfTagPolicy {
                resource_type,
                expression,
            } => write!(
                f,
                "{} tag policy {}",
                match resource_type {
                    TagResourceType::Database => "DATABASE",
                    TagResourceType::Table => "TABLE",
                },
                expression
                    .iter()
                    .map(|(k, vs)| format!(
                        "{k}={}",
                        vs.iter().cloned().collect::<Vec<_>>().join(",")
                    ))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            ),
        }
    }
}

/// A column mask (DESIGN §3 rule 8).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnMask {
    /// Every value becomes NULL.
    Null,
    /// Every non-null value becomes `REDACTED`.
    Redact,
    /// Letters and digits before the last four characters become `x`.
    Last4,
    /// Keyed SHA-256 of the value's text, lower-case hex.
    Hash,
    /// An SQL expression over the column.
    Expr(String),
}

impl ColumnMask {
    /// Parses `null`, `redact`, `last4`, `hash` or `expr:SQL`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "null" => Ok(ColumnMask::Null),
            "redact" => Ok(ColumnMask::Redact),
            "last4" => Ok(ColumnMask::Last4),
            "hash" => Ok(ColumnMask::Hash),
            _ => match s.split_once(':') {
                Some((k, e)) if k.eq_ignore_ascii_case("expr") && !e.trim().is_empty() => {
                    Ok(ColumnMask::Expr(e.trim().to_string()))
                }
                _ => Err(Error::invalid(format!(
                    "mask `{}` is not known; use null, redact, last4, hash or expr:SQL",
                    clip(s)
                ))),
            },
        }
    }

    /// How much the mask reveals; higher wins when several grants show a cell.
    pub fn revealing_rank(&self) -> u8 {
        match self {
            ColumnMask::Null => 0,
            ColumnMask::Redact => 1,
            ColumnMask::Hash => 2,
            ColumnMask::Last4 => 3,
            ColumnMask::Expr(_) => 4,
        }
    }
}

impl fmt::Display for ColumnMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnMask::Null => f.write_str("null"),
            ColumnMask::Redact => f.write_str("redact"),
            ColumnMask::Last4 => f.write_str("last4"),
            ColumnMask::Hash => f.write_str("hash"),
            ColumnMask::Expr(e) => write!(f, "expr:{e}"),
        }
    }
}

/// Where a grant came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum GrantOrigin {
    /// Granted explicitly by `by`.
    Explicit {
        /// The grantor.
        by: Principal,
    },
    /// The implicit rights of the creator of a database or table.
    Creator,
}

/// A grant: (principal, resource, permissions, grantable permissions), with
/// optional column masks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Stable id (`g` followed by a number); also the Cedar policy id.
    pub id: String,
    /// The account that owns the resource.
    pub account: AccountId,
    /// The grantee.
    pub principal: Principal,
    /// What is granted on.
    pub resource: Resource,
    /// Granted permissions.
    pub permissions: BTreeSet<Permission>,
    /// The subset of `permissions` granted with the grant option.
    pub grantable: BTreeSet<Permission>,
    /// Column masks that apply to what this grant reveals.
    pub masks: BTreeMap<String, ColumnMask>,
    /// Where it came from.
    pub origin: GrantOrigin,
}
