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

mod grants;
pub use grants::*;

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

/// A group as policy files and repositories name it: `ACCOUNT:group/NAME`,
/// or a bare `NAME` in `account`. Not validated; parse the result.
pub fn group_id(account: &AccountId, name: &str) -> String {
    if name.contains(':') {
        name.to_string()
    } else {
        format!("{account}:group/{name}")
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
        // `%`, `?` and `#` would be decoded or cut off by the URL parsers
        // that read and write the files (`%2e%2e` is `..` to them), so the
        // path they use would differ from the one checked here.
        if rest.contains(['%', '?', '#']) {
            return Err(bad(
                "it must not contain `%`, `?` or `#` (percent-encoding, queries and fragments \
                 are not part of a location)",
            ));
        }
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
    /// A Delta Lake table (its `_delta_log` says which Parquet files are live).
    Delta,
}

impl Format {
    /// Parses `parquet`, `csv`, `json` or `delta`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "parquet" => Ok(Format::Parquet),
            "csv" => Ok(Format::Csv),
            "json" | "ndjson" => Ok(Format::Json),
            "delta" => Ok(Format::Delta),
            _ => Err(Error::invalid(format!(
                "format `{}` is not supported; use parquet, csv, json or delta",
                clip(s)
            ))),
        }
    }
    /// The lower-case name (also the data files' extension, but for Delta's Parquet files).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Delta => "delta",
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

/// A file of the account's Cedar policy set (policy-as-code).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFile {
    /// Path relative to the applied directory.
    pub path: String,
    /// Cedar source.
    pub source: String,
}
