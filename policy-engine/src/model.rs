//! The governance model of DESIGN §2: accounts, principals, catalog objects,
//! LF-tags, data cells filters and grants.
//!
//! Every name that reaches the model has been validated by the constructors in
//! this module, so the rest of the crate can rely on it: identifiers are lower
//! case `[a-z_][a-z0-9_]*`, principals are well formed, locations are URIs
//! ending in `/`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest identifier (database, table, column, filter, tag key) we accept.
pub const MAX_IDENT_LEN: usize = 128;
/// Longest principal name, location URI, tag value or predicate we accept.
pub const MAX_TEXT_LEN: usize = 4096;
/// Most columns a table may have.
pub const MAX_COLUMNS: usize = 4096;

/// An account: a tenant and its catalog, id like `111111111111`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    /// Parses an account id: 1 to 20 ASCII digits.
    pub fn parse(s: &str) -> Result<Self> {
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(format!(
                "`{}` is not an account id; an account id is 1 to 20 digits, like `111111111111`",
                clip(s)
            )));
        }
        Ok(Self(s.to_string()))
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}
impl From<AccountId> for String {
    fn from(a: AccountId) -> String {
        a.0
    }
}
impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind of an IAM-style principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// `ACCOUNT:user/NAME`
    User,
    /// `ACCOUNT:role/NAME`
    Role,
    /// `ACCOUNT:group/NAME`; grants to a group apply to its members.
    Group,
}

impl PrincipalKind {
    fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Role => "role",
            PrincipalKind::Group => "group",
        }
    }
}

/// A grantee or caller: `ACCOUNT:user/NAME`, `ACCOUNT:role/NAME`,
/// `ACCOUNT:group/NAME`, or a bare `ACCOUNT` (an external account).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Principal {
    /// A user, role or group of an account.
    Iam {
        /// The account the principal belongs to.
        account: AccountId,
        /// User, role or group.
        kind: PrincipalKind,
        /// The name after `user/`, `role/` or `group/`.
        name: String,
    },
    /// A whole account, as a grantee of a cross-account share.
    Account(AccountId),
}

impl Principal {
    /// Parses `ACCOUNT:user/NAME`, `ACCOUNT:role/NAME`, `ACCOUNT:group/NAME` or `ACCOUNT`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(format!(
                "`{}` is not a principal; write `ACCOUNT:user/NAME`, `ACCOUNT:role/NAME`, \
                 `ACCOUNT:group/NAME` or a bare `ACCOUNT`, e.g. `111111111111:user/alice`",
                clip(s)
            ))
        };
        if s.len() > MAX_TEXT_LEN {
            return Err(bad());
        }
        let Some((acct, rest)) = s.split_once(':') else {
            return AccountId::parse(s)
                .map(Principal::Account)
                .map_err(|_| bad());
        };
        let account = AccountId::parse(acct).map_err(|_| bad())?;
        let (kind, name) = rest.split_once('/').ok_or_else(bad)?;
        let kind = match kind {
            "user" => PrincipalKind::User,
            "role" => PrincipalKind::Role,
            "group" => PrincipalKind::Group,
            _ => return Err(bad()),
        };
        if name.is_empty()
            || name.len() > MAX_IDENT_LEN
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.@+=,-".contains(c))
        {
            return Err(bad());
        }
        Ok(Principal::Iam {
            account,
            kind,
            name: name.to_string(),
        })
    }

    /// The account the principal belongs to (or is).
    pub fn account(&self) -> &AccountId {
        match self {
            Principal::Iam { account, .. } => account,
            Principal::Account(a) => a,
        }
    }

    /// The kind, or `None` for a bare account.
    pub fn kind(&self) -> Option<PrincipalKind> {
        match self {
            Principal::Iam { kind, .. } => Some(*kind),
            Principal::Account(_) => None,
        }
    }

    /// Whether this principal is a group.
    pub fn is_group(&self) -> bool {
        self.kind() == Some(PrincipalKind::Group)
    }
}

impl TryFrom<String> for Principal {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}
impl From<Principal> for String {
    fn from(p: Principal) -> String {
        p.to_string()
    }
}
impl FromStr for Principal {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}
impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Iam {
                account,
                kind,
                name,
            } => write!(f, "{account}:{}/{name}", kind.as_str()),
            Principal::Account(a) => write!(f, "{a}"),
        }
    }
}

