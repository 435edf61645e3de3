//! The in-memory snapshot of one version of the governance state, and the
//! [`Change`]s that move it from one version to the next.
//!
//! Stores persist changes; the [`Catalog`] is what every decision reads. We
//! keep one immutable snapshot per store version because decisions must never
//! mix two versions (a revoke takes effect for the next statement, whole).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{
    AccountId, DataFilter, DataLocation, Database, Grant, LfTag, LocationUri, PolicyFile,
    Principal, ResourceLink, Table, TableName, TagAssignment, TagTarget,
};

/// One atomic unit of a commit. A commit is a list of changes applied in one
/// transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
#[allow(
    missing_docs,
    reason = "each variant names the object it puts or deletes; fields are that object's"
)]
pub enum Change {
    PutAdmin {
        account: AccountId,
        principal: Principal,
    },
    DeleteAdmin {
        account: AccountId,
        principal: Principal,
    },
    PutDatabase(Database),
    DeleteDatabase {
        account: AccountId,
        name: String,
    },
    PutTable(Table),
    DeleteTable {
        account: AccountId,
        name: TableName,
    },
    PutLocation(DataLocation),
    DeleteLocation {
        account: AccountId,
        uri: LocationUri,
    },
    PutTag(LfTag),
    DeleteTag {
        account: AccountId,
        key: String,
    },
    PutTagAssignment(TagAssignment),
    DeleteTagAssignment {
        account: AccountId,
        target: TagTarget,
        key: String,
    },
    PutFilter(DataFilter),
    DeleteFilter {
        account: AccountId,
        table: TableName,
        name: String,
    },
    PutGrant(Grant),
    DeleteGrant {
        id: String,
    },
    PutLink(ResourceLink),
    DeleteLink {
        account: AccountId,
        name: TableName,
    },
    SetPolicies {
        account: AccountId,
        files: Vec<PolicyFile>,
    },
}

/// The storage kind of an object, used as the first half of its store key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[allow(missing_docs, reason = "each variant names a kind of stored object")]
pub enum Kind {
    Admin,
    Database,
    Table,
    Location,
    Tag,
    TagAssignment,
    Filter,
    Grant,
    Policies,
    Link,
}

impl Kind {
    /// Every kind.
    pub const EVERY: [Kind; 10] = [
        Kind::Admin,
        Kind::Database,
        Kind::Table,
        Kind::Location,
        Kind::Tag,
        Kind::TagAssignment,
        Kind::Filter,
        Kind::Grant,
        Kind::Policies,
        Kind::Link,
    ];
    /// The kind's name in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Admin => "admin",
            Kind::Database => "database",
            Kind::Table => "table",
            Kind::Location => "location",
            Kind::Tag => "tag",
            Kind::TagAssignment => "tag_assignment",
            Kind::Filter => "filter",
            Kind::Grant => "grant",
            Kind::Link => "link",
            Kind::Policies => "policies",
        }
    }
    /// Parses a kind name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::EVERY.into_iter().find(|k| k.as_str() == s)
    }
}

fn target_key(t: &TagTarget) -> String {
    match t {
        TagTarget::Database { database } => format!("db:{database}"),
        TagTarget::Table { table } => format!("table:{table}"),
        TagTarget::Column { table, column } => format!("column:{table}.{column}"),
    }
}

impl Change {
    /// The change that deletes what this put writes (a put of an empty
    /// policy set for [`Change::SetPolicies`]); a delete is returned as is.
    pub fn undo(&self) -> Change {
        match self {
            Change::PutAdmin { account, principal } => Change::DeleteAdmin {
                account: account.clone(),
                principal: principal.clone(),
            },
            Change::PutDatabase(d) => Change::DeleteDatabase {
                account: d.account.clone(),
                name: d.name.clone(),
            },
            Change::PutTable(t) => Change::DeleteTable {
                account: t.account.clone(),
                name: t.name.clone(),
            },
            Change::PutLocation(l) => Change::DeleteLocation {
                account: l.account.clone(),
                uri: l.uri.clone(),
            },
            Change::PutTag(t) => Change::DeleteTag {
                account: t.account.clone(),
                key: t.key.clone(),
            },
            Change::PutTagAssignment(a) => Change::DeleteTagAssignment {
                account: a.account.clone(),
                target: a.target.clone(),
                key: a.key.clone(),
            },
            Change::PutFilter(f) => Change::DeleteFilter {
                account: f.account.clone(),
                table: f.table.clone(),
                name: f.name.clone(),
            },
            Change::PutGrant(g) => Change::DeleteGrant { id: g.id.clone() },
            Change::PutLink(l) => Change::DeleteLink {
                account: l.account.clone(),
                name: l.name.clone(),
            },
            Change::SetPolicies { account, .. } => Change::SetPolicies {
                account: account.clone(),
                files: Vec::new(),
            },
            other => other.clone(),
        }
    }

