//! The governance service: every admin operation of DESIGN §5 as a plain Rust
//! call, authorized against the current catalog version and committed in one
//! store transaction.
//!
//! Each operation reads a snapshot, checks the caller's rights and the input
//! against it, and commits its changes only if the store is still at that
//! snapshot's version (retrying on conflict). A decision therefore never mixes
//! two versions, and a concurrent change on another node cannot slip between
//! the check and the write.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::access::{self, TableAccess, table_not_found};
use crate::authorize::{Authorizer, Decision, PrincipalCtx, Target};
use crate::catalog::{Catalog, Change};
use crate::compile::{self, CompileCache, Compiled};
use crate::error::{Error, Result};
use crate::model::{
    AccountId, Caller, Column, ColumnSelection, DataLocation, Database, Format, Grant, GrantOrigin,
    LocationUri, MAX_COLUMNS, MAX_TEXT_LEN, Permission, Principal, Resource, Table, TableName,
    TagResourceType, clip, ident,
};

/// One catalog version with its compiled policies.
#[derive(Debug)]
pub struct Snapshot {
    /// The state.
    pub catalog: Catalog,
    /// Its Cedar policies, indexed.
    pub compiled: Compiled,
}

/// A resource as a request names it (the CLI's resource flags), before it is
/// resolved against the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ResourceSpec {
    /// `--catalog`
    Catalog,
    /// `--database DB`
    Database {
        /// DB
        name: String,
    },
    /// `--table DB.TABLE [--columns a,b | --exclude-columns a,b]`
    Table {
        /// DB.TABLE
        name: String,
        /// `--columns`
        columns: Vec<String>,
        /// `--exclude-columns`
        exclude_columns: Vec<String>,
    },
    /// `--data-filter DB.TABLE.NAME`
    DataFilter {
        /// DB.TABLE.NAME
        name: String,
    },
    /// `--location URI`
    Location {
        /// URI
        uri: String,
    },
    /// `--lf-tag KEY=V1,V2`
    LfTag {
        /// KEY
        key: String,
        /// V1, V2
        values: Vec<String>,
    },
    /// `--resource-type DATABASE|TABLE --tag KEY=V1,V2 ...`
    LfTagPolicy {
        /// DATABASE or TABLE
        resource_type: String,
        /// KEY → values
        tags: Vec<(String, Vec<String>)>,
    },
}

/// A grant or revoke request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRequest {
    /// Grantee, `ACCOUNT:user/NAME` etc.
    pub principal: String,
    /// Permissions to grant or revoke.
    pub permissions: Vec<String>,
    /// Permissions with the grant option.
    pub grantable: Vec<String>,
    /// The resource.
    pub resource: ResourceSpec,
    /// `COLUMN=KIND` masks (grant only).
    pub masks: Vec<(String, String)>,
}

/// A table to create, with its schema already inferred from the files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTable {
    /// DB.TABLE
    pub name: String,
    /// Location URI.
    pub location: String,
    /// File format.
    pub format: Format,
    /// Columns in file order, then partition keys.
    pub columns: Vec<Column>,
    /// Partition keys in key order.
    pub partition_keys: Vec<String>,
}

/// Filter for `permissions list`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionFilter {
    /// Only this principal's entries.
    pub principal: Option<String>,
    /// Only entries on this database (and its tables).
    pub database: Option<String>,
    /// Only entries on this table.
    pub table: Option<String>,
}

/// One row of `permissions list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionEntry {
    /// The grant id, or `admin:…` for implicit admin rights.
    pub id: String,
    /// Grantee.
    pub principal: String,
    /// Resource, as text.
    pub resource: String,
    /// The resource, structured (absent for implicit admin rights).
    pub resource_detail: Option<Resource>,
    /// Permissions.
    pub permissions: Vec<String>,
    /// Permissions with grant option.
    pub grantable: Vec<String>,
    /// Masks, `COLUMN=KIND`.
    pub masks: Vec<String>,
    /// `grant` (explicit), `creator` or `admin`.
    pub origin: String,
    /// Who granted it, for explicit grants.
    pub granted_by: Option<String>,
}

/// The outcome of a revoke.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeOutcome {
    /// Grants removed entirely.
    pub removed: Vec<String>,
    /// Grants narrowed (their new state).
    pub narrowed: Vec<Grant>,
}

struct State {
    snap: Arc<Snapshot>,
    cache: CompileCache,
}

/// The governance service over one store.
pub struct Governance {
    store: Arc<dyn crate::store::Store>,
    state: Mutex<State>,
}

const MAX_RETRIES: usize = 8;

/// Stable grant id: one grant per (account, principal, merge key).
pub(crate) fn grant_id(account: &AccountId, principal: &Principal, resource: &Resource) -> String {
    let mut h = Sha256::new();
    h.update(account.as_str());
    h.update([0]);
    h.update(principal.to_string());
    h.update([0]);
    h.update(resource.merge_key());
    let d = h.finalize();
    format!("g{}", hex::encode(d.get(..8).unwrap_or_default()))
}

impl Governance {
    /// Opens the service over a store, reading its current version.
    pub fn new(store: Arc<dyn crate::store::Store>) -> Result<Self> {
        let mut cache = CompileCache::default();
        let catalog = store.load()?;
        let compiled = Compiled::build(&catalog, &mut cache)?;
        Ok(Self {
            store,
            state: Mutex::new(State {
                snap: Arc::new(Snapshot { catalog, compiled }),
                cache,
            }),
        })
    }