/// An authenticated caller: a user or role with the groups and attributes its
/// credential carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Caller {
    /// The user or role.
    pub principal: Principal,
    /// Groups from the credential (`groups` claim).
    pub groups: Vec<Principal>,
    /// Attributes from the credential (`attrs` claim).
    pub attrs: BTreeMap<String, String>,
}

impl Caller {
    /// A caller without groups or attributes.
    pub fn new(principal: Principal) -> Self {
        Self {
            principal,
            groups: Vec::new(),
            attrs: BTreeMap::new(),
        }
    }
    /// The caller's account.
    pub fn account(&self) -> &AccountId {
        self.principal.account()
    }
}

/// Validates and lower-cases an identifier: a database, table, column,
/// filter or tag key name.
pub fn ident(s: &str, what: &str) -> Result<String> {
    let lower = s.to_ascii_lowercase();
    let ok = !lower.is_empty()
        && lower.len() <= MAX_IDENT_LEN
        && lower
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && lower
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(lower)
    } else {
        Err(Error::invalid(format!(
            "{what} name `{}` is not an identifier; use letters, digits and `_`, starting with a \
             letter or `_`, at most {MAX_IDENT_LEN} characters",
            clip(s)
        )))
    }
}

/// Shortens user input for error messages.
pub(crate) fn clip(s: &str) -> String {
    if s.chars().count() > 80 {
        let head: String = s.chars().take(77).collect();
        format!("{head}...")
    } else {
        s.to_string()
    }
}

/// A `DB.TABLE` name, validated and lower-cased.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TableName {
    /// Database name.
    pub database: String,
    /// Table name.
    pub table: String,
}

impl TableName {
    /// Parses `DB.TABLE`.
    pub fn parse(s: &str) -> Result<Self> {
        let Some((db, t)) = s.split_once('.') else {
            return Err(Error::invalid(format!(
                "`{}` is not a table name; write `DB.TABLE`",
                clip(s)
            )));
        };
        Ok(Self {
            database: ident(db, "database")?,
            table: ident(t, "table")?,
        })
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

/// A data location: a URI prefix (`file://` or `s3://`), normalised to end with `/`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocationUri(String);

impl LocationUri {
    /// Parses and normalises a location URI.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "`{}` is not a data location: {why}; write `file:///abs/path/` or `s3://bucket/prefix/`",
                clip(s)
            ))
        };
        if s.len() > MAX_TEXT_LEN {
            return Err(bad("it is too long"));
        }
        let rest = if let Some(r) = s.strip_prefix("file://") {
            if !r.starts_with('/') {
                return Err(bad("a file location must be an absolute path"));
            }
            r
        } else if let Some(r) = s.strip_prefix("s3://") {
            if r.is_empty() || r.starts_with('/') {
                return Err(bad("an s3 location needs a bucket"));
            }
            r
        } else {
            return Err(bad("the scheme must be `file://` or `s3://`"));
        };
        if rest
            .split('/')
            .any(|seg| seg == ".." || seg == "." || seg.contains('\\'))
            || rest.contains("//")
            || rest.chars().any(|c| c.is_control())
        {
            return Err(bad(
                "it must not contain `.` or `..` segments, empty segments or control characters",
            ));
        }
        let mut norm = s.to_string();
        if !norm.ends_with('/') {
            norm.push('/');
        }
        Ok(Self(norm))
    }

    /// The URI text, ending in `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other` is this location or inside it.
    pub fn contains(&self, other: &LocationUri) -> bool {
        other.0.starts_with(&self.0)
    }

    /// The local filesystem path for a `file://` location.
    pub fn local_path(&self) -> Option<&str> {
        self.0.strip_prefix("file://")
    }
}

impl TryFrom<String> for LocationUri {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}
impl From<LocationUri> for String {
    fn from(l: LocationUri) -> String {
        l.0
    }
}
impl fmt::Display for LocationUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// File format of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated values with a header row.
    Csv,
    /// Newline-delimited JSON.
    Json,
}