    /// The (kind, key) of the object this change writes or deletes, and the
    /// serialised body for a put (`None` for a delete).
    pub fn storage(&self) -> Result<(Kind, String, Option<String>)> {
        fn body<T: Serialize>(v: &T) -> Result<Option<String>> {
            serde_json::to_string(v).map(Some).map_err(ser)
        }
        Ok(match self {
            Change::PutAdmin { account, principal } => (
                Kind::Admin,
                format!("{account}|{principal}"),
                Some(serde_json::to_string(principal).map_err(ser)?),
            ),
            Change::DeleteAdmin { account, principal } => {
                (Kind::Admin, format!("{account}|{principal}"), None)
            }
            Change::PutDatabase(d) => (
                Kind::Database,
                format!("{}|{}", d.account, d.name),
                body(d)?,
            ),
            Change::DeleteDatabase { account, name } => {
                (Kind::Database, format!("{account}|{name}"), None)
            }
            Change::PutTable(t) => (Kind::Table, format!("{}|{}", t.account, t.name), body(t)?),
            Change::DeleteTable { account, name } => {
                (Kind::Table, format!("{account}|{name}"), None)
            }
            Change::PutLocation(l) => {
                (Kind::Location, format!("{}|{}", l.account, l.uri), body(l)?)
            }
            Change::DeleteLocation { account, uri } => {
                (Kind::Location, format!("{account}|{uri}"), None)
            }
            Change::PutTag(t) => (Kind::Tag, format!("{}|{}", t.account, t.key), body(t)?),
            Change::DeleteTag { account, key } => (Kind::Tag, format!("{account}|{key}"), None),
            Change::PutTagAssignment(a) => (
                Kind::TagAssignment,
                format!("{}|{}|{}", a.account, target_key(&a.target), a.key),
                body(a)?,
            ),
            Change::DeleteTagAssignment {
                account,
                target,
                key,
            } => (
                Kind::TagAssignment,
                format!("{account}|{}|{key}", target_key(target)),
                None,
            ),
            Change::PutFilter(f) => (
                Kind::Filter,
                format!("{}|{}|{}", f.account, f.table, f.name),
                body(f)?,
            ),
            Change::DeleteFilter {
                account,
                table,
                name,
            } => (Kind::Filter, format!("{account}|{table}|{name}"), None),
            Change::PutGrant(g) => (Kind::Grant, g.id.clone(), body(g)?),
            Change::DeleteGrant { id } => (Kind::Grant, id.clone(), None),
            Change::PutLink(l) => (Kind::Link, format!("{}|{}", l.account, l.name), body(l)?),
            Change::DeleteLink { account, name } => (Kind::Link, format!("{account}|{name}"), None),
            Change::SetPolicies { account, files } => (
                Kind::Policies,
                account.to_string(),
                Some(serde_json::to_string(files).map_err(ser)?),
            ),
        })
    }
}

fn ser(e: serde_json::Error) -> Error {
    Error::internal(format!("cannot serialise a catalog object: {e}"))
}