    /// The current snapshot: reloaded if the store moved on. If the store
    /// cannot be read, this fails and every request is denied.
    pub fn snapshot(&self) -> Result<Arc<Snapshot>> {
        let v = self.store.version()?;
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::internal("governance state lock poisoned"))?;
        if st.snap.catalog.version != v {
            let catalog = self.store.load()?;
            let compiled = Compiled::build(&catalog, &mut st.cache)?;
            st.snap = Arc::new(Snapshot { catalog, compiled });
        }
        Ok(st.snap.clone())
    }

    /// Runs `f` against a fresh snapshot and commits its changes, retrying
    /// if another writer got in between.
    pub(crate) fn mutate<T>(
        &self,
        mut f: impl FnMut(&Snapshot) -> Result<(Vec<Change>, T)>,
    ) -> Result<T> {
        for _ in 0..MAX_RETRIES {
            let snap = self.snapshot()?;
            let (changes, out) = f(&snap)?;
            if changes.is_empty() {
                return Ok(out);
            }
            match self.store.commit(snap.catalog.version, &changes) {
                Ok(_) => return Ok(out),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }

    /// Makes `admins` data lake admins of `account` (idempotent).
    pub fn bootstrap(&self, account: &AccountId, admins: &[Principal]) -> Result<()> {
        for a in admins {
            if a.account() != account || a.kind().is_none() {
                return Err(Error::invalid(format!(
                    "admin `{a}` must be a user, role or group of account `{account}`"
                )));
            }
        }
        self.mutate(|snap| {
            let changes = admins
                .iter()
                .filter(|a| !snap.catalog.is_admin(account, a))
                .map(|a| Change::PutAdmin {
                    account: account.clone(),
                    principal: (*a).clone(),
                })
                .collect();
            Ok((changes, ()))
        })
    }

    /// Whether the caller (or one of its groups) is a data lake admin of its account.
    pub fn is_admin(&self, snap: &Snapshot, caller: &Caller) -> bool {
        let a = caller.account();
        snap.catalog.is_admin(a, &caller.principal)
            || caller.groups.iter().any(|g| snap.catalog.is_admin(a, g))
    }

    /// Decides one permission of the caller on a target.
    pub fn authorize(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        permission: Permission,
        target: &Target,
    ) -> Result<Decision> {
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        authz.decide(&p, permission.as_str(), target)
    }

    pub(crate) fn require(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        permission: Permission,
        target: &Target,
        what: &str,
    ) -> Result<()> {
        let d = self.authorize(snap, caller, permission, target)?;
        if d.allowed {
            Ok(())
        } else {
            Err(Error::denied(format!(
                "`{}` lacks {permission} on {what}; ask a data lake admin to grant it",
                caller.principal
            )))
        }
    }

    pub(crate) fn can_describe_database(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        db: &str,
    ) -> Result<bool> {
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        let acct = caller.account();
        let target = Target::Database(acct.clone(), db.to_string());
        for perm in [
            Permission::Describe,
            Permission::CreateTable,
            Permission::Alter,
            Permission::Drop,
        ] {
            if authz.decide(&p, perm.as_str(), &target)?.allowed {
                return Ok(true);
            }
        }
        for t in snap.catalog.tables_in(acct, db) {
            if access::can_describe_table(&snap.catalog, &authz, &p, acct, &t.name)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn database_not_found(&self, snap: &Snapshot, caller: &Caller, db: &str) -> Result<Error> {
        let visible = self.list_databases_in(snap, caller)?;
        Ok(Error::invalid(format!(
            "database `{}` was not found; databases you can see: {}",
            clip(db),
            if visible.is_empty() {
                "none".to_string()
            } else {
                visible
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )))
    }

    /// Looks up a database the caller may see; hidden ones are "not found".
    pub(crate) fn visible_database<'s>(
        &self,
        snap: &'s Snapshot,
        caller: &Caller,
        name: &str,
    ) -> Result<&'s Database> {
        let n = ident(name, "database")?;
        match snap.catalog.database(caller.account(), &n) {
            Some(d) if self.can_describe_database(snap, caller, &n)? => Ok(d),
            _ => Err(self.database_not_found(snap, caller, name)?),
        }
    }

    /// Looks up a table the caller may see; hidden ones are "not found".
    pub(crate) fn visible_table<'s>(
        &self,
        snap: &'s Snapshot,
        caller: &Caller,
        name: &str,
    ) -> Result<&'s Table> {
        let tn = TableName::parse(name)?;
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        match snap.catalog.table(caller.account(), &tn) {
            Some(t)
                if access::can_describe_table(
                    &snap.catalog,
                    &authz,
                    &p,
                    caller.account(),
                    &tn,
                )? =>
            {
                Ok(t)
            }
            _ => Err(table_not_found(&tn)),
        }
    }

    /// Checks that the caller may use `uri` (DATA_LOCATION_ACCESS, or a
    /// database location that contains it) and that it lies inside a
    /// registered location. The right is checked first, so a caller without
    /// it does not learn which locations are registered.
    fn check_location(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        uri: &LocationUri,
        db: Option<&Database>,
    ) -> Result<()> {
        let acct = caller.account();
        let in_db = db
            .and_then(|d| d.location.as_ref())
            .is_some_and(|db_loc| db_loc.contains(uri));
        if !in_db && !self.is_admin(snap, caller) {
            self.require(
                snap,
                caller,
                Permission::DataLocationAccess,
                &Target::Location(acct.clone(), uri.clone()),
                &format!("location `{uri}`"),
            )?;
        }
        if snap.catalog.registered_location_for(acct, uri).is_none() {
            return Err(Error::invalid(format!(
                "location `{uri}` is not inside any registered data location; \
                 a data lake admin must run `lakegate location register URI` first"
            )));
        }
        Ok(())
    }

    /// `database create DB [--location URI]`.
    pub fn create_database(
        &self,
        caller: &Caller,
        name: &str,
        location: Option<&str>,
    ) -> Result<Database> {
        let n = ident(name, "database")?;
        let loc = location.map(LocationUri::parse).transpose()?;
        let acct = caller.account().clone();
        self.mutate(|snap| {
            self.require(
                snap,
                caller,
                Permission::CreateDatabase,
                &Target::Catalog(acct.clone()),
                &format!("catalog `{acct}`"),
            )?;
            if snap.catalog.database(&acct, &n).is_some() {
                return Err(Error::AlreadyExists(format!(
                    "database `{n}` already exists; choose another name"
                )));
            }
            if let Some(l) = &loc {
                self.check_location(snap, caller, l, None)?;
            }
            let db = Database {
                account: acct.clone(),
                name: n.clone(),
                location: loc.clone(),
                creator: caller.principal.clone(),
            };
            let creator_perms: BTreeSet<Permission> = [
                Permission::CreateTable,
                Permission::Alter,
                Permission::Drop,
                Permission::Describe,
            ]
            .into();
            let resource = Resource::Database {
                database: n.clone(),
            };
            let g = Grant {
                id: grant_id(&acct, &caller.principal, &resource),
                account: acct.clone(),
                principal: caller.principal.clone(),
                resource,
                permissions: creator_perms.clone(),
                grantable: creator_perms,
                masks: BTreeMap::new(),
                origin: GrantOrigin::Creator,
            };
            Ok((
                vec![Change::PutDatabase(db.clone()), Change::PutGrant(g)],
                db,
            ))
        })
    }

    fn list_databases_in(&self, snap: &Snapshot, caller: &Caller) -> Result<Vec<Database>> {
        let mut out = Vec::new();
        for ((a, n), d) in &snap.catalog.databases {
            if a == caller.account() && self.can_describe_database(snap, caller, n)? {
                out.push(d.clone());
            }
        }
        Ok(out)
    }

    /// Databases the caller may DESCRIBE.
    pub fn list_databases(&self, caller: &Caller) -> Result<Vec<Database>> {
        let snap = self.snapshot()?;
        self.list_databases_in(&snap, caller)
    }

    /// `location register URI` (data lake admins only).
    pub fn register_location(&self, caller: &Caller, uri: &str) -> Result<DataLocation> {
        let uri = LocationUri::parse(uri)?;
        let acct = caller.account().clone();
        self.mutate(|snap| {
            if !self.is_admin(snap, caller) {
                return Err(Error::denied(format!(
                    "only a data lake admin of `{acct}` may register locations; ask one to run \
                     `lakegate location register {uri}`"
                )));
            }
            if snap
                .catalog
                .locations
                .contains_key(&(acct.clone(), uri.clone()))
            {
                return Err(Error::AlreadyExists(format!(
                    "location `{uri}` is already registered"
                )));
            }
            let l = DataLocation {
                account: acct.clone(),
                uri: uri.clone(),
            };
            Ok((vec![Change::PutLocation(l.clone())], l))
        })
    }

    /// Registered locations (admins see all; others those they may use).
    pub fn list_locations(&self, caller: &Caller) -> Result<Vec<DataLocation>> {
        let snap = self.snapshot()?;
        let admin = self.is_admin(&snap, caller);
        let mut out = Vec::new();
        for ((a, uri), l) in &snap.catalog.locations {
            if a != caller.account() {
                continue;
            }
            if admin
                || self
                    .authorize(
                        &snap,
                        caller,
                        Permission::DataLocationAccess,
                        &Target::Location(a.clone(), uri.clone()),
                    )?
                    .allowed
            {
                out.push(l.clone());
            }
        }
        Ok(out)
    }

    /// The checks of `table create` that need no files: the caller may
    /// create a table named `name` at `location`. Run before inferring the
    /// schema, so a denied caller never makes the server read files.
    pub fn check_create_table(&self, caller: &Caller, name: &str, location: &str) -> Result<()> {
        let snap = self.snapshot()?;
        self.check_create_table_in(&snap, caller, name, location)
            .map(|_| ())
    }

    fn check_create_table_in(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        name: &str,
        location: &str,
    ) -> Result<(TableName, LocationUri)> {
        let tn = TableName::parse(name)?;
        let loc = LocationUri::parse(location)?;
        let db = self.visible_database(snap, caller, &tn.database)?;
        self.require(
            snap,
            caller,
            Permission::CreateTable,
            &Target::Database(caller.account().clone(), tn.database.clone()),
            &format!("database `{}`", tn.database),
        )?;
        if snap.catalog.table(caller.account(), &tn).is_some() {
            return Err(Error::AlreadyExists(format!(
                "table `{tn}` already exists; choose another name"
            )));
        }
        self.check_location(snap, caller, &loc, Some(db))?;
        Ok((tn, loc))
    }

    /// `table create DB.TABLE --location URI ...` with the inferred schema.
    pub fn create_table(&self, caller: &Caller, spec: &NewTable) -> Result<Table> {
        if spec.columns.is_empty() {
            return Err(Error::invalid(format!(
                "no columns were found for table `{}`; check that the location holds {} files",
                clip(&spec.name),
                spec.format.as_str()
            )));
        }
        if spec.columns.len() > MAX_COLUMNS {
            return Err(Error::invalid(format!(
                "table `{}` has {} columns; at most {MAX_COLUMNS} are supported",
                clip(&spec.name),
                spec.columns.len()
            )));
        }
        let mut columns = Vec::with_capacity(spec.columns.len());
        let mut seen = BTreeSet::new();
        for c in &spec.columns {
            let n = ident(&c.name, "column")?;
            if !seen.insert(n.clone()) {
                return Err(Error::invalid(format!(
                    "column `{n}` appears twice in table `{}` (names are case-insensitive); rename one",
                    clip(&spec.name)
                )));
            }
            if c.data_type.is_empty() || c.data_type.len() > MAX_TEXT_LEN {
                return Err(Error::invalid(format!("column `{n}` has no usable type")));
            }
            columns.push(Column {
                name: n,
                data_type: c.data_type.clone(),
                partition: c.partition,
            });
        }
        let mut partition_keys = Vec::new();
        for k in &spec.partition_keys {
            let k = ident(k, "partition key")?;
            if !columns.iter().any(|c| c.name == k && c.partition) {
                return Err(Error::invalid(format!(
                    "partition key `{k}` has no `{k}=VALUE/` folders at `{}`; check the layout",
                    clip(&spec.location)
                )));
            }
            partition_keys.push(k);
        }
        self.mutate(|snap| {
            let (tn, loc) = self.check_create_table_in(snap, caller, &spec.name, &spec.location)?;
            let acct = caller.account().clone();
            let t = Table {
                account: acct.clone(),
                name: tn.clone(),
                columns: columns.clone(),
                partition_keys: partition_keys.clone(),
                location: loc,
                format: spec.format,
                creator: caller.principal.clone(),
            };
            let resource = Resource::Table { table: tn.clone() };
            let all: BTreeSet<Permission> = [Permission::All].into();
            let g = Grant {
                id: grant_id(&acct, &caller.principal, &resource),
                account: acct,
                principal: caller.principal.clone(),
                resource,
                permissions: all.clone(),
                grantable: all,
                masks: BTreeMap::new(),
                origin: GrantOrigin::Creator,
            };
            Ok((vec![Change::PutTable(t.clone()), Change::PutGrant(g)], t))
        })
    }

    /// Tables of a database that the caller may DESCRIBE, with only the
    /// columns it may see (all columns for DESCRIBE-only holders is not
    /// granted: DESCRIBE shows the schema of visible columns).
    pub fn list_tables(&self, caller: &Caller, database: &str) -> Result<Vec<Table>> {
        let snap = self.snapshot()?;
        let db = self.visible_database(&snap, caller, database)?;
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        let mut out = Vec::new();
        for t in snap.catalog.tables_in(caller.account(), &db.name) {
            if access::can_describe_table(&snap.catalog, &authz, &p, caller.account(), &t.name)? {
                out.push(self.visible_schema(&snap, caller, t)?);
            }
        }
        Ok(out)
    }

    /// A table as the caller may see it: only visible columns (DESIGN §3 rule 3).
    pub(crate) fn visible_schema(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        t: &Table,
    ) -> Result<Table> {
        let mut shown = t.clone();
        match access::effective_access(
            &snap.catalog,
            &snap.compiled,
            caller,
            caller.account(),
            &t.name,
        ) {
            Ok(a) => {
                shown
                    .columns
                    .retain(|c| a.columns.iter().any(|v| v.name == c.name));
            }
            Err(Error::PermissionDenied(_)) => {
                // DESCRIBE without SELECT: the table is shown, its data
                // columns are not, unless the caller may alter or drop it
                // (which needs the whole schema).
                let full = [Permission::Alter, Permission::Drop, Permission::Insert]
                    .into_iter()
                    .map(|perm| {
                        self.authorize(
                            snap,
                            caller,
                            perm,
                            &Target::Table(t.account.clone(), t.name.clone()),
                        )
                        .map(|d| d.allowed)
                    })
                    .collect::<Result<Vec<bool>>>()?
                    .into_iter()
                    .any(|b| b);
                if !full {
                    shown.columns.clear();
                }
            }
            Err(e) => return Err(e),
        }
        shown
            .partition_keys
            .retain(|k| shown.columns.iter().any(|c| &c.name == k));
        Ok(shown)
    }

    /// One table as the caller may see it.
    pub fn describe_table(&self, caller: &Caller, name: &str) -> Result<Table> {
        let snap = self.snapshot()?;
        let t = self.visible_table(&snap, caller, name)?;
        self.visible_schema(&snap, caller, t)
    }

    /// Effective access of the caller on `DB.TABLE` in its own account.
    pub fn effective_access(&self, caller: &Caller, table: &TableName) -> Result<TableAccess> {
        let snap = self.snapshot()?;
        access::effective_access(
            &snap.catalog,
            &snap.compiled,
            caller,
            caller.account(),
            table,
        )
    }

    /// Resolves a resource spec against the catalog for the caller.
    fn resolve(&self, snap: &Snapshot, caller: &Caller, spec: &ResourceSpec) -> Result<Resource> {
        let acct = caller.account();
        Ok(match spec {
            ResourceSpec::Catalog => Resource::Catalog,
            ResourceSpec::Database { name } => Resource::Database {
                database: self.visible_database(snap, caller, name)?.name.clone(),
            },
            ResourceSpec::Table {
                name,
                columns,
                exclude_columns,
            } => {
                let t = self.visible_table(snap, caller, name)?;
                match (columns.is_empty(), exclude_columns.is_empty()) {
                    (true, true) => Resource::Table {
                        table: t.name.clone(),
                    },
                    (false, true) => Resource::TableWithColumns {
                        table: t.name.clone(),
                        columns: ColumnSelection::Include(
                            self.check_visible_columns(snap, caller, t, columns)?,
                        ),
                    },
                    (true, false) => Resource::TableWithColumns {
                        table: t.name.clone(),
                        columns: ColumnSelection::Exclude(self.check_visible_columns(
                            snap,
                            caller,
                            t,
                            exclude_columns,
                        )?),
                    },
                    (false, false) => {
                        return Err(Error::invalid(
                            "give either --columns or --exclude-columns, not both",
                        ));
                    }
                }
            }
            ResourceSpec::DataFilter { name } => {
                // Whether the filter exists is checked after the caller is
                // authorized (`check_exists`), so that to a caller without
                // the right an existing and a missing filter look the same.
                let (tname, f) = crate::filters::split_filter_name(name)?;
                let t = self.visible_table(snap, caller, &tname.to_string())?;
                Resource::DataFilter {
                    table: t.name.clone(),
                    filter: f,
                }
            }
            ResourceSpec::Location { uri } => {
                // Registration is checked after authorization (`check_exists`).
                Resource::DataLocation {
                    uri: LocationUri::parse(uri)?,
                }
            }
            ResourceSpec::LfTag { key, values } => {
                let key = ident(key, "LF-tag key")?;
                let tag = snap
                    .catalog
                    .tags
                    .get(&(acct.clone(), key.clone()))
                    .ok_or_else(|| {
                        Error::invalid(format!(
                            "LF-tag `{key}` does not exist; create it with `lakegate lf-tag create`"
                        ))
                    })?;
                let mut vs = BTreeSet::new();
                for v in values {
                    let v = v.to_ascii_lowercase();
                    if !tag.values.contains(&v) {
                        return Err(Error::invalid(format!(
                            "`{}` is not a value of LF-tag `{key}`; values are: {}",
                            clip(&v),
                            tag.values.iter().cloned().collect::<Vec<_>>().join(", ")
                        )));
                    }
                    vs.insert(v);
                }
                if vs.is_empty() {
                    return Err(Error::invalid(format!(
                        "name at least one value of LF-tag `{key}`"
                    )));
                }
                Resource::LfTag { key, values: vs }
            }
            ResourceSpec::LfTagPolicy {
                resource_type,
                tags,
            } => {
                let rt = match resource_type.to_ascii_uppercase().as_str() {
                    "DATABASE" => TagResourceType::Database,
                    "TABLE" => TagResourceType::Table,
                    _ => {
                        return Err(Error::invalid(format!(
                            "resource type `{}` is not DATABASE or TABLE",
                            clip(resource_type)
                        )));
                    }
                };
                let mut expr = BTreeMap::new();
                for (k, vs) in tags {
                    let r = self.resolve(
                        snap,
                        caller,
                        &ResourceSpec::LfTag {
                            key: k.clone(),
                            values: vs.clone(),
                        },
                    )?;
                    if let Resource::LfTag { key, values } = r
                        && expr.insert(key.clone(), values).is_some()
                    {
                        return Err(Error::invalid(format!(
                            "LF-tag key `{key}` appears twice in the expression; list its \
                                 values once, comma-separated"
                        )));
                    }
                }
                if expr.is_empty() {
                    return Err(Error::invalid(
                        "a tag expression needs at least one --tag KEY=V1,V2",
                    ));
                }
                Resource::LfTagPolicy {
                    resource_type: rt,
                    expression: expr,
                }
            }
        })
    }

    /// Checks column names exist and are visible to the caller (hidden
    /// columns are reported exactly like missing ones, and only visible
    /// columns are listed). Data lake admins see every column.
    pub(crate) fn check_visible_columns(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        t: &Table,
        names: &[String],
    ) -> Result<BTreeSet<String>> {
        if self.is_admin(snap, caller) {
            return Ok(t.check_columns(names)?.into_iter().collect());
        }
        let shown = self.visible_schema(snap, caller, t)?;
        if shown.columns.is_empty() {
            // A DESCRIBE-only caller sees no column: every name is unknown
            // to it, whether or not the column exists.
            let first = names.first().map(String::as_str).unwrap_or_default();
            return Err(Error::invalid(format!(
                "column `{}` is not in table `{}`; you can see none of its columns (see \
                 `lakegate table describe {}`)",
                clip(first),
                t.name,
                t.name
            )));
        }
        Ok(shown.check_columns(names)?.into_iter().collect())
    }

    fn parse_perms(list: &[String]) -> Result<BTreeSet<Permission>> {
        list.iter().map(|p| Permission::parse(p)).collect()
    }

    /// Validates a grant request and returns the resolved pieces.
    fn prepare(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        req: &GrantRequest,
        revoke: bool,
    ) -> Result<(
        Principal,
        Resource,
        BTreeSet<Permission>,
        BTreeSet<Permission>,
    )> {
        let principal = Principal::parse(&req.principal)?;
        let acct = caller.account();
        if principal.kind().is_none() || principal.account() != acct {
            return Err(Error::invalid(format!(
                "`{principal}` is not a user, role or group of account `{acct}`; cross-account \
                 grants are not supported yet, so grant to principals of your own account"
            )));
        }
        let resource = self.resolve(snap, caller, &req.resource)?;
        let perms = Self::parse_perms(&req.permissions)?;
        let grantable = Self::parse_perms(&req.grantable)?;
        if perms.is_empty() && (!revoke || grantable.is_empty()) {
            return Err(Error::invalid(
                "name at least one permission with --permissions",
            ));
        }
        let valid = resource.valid_permissions();
        for p in perms.iter().chain(grantable.iter()) {
            if !valid.contains(p) {
                return Err(Error::invalid(format!(
                    "{p} cannot be granted on a {}; valid permissions are: {}",
                    resource.kind_name(),
                    valid
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        if !revoke && !grantable.is_subset(&perms) {
            return Err(Error::invalid(
                "--grantable must be a subset of --permissions",
            ));
        }
        if !revoke
            && !grantable.is_empty()
            && matches!(
                resource,
                Resource::TableWithColumns {
                    columns: ColumnSelection::Exclude(_),
                    ..
                }
            )
        {
            return Err(Error::invalid(
                "an exclude column list cannot be granted with the grant option; \
                 grant an explicit --columns list instead",
            ));
        }
        // Authorize before looking at anything else that exists (DESIGN §4).
        self.refuse_own_grants(snap, caller, &principal)?;
        self.check_grant_option(snap, caller, &resource, &(&perms | &grantable))?;
        self.check_exists(snap, caller, &resource)?;
        Ok((principal, resource, perms, grantable))
    }

    /// `grant`: adds permissions, merging with the principal's existing
    /// grant on the same resource.
    pub fn grant(&self, caller: &Caller, req: &GrantRequest) -> Result<Grant> {
        self.mutate(|snap| {
            let (principal, resource, perms, grantable) = self.prepare(snap, caller, req, false)?;
            let masks = self.check_masks(snap, caller, &resource, &perms, &req.masks)?;
            // A non-admin's re-grant carries its own masks (rules 8, 10).
            let masks = self.regrant_masks(snap, caller, &resource, &perms, masks)?;
            let acct = caller.account().clone();
            let id = grant_id(&acct, &principal, &resource);
            let mut changes = Vec::new();
            let g = match (snap.catalog.grants.get(&id), &resource) {
                (
                    Some(old),
                    Resource::TableWithColumns {
                        table,
                        columns: new,
                    },
                ) => {
                    let merged = merge_columns(old_columns(old), new);
                    let resource = Resource::TableWithColumns {
                        table: table.clone(),
                        columns: merged.clone(),
                    };
                    if !old.grantable.is_empty() && matches!(merged, ColumnSelection::Exclude(_)) {
                        return Err(Error::invalid(
                            "this grant would turn a grantable column list into an exclude list, \
                             which cannot carry the grant option; revoke the grant option first",
                        ));
                    }
                    // A re-grant restates the masks of the columns it names:
                    // a column named without a mask is now shown in the clear.
                    let mut m = old.masks.clone();
                    m.retain(|c, _| !new.contains(c));
                    m.extend(masks.clone());
                    Grant {
                        id: id.clone(),
                        account: acct.clone(),
                        principal: principal.clone(),
                        resource,
                        permissions: &old.permissions | &perms,
                        grantable: &old.grantable | &grantable,
                        masks: m,
                        origin: GrantOrigin::Explicit {
                            by: caller.principal.clone(),
                        },
                    }
                }
                (Some(old), _) => {
                    // A table-level re-grant restates every column's mask.
                    // (Only a re-grant of SELECT does: granting DESCRIBE again
                    // must never unmask anything.)
                    let m = if matches!(resource, Resource::Table { .. })
                        && (perms.contains(&Permission::Select) || perms.contains(&Permission::All))
                    {
                        masks.clone()
                    } else {
                        let mut m = old.masks.clone();
                        m.extend(masks.clone());
                        m
                    };
                    // One grant per LF-tag key: a re-grant naming other
                    // values of the key adds them (it used to keep only the
                    // old values, silently granting nothing new).
                    let resource = match (&old.resource, &resource) {
                        (
                            Resource::LfTag { key, values: had },
                            Resource::LfTag { values: add, .. },
                        ) => Resource::LfTag {
                            key: key.clone(),
                            values: had | add,
                        },
                        _ => old.resource.clone(),
                    };
                    Grant {
                        resource,
                        permissions: &old.permissions | &perms,
                        grantable: &old.grantable | &grantable,
                        masks: m,
                        ..old.clone()
                    }
                }
                (None, _) => Grant {
                    id: id.clone(),
                    account: acct.clone(),
                    principal: principal.clone(),
                    resource: resource.clone(),
                    permissions: perms.clone(),
                    grantable: grantable.clone(),
                    masks: masks.clone(),
                    origin: GrantOrigin::Explicit {
                        by: caller.principal.clone(),
                    },
                },
            };
            if snap.catalog.grants.get(&id) != Some(&g) {
                changes.push(Change::PutGrant(g.clone()));
            }
            Ok((changes, g))
        })
    }

    /// `revoke`: takes away access, never less than asked (rule 11).
    pub fn revoke(&self, caller: &Caller, req: &GrantRequest) -> Result<RevokeOutcome> {
        self.mutate(|snap| {
            let (principal, resource, perms, grantable_only) =
                self.prepare(snap, caller, req, true)?;
            let acct = caller.account().clone();
            let mut changes = Vec::new();
            let mut out = RevokeOutcome {
                removed: Vec::new(),
                narrowed: Vec::new(),
            };
            let put = |g: Grant, changes: &mut Vec<Change>, out: &mut RevokeOutcome| {
                if g.permissions.is_empty() {
                    changes.push(Change::DeleteGrant { id: g.id.clone() });
                    out.removed.push(g.id);
                } else {
                    changes.push(Change::PutGrant(g.clone()));
                    out.narrowed.push(g);
                }
            };
            let expand_all = |set: &BTreeSet<Permission>, r: &Resource| {
                // Revoking ALL removes ALL and every concrete permission.
                let mut s = compile::expand(set, r);
                if set.contains(&Permission::All) {
                    s.insert(Permission::All);
                }
                s
            };
            let strip = |g: &Grant| -> Grant {
                let rm = expand_all(&perms, &g.resource);
                let rm_go = &rm | &expand_all(&grantable_only, &g.resource);
                let mut n = g.clone();
                // Revoking a concrete permission out of ALL leaves the rest.
                if n.permissions.contains(&Permission::All)
                    && !rm.contains(&Permission::All)
                    && !rm.is_empty()
                {
                    n.permissions.remove(&Permission::All);
                    n.permissions
                        .extend(compile::expand(&[Permission::All].into(), &g.resource));
                }
                if n.grantable.contains(&Permission::All)
                    && !rm_go.contains(&Permission::All)
                    && !rm_go.is_empty()
                {
                    n.grantable.remove(&Permission::All);
                    n.grantable
                        .extend(compile::expand(&[Permission::All].into(), &g.resource));
                }
                n.permissions.retain(|p| !rm.contains(p));
                n.grantable
                    .retain(|p| !rm_go.contains(p) && n.permissions.contains(p));
                n
            };
            let id = grant_id(&acct, &principal, &resource);
            match &resource {
                Resource::Table { table } => {
                    let mut touched = false;
                    if let Some(g) = snap.catalog.grants.get(&id) {
                        let n = strip(g);
                        if &n != g {
                            put(n, &mut changes, &mut out);
                            touched = true;
                        }
                    }
                    // Revoking SELECT on the table also removes column grants.
                    if perms.contains(&Permission::Select) || perms.contains(&Permission::All) {
                        let cid = grant_id(
                            &acct,
                            &principal,
                            &Resource::TableWithColumns {
                                table: table.clone(),
                                columns: ColumnSelection::All,
                            },
                        );
                        if snap.catalog.grants.contains_key(&cid) {
                            changes.push(Change::DeleteGrant { id: cid.clone() });
                            out.removed.push(cid);
                            touched = true;
                        }
                    } else if grantable_only.contains(&Permission::Select) {
                        let cid = grant_id(
                            &acct,
                            &principal,
                            &Resource::TableWithColumns {
                                table: table.clone(),
                                columns: ColumnSelection::All,
                            },
                        );
                        if let Some(cg) = snap.catalog.grants.get(&cid) {
                            let mut n = cg.clone();
                            n.grantable.clear();
                            if &n != cg {
                                put(n, &mut changes, &mut out);
                                touched = true;
                            }
                        }
                    }
                    if !touched {
                        return Err(nothing_to_revoke(&principal, &resource));
                    }
                }
                Resource::TableWithColumns { table, columns } => {
                    let mut touched = false;
                    let cid = id.clone();
                    let tid = grant_id(
                        &acct,
                        &principal,
                        &Resource::Table {
                            table: table.clone(),
                        },
                    );
                    let table_select = snap
                        .catalog
                        .grants
                        .get(&tid)
                        .filter(|g| {
                            compile::expand(&g.permissions, &g.resource)
                                .contains(&Permission::Select)
                        })
                        .cloned();
                    let existing = snap.catalog.grants.get(&cid).cloned();
                    let revoking_select = perms.contains(&Permission::Select);
                    if revoking_select {
                        if let Some(tg) = &table_select {
                            // Table-level SELECT minus these columns becomes an
                            // exclude list (which cannot carry the grant option).
                            let mut n = tg.clone();
                            if n.permissions.contains(&Permission::All) {
                                n.permissions.remove(&Permission::All);
                                n.permissions.extend(compile::expand(
                                    &[Permission::All].into(),
                                    &tg.resource,
                                ));
                            }
                            if n.grantable.contains(&Permission::All) {
                                n.grantable.remove(&Permission::All);
                                n.grantable.extend(compile::expand(
                                    &[Permission::All].into(),
                                    &tg.resource,
                                ));
                            }
                            n.permissions.remove(&Permission::Select);
                            n.grantable.remove(&Permission::Select);
                            put(n, &mut changes, &mut out);
                            let excl = match columns {
                                ColumnSelection::Include(c) => c.clone(),
                                _ => BTreeSet::new(),
                            };
                            let ng = Grant {
                                id: cid.clone(),
                                account: acct.clone(),
                                principal: principal.clone(),
                                resource: Resource::TableWithColumns {
                                    table: table.clone(),
                                    columns: ColumnSelection::Exclude(excl),
                                },
                                permissions: [Permission::Select].into(),
                                grantable: BTreeSet::new(),
                                masks: tg
                                    .masks
                                    .iter()
                                    .filter(|(c, _)| !columns.contains(c))
                                    .map(|(c, m)| (c.clone(), m.clone()))
                                    .collect(),
                                origin: GrantOrigin::Explicit {
                                    by: caller.principal.clone(),
                                },
                            };
                            changes.push(Change::PutGrant(ng.clone()));
                            out.narrowed.push(ng);
                            touched = true;
                        } else if let Some(cg) = &existing {
                            let left = subtract_columns(old_columns(cg), columns);
                            let mut n = cg.clone();
                            n.masks.retain(|c, _| left.contains(c));
                            if matches!(&left, ColumnSelection::Include(s) if s.is_empty()) {
                                n.permissions.clear();
                            }
                            n.resource = Resource::TableWithColumns {
                                table: table.clone(),
                                columns: left,
                            };
                            if matches!(
                                n.resource,
                                Resource::TableWithColumns {
                                    columns: ColumnSelection::Exclude(_),
                                    ..
                                }
                            ) {
                                n.grantable.clear();
                            }
                            put(n, &mut changes, &mut out);
                            touched = true;
                        }
                    } else if grantable_only.contains(&Permission::Select)
                        && let Some(cg) = &existing
                    {
                        let mut n = cg.clone();
                        n.grantable.clear();
                        if &n != cg {
                            put(n, &mut changes, &mut out);
                            touched = true;
                        }
                    }
                    if !touched {
                        return Err(nothing_to_revoke(&principal, &resource));
                    }
                }
                _ => match snap.catalog.grants.get(&id) {
                    Some(g) => {
                        let n = strip(g);
                        if &n == g {
                            return Err(nothing_to_revoke(&principal, &resource));
                        }
                        put(n, &mut changes, &mut out);
                    }
                    None => return Err(nothing_to_revoke(&principal, &resource)),
                },
            }
            Ok((changes, out.clone()))
        })
    }

    /// `permissions list`: admins see every grant of their account and the
    /// implicit admin rights; others see grants to themselves and their
    /// groups, and grants they made.
    pub fn list_permissions(
        &self,
        caller: &Caller,
        filter: &PermissionFilter,
    ) -> Result<Vec<PermissionEntry>> {
        let snap = self.snapshot()?;
        let acct = caller.account();
        let admin = self.is_admin(&snap, caller);
        let want_principal = filter
            .principal
            .as_deref()
            .map(Principal::parse)
            .transpose()?;
        let want_db = filter
            .database
            .as_deref()
            .map(|d| ident(d, "database"))
            .transpose()?;
        let want_table = filter.table.as_deref().map(TableName::parse).transpose()?;
        let mine: Vec<&Principal> = std::iter::once(&caller.principal)
            .chain(caller.groups.iter())
            .collect();
        let mut out = Vec::new();
        if want_db.is_none() && want_table.is_none() {
            for (a, p) in &snap.catalog.admins {
                if a != acct || want_principal.as_ref().is_some_and(|w| w != p) {
                    continue;
                }
                if !admin && !mine.contains(&p) {
                    continue;
                }
                out.push(PermissionEntry {
                    id: format!("admin:{a}:{p}"),
                    principal: p.to_string(),
                    resource: format!("everything in account {a}"),
                    resource_detail: None,
                    permissions: vec!["ALL".into()],
                    grantable: vec!["ALL".into()],
                    masks: vec![],
                    origin: "admin".into(),
                    granted_by: None,
                });
            }
        }
        for g in snap.catalog.grants.values() {
            if &g.account != acct {
                continue;
            }
            if let Some(w) = &want_principal
                && &g.principal != w
            {
                continue;
            }
            let by_me =
                matches!(&g.origin, GrantOrigin::Explicit { by } if by == &caller.principal);
            if !admin && !mine.contains(&&g.principal) && !by_me {
                continue;
            }
            if let Some(t) = &want_table
                && g.resource.table() != Some(t)
            {
                continue;
            }
            if let Some(d) = &want_db {
                let on_db = match &g.resource {
                    Resource::Database { database } => database == d,
                    r => r.table().is_some_and(|t| &t.database == d),
                };
                if !on_db {
                    continue;
                }
            }
            out.push(PermissionEntry {
                id: g.id.clone(),
                principal: g.principal.to_string(),
                resource: g.resource.to_string(),
                resource_detail: Some(g.resource.clone()),
                permissions: g.permissions.iter().map(|p| p.to_string()).collect(),
                grantable: g.grantable.iter().map(|p| p.to_string()).collect(),
                masks: g.masks.iter().map(|(c, m)| format!("{c}={m}")).collect(),
                origin: match &g.origin {
                    GrantOrigin::Creator => "creator".into(),
                    GrantOrigin::Explicit { .. } => "grant".into(),
                },
                granted_by: match &g.origin {
                    GrantOrigin::Explicit { by } => Some(by.to_string()),
                    GrantOrigin::Creator => None,
                },
            });
        }
        out.sort_by(|a, b| (&a.principal, &a.resource).cmp(&(&b.principal, &b.resource)));
        Ok(out)
    }
}

fn nothing_to_revoke(p: &Principal, r: &Resource) -> Error {
    Error::FailedPrecondition(format!(
        "`{p}` holds none of those permissions on {r}; nothing was revoked \
         (see `lakegate permissions list --principal {p}`)"
    ))
}

fn old_columns(g: &Grant) -> &ColumnSelection {
    match &g.resource {
        Resource::TableWithColumns { columns, .. } => columns,
        _ => &ColumnSelection::All,
    }
}

/// Union of two column selections.
pub fn merge_columns(a: &ColumnSelection, b: &ColumnSelection) -> ColumnSelection {
    use ColumnSelection::*;
    match (a, b) {
        (All, _) | (_, All) => All,
        (Include(x), Include(y)) => Include(x | y),
        (Include(i), Exclude(e)) | (Exclude(e), Include(i)) => Exclude(e - i),
        (Exclude(x), Exclude(y)) => Exclude(x & y),
    }
}

/// `a` minus the columns `b` names (b is an include list).
pub fn subtract_columns(a: &ColumnSelection, b: &ColumnSelection) -> ColumnSelection {
    use ColumnSelection::*;
    let names = match b {
        Include(s) => s.clone(),
        Exclude(_) | All => return Include(BTreeSet::new()),
    };
    match a {
        All => Exclude(names),
        Include(x) => Include(x - &names),
        Exclude(e) => Exclude(e | &names),
    }
}