impl Format {
    /// Parses `parquet`, `csv` or `json`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "parquet" => Ok(Format::Parquet),
            "csv" => Ok(Format::Csv),
            "json" | "ndjson" => Ok(Format::Json),
            _ => Err(Error::invalid(format!(
                "format `{}` is not supported; use parquet, csv or json",
                clip(s)
            ))),
        }
    }
    /// The lower-case name, also the usual file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// A database in an account's catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    /// Owning account.
    pub account: AccountId,
    /// Lower-case name.
    pub name: String,
    /// Optional location; tables inside it need no DATA_LOCATION_ACCESS of their own.
    pub location: Option<LocationUri>,
    /// Who created it.
    pub creator: Principal,
}

/// A column of a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Lower-case name.
    pub name: String,
    /// Arrow data type, as Arrow displays it (`Int64`, `Utf8`, `Float64`, ...).
    pub data_type: String,
    /// Whether this column comes from a hive-style `k=v/` folder.
    pub partition: bool,
}

/// A table: typed columns in table order (file columns, then partition keys).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// Owning account.
    pub account: AccountId,
    /// Database and table name.
    pub name: TableName,
    /// Columns in table order.
    pub columns: Vec<Column>,
    /// Partition keys in key order (also present at the end of `columns`).
    pub partition_keys: Vec<String>,
    /// Where the files are.
    pub location: LocationUri,
    /// File format.
    pub format: Format,
    /// Who created it.
    pub creator: Principal,
}

impl Table {
    /// The column with this (lower-case) name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Validates a list of column names against the table, lower-casing them.
    pub fn check_columns(&self, names: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            let lower = n.to_ascii_lowercase();
            if self.column(&lower).is_none() {
                return Err(Error::invalid(format!(
                    "column `{}` is not in table `{}`; columns are: {}",
                    clip(n),
                    self.name,
                    self.columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if !out.contains(&lower) {
                out.push(lower);
            }
        }
        Ok(out)
    }
}

/// A registered data location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataLocation {
    /// Owning account.
    pub account: AccountId,
    /// The URI prefix.
    pub uri: LocationUri,
}

/// An LF-tag key with its allowed values (both lower case).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LfTag {
    /// Owning account.
    pub account: AccountId,
    /// Lower-case key.
    pub key: String,
    /// Allowed lower-case values.
    pub values: BTreeSet<String>,
}

/// What an LF-tag is assigned to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TagTarget {
    /// A database.
    Database {
        /// Database name.
        database: String,
    },
    /// A table.
    Table {
        /// Table name.
        table: TableName,
    },
    /// One column of a table.
    Column {
        /// Table name.
        table: TableName,
        /// Column name.
        column: String,
    },
}

/// One LF-tag assignment: at most one value per key per target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagAssignment {
    /// Owning account.
    pub account: AccountId,
    /// What carries the tag.
    pub target: TagTarget,
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// Which columns a grant or filter covers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnSelection {
    /// Every column.
    All,
    /// Only these columns.
    Include(BTreeSet<String>),
    /// Every column except these.
    Exclude(BTreeSet<String>),
}

impl ColumnSelection {
    /// Whether `column` is selected.
    pub fn contains(&self, column: &str) -> bool {
        match self {
            ColumnSelection::All => true,
            ColumnSelection::Include(s) => s.contains(column),
            ColumnSelection::Exclude(s) => !s.contains(column),
        }
    }
}

/// The rows a data cells filter lets through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowFilter {
    /// Every row.
    AllRows,
    /// Rows where this predicate (DESIGN §3 rule 4 language) is true.
    Predicate(String),
}

/// A resource link (DESIGN §2, §3 rule 6): a `DB.NAME` in one account's
/// catalog that stands for a table another account shares with it. A link
/// always points at a table, never at another link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceLink {
    /// The account whose catalog holds the link.
    pub account: AccountId,
    /// The link's name in that catalog.
    pub name: TableName,
    /// The account that owns the target table.
    pub target_account: AccountId,
    /// The target table.
    pub target: TableName,
    /// Who created it.
    pub created_by: Principal,
}

/// A data cells filter on a table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFilter {
    /// Owning account.
    pub account: AccountId,
    /// The table it filters.
    pub table: TableName,
    /// Filter name.
    pub name: String,
    /// The rows.
    pub rows: RowFilter,
    /// The columns.
    pub columns: ColumnSelection,
}

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

/// A file of the account's Cedar policy set (policy-as-code).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFile {
    /// Path relative to the applied directory.
    pub path: String,
    /// Cedar source.
    pub source: String,
}