/// One version of the whole governance state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    /// The store version this snapshot was read at.
    pub version: u64,
    /// Data lake admins per account.
    pub admins: BTreeSet<(AccountId, Principal)>,
    /// Databases by (account, name).
    pub databases: BTreeMap<(AccountId, String), Database>,
    /// Tables by (account, name).
    pub tables: BTreeMap<(AccountId, TableName), Table>,
    /// Registered locations by (account, uri).
    pub locations: BTreeMap<(AccountId, LocationUri), DataLocation>,
    /// LF-tag keys by (account, key).
    pub tags: BTreeMap<(AccountId, String), LfTag>,
    /// LF-tag assignments by (account, target, key).
    pub tag_assignments: BTreeMap<(AccountId, TagTarget, String), TagAssignment>,
    /// Data cells filters by (account, table, name).
    pub filters: BTreeMap<(AccountId, TableName, String), DataFilter>,
    /// Grants by id.
    pub grants: BTreeMap<String, Grant>,
    /// Resource links by (account, `DB.NAME`).
    pub links: BTreeMap<(AccountId, TableName), ResourceLink>,
    /// Account Cedar policy sets (policy-as-code).
    pub policies: BTreeMap<AccountId, Vec<PolicyFile>>,
}

impl Catalog {
    /// Applies one change in memory. Changes are validated before they are
    /// committed, so this only records them.
    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::PutAdmin { account, principal } => {
                self.admins.insert((account.clone(), principal.clone()));
            }
            Change::DeleteAdmin { account, principal } => {
                self.admins.remove(&(account.clone(), principal.clone()));
            }
            Change::PutDatabase(d) => {
                self.databases
                    .insert((d.account.clone(), d.name.clone()), d.clone());
            }
            Change::DeleteDatabase { account, name } => {
                self.databases.remove(&(account.clone(), name.clone()));
            }
            Change::PutTable(t) => {
                self.tables
                    .insert((t.account.clone(), t.name.clone()), t.clone());
            }
            Change::DeleteTable { account, name } => {
                self.tables.remove(&(account.clone(), name.clone()));
            }
            Change::PutLocation(l) => {
                self.locations
                    .insert((l.account.clone(), l.uri.clone()), l.clone());
            }
            Change::DeleteLocation { account, uri } => {
                self.locations.remove(&(account.clone(), uri.clone()));
            }
            Change::PutTag(t) => {
                self.tags
                    .insert((t.account.clone(), t.key.clone()), t.clone());
            }
            Change::DeleteTag { account, key } => {
                self.tags.remove(&(account.clone(), key.clone()));
            }
            Change::PutTagAssignment(a) => {
                self.tag_assignments.insert(
                    (a.account.clone(), a.target.clone(), a.key.clone()),
                    a.clone(),
                );
            }
            Change::DeleteTagAssignment {
                account,
                target,
                key,
            } => {
                self.tag_assignments
                    .remove(&(account.clone(), target.clone(), key.clone()));
            }
            Change::PutFilter(f) => {
                self.filters.insert(
                    (f.account.clone(), f.table.clone(), f.name.clone()),
                    f.clone(),
                );
            }
            Change::DeleteFilter {
                account,
                table,
                name,
            } => {
                self.filters
                    .remove(&(account.clone(), table.clone(), name.clone()));
            }
            Change::PutGrant(g) => {
                self.grants.insert(g.id.clone(), g.clone());
            }
            Change::DeleteGrant { id } => {
                self.grants.remove(id);
            }
            Change::PutLink(l) => {
                self.links
                    .insert((l.account.clone(), l.name.clone()), l.clone());
            }
            Change::DeleteLink { account, name } => {
                self.links.remove(&(account.clone(), name.clone()));
            }
            Change::SetPolicies { account, files } => {
                if files.is_empty() {
                    self.policies.remove(account);
                } else {
                    self.policies.insert(account.clone(), files.clone());
                }
            }
        }
    }

    /// Every object as the change that puts it (the inverse of loading):
    /// two catalogs differ exactly where these differ.
    pub fn puts(&self) -> Vec<Change> {
        let mut out = Vec::new();
        out.extend(
            self.admins
                .iter()
                .map(|(account, principal)| Change::PutAdmin {
                    account: account.clone(),
                    principal: principal.clone(),
                }),
        );
        out.extend(self.databases.values().cloned().map(Change::PutDatabase));
        out.extend(self.tables.values().cloned().map(Change::PutTable));
        out.extend(self.locations.values().cloned().map(Change::PutLocation));
        out.extend(self.tags.values().cloned().map(Change::PutTag));
        out.extend(
            self.tag_assignments
                .values()
                .cloned()
                .map(Change::PutTagAssignment),
        );
        out.extend(self.filters.values().cloned().map(Change::PutFilter));
        out.extend(self.grants.values().cloned().map(Change::PutGrant));
        out.extend(self.links.values().cloned().map(Change::PutLink));
        out.extend(
            self.policies
                .iter()
                .map(|(account, files)| Change::SetPolicies {
                    account: account.clone(),
                    files: files.clone(),
                }),
        );
        out
    }

    /// Loads one stored object into the snapshot.
    pub fn load_object(&mut self, kind: Kind, key: &str, body: &str) -> Result<()> {
        let bad = |e: serde_json::Error| {
            Error::StoreUnavailable(format!(
                "stored {} `{key}` cannot be read: {e}",
                kind.as_str()
            ))
        };
        let change = match kind {
            Kind::Admin => {
                let principal: Principal = serde_json::from_str(body).map_err(bad)?;
                let acct = key.split('|').next().unwrap_or_default();
                let account = AccountId::parse(acct)
                    .map_err(|e| Error::StoreUnavailable(format!("stored admin `{key}`: {e}")))?;
                Change::PutAdmin { account, principal }
            }
            Kind::Database => Change::PutDatabase(serde_json::from_str(body).map_err(bad)?),
            Kind::Table => Change::PutTable(serde_json::from_str(body).map_err(bad)?),
            Kind::Location => Change::PutLocation(serde_json::from_str(body).map_err(bad)?),
            Kind::Tag => Change::PutTag(serde_json::from_str(body).map_err(bad)?),
            Kind::TagAssignment => {
                Change::PutTagAssignment(serde_json::from_str(body).map_err(bad)?)
            }
            Kind::Filter => Change::PutFilter(serde_json::from_str(body).map_err(bad)?),
            Kind::Grant => Change::PutGrant(serde_json::from_str(body).map_err(bad)?),
            Kind::Link => Change::PutLink(serde_json::from_str(body).map_err(bad)?),
            Kind::Policies => {
                let account = AccountId::parse(key).map_err(|e| {
                    Error::StoreUnavailable(format!("stored policies `{key}`: {e}"))
                })?;
                Change::SetPolicies {
                    account,
                    files: serde_json::from_str(body).map_err(bad)?,
                }
            }
        };
        self.apply(&change);
        Ok(())
    }

    /// Whether `p` is a data lake admin of `account`.
    pub fn is_admin(&self, account: &AccountId, p: &Principal) -> bool {
        self.admins.contains(&(account.clone(), p.clone()))
    }

    /// The database, if it exists.
    pub fn database(&self, account: &AccountId, name: &str) -> Option<&Database> {
        self.databases.get(&(account.clone(), name.to_string()))
    }

    /// The table, if it exists.
    pub fn table(&self, account: &AccountId, name: &TableName) -> Option<&Table> {
        self.tables.get(&(account.clone(), name.clone()))
    }

    /// Tables of one database, in name order.
    pub fn tables_in<'a>(
        &'a self,
        account: &'a AccountId,
        database: &'a str,
    ) -> impl Iterator<Item = &'a Table> + 'a {
        self.tables
            .iter()
            .filter(move |((a, n), _)| a == account && n.database == database)
            .map(|(_, t)| t)
    }

    /// The registered location that contains `uri`, if any (the longest).
    pub fn registered_location_for(
        &self,
        account: &AccountId,
        uri: &LocationUri,
    ) -> Option<&DataLocation> {
        self.locations
            .iter()
            .filter(|((a, l), _)| a == account && l.contains(uri))
            .map(|(_, l)| l)
            .max_by_key(|l| l.uri.as_str().len())
    }

    /// Every grant whose resource concerns `table`.
    pub fn grants_on_table<'a>(
        &'a self,
        account: &'a AccountId,
        table: &'a TableName,
    ) -> impl Iterator<Item = &'a Grant> + 'a {
        self.grants
            .values()
            .filter(move |g| &g.account == account && g.resource.table() == Some(table))
    }
}
