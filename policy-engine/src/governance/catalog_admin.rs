//! Catalog administration (DESIGN §5): `database create|list`,
//! `location register|list`, `table create|list|describe`.
//!
//! Creating a database or a table also grants its creator rights on it (a
//! `creator` grant, listed by `permissions list`), in the same commit. A
//! table or database location must lie inside a registered data location
//! and needs DATA_LOCATION_ACCESS on it (DESIGN §3 rule 9); the right is
//! checked before registration, so a caller without it does not learn which
//! locations are registered.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::access::{self, table_not_found};
use crate::authorize::{Authorizer, PrincipalCtx, Target};
use crate::catalog::Change;
use crate::error::{Error, Result};
use crate::governance::{Governance, Snapshot, grant_id};
use crate::model::{
    Caller, Column, DataLocation, Database, Format, Grant, GrantOrigin, LocationUri, MAX_COLUMNS,
    MAX_TEXT_LEN, Permission, Resource, Table, TableName, clip, ident,
};

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

impl Governance {
    /// Checks that the caller may use `uri` (DATA_LOCATION_ACCESS, or a
    /// database location that contains it) and that it lies inside a
    /// registered location. The right is checked first, so a caller without
    /// it does not learn which locations are registered.
    pub(crate) fn check_location(
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

    /// Databases the caller may DESCRIBE; for a data lake admin, also the
    /// other accounts' databases that share something with its account
    /// (their `account` is the owner's).
    pub fn list_databases(&self, caller: &Caller) -> Result<Vec<Database>> {
        let snap = self.snapshot()?;
        let mut out = self.list_databases_in(&snap, caller)?;
        out.extend(self.received_databases(&snap, caller)?);
        Ok(out)
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
        if snap.catalog.table(caller.account(), &tn).is_some()
            || snap
                .catalog
                .links
                .contains_key(&(caller.account().clone(), tn.clone()))
        {
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

    /// Tables of a database that the caller may DESCRIBE (`ACCOUNT:DB`: what
    /// that account shares with the caller's, for its admins), with only the
    /// columns it may see (all columns for DESCRIBE-only holders is not
    /// granted: DESCRIBE shows the schema of visible columns).
    pub fn list_tables(&self, caller: &Caller, database: &str) -> Result<Vec<Table>> {
        let snap = self.snapshot()?;
        match database.split_once(':') {
            Some((owner, db)) => self.list_received_tables(&snap, caller, owner, db),
            None => self.list_tables_in(&snap, caller, database),
        }
    }

    /// Every database the caller may DESCRIBE (only `database` if given),
    /// each with the tables [`Governance::list_tables`] would list, all read
    /// from one catalog snapshot: a metadata response never mixes versions.
    pub fn list_databases_and_tables(
        &self,
        caller: &Caller,
        database: Option<&str>,
    ) -> Result<Vec<(Database, Vec<Table>)>> {
        let snap = self.snapshot()?;
        let mut out = Vec::new();
        for db in self.list_databases_in(&snap, caller)? {
            if database.is_some_and(|d| d != db.name) {
                continue;
            }
            let tables = self.list_tables_in(&snap, caller, &db.name)?;
            out.push((db, tables));
        }
        Ok(out)
    }

    pub(crate) fn list_tables_in(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        database: &str,
    ) -> Result<Vec<Table>> {
        let db = self.visible_database(snap, caller, database)?;
        let authz = Authorizer::new(&snap.catalog, &snap.compiled);
        let p = PrincipalCtx::new(caller)?;
        let mut out = Vec::new();
        for t in snap.catalog.tables_in(caller.account(), &db.name) {
            if access::can_describe_table(&snap.catalog, &authz, &p, caller.account(), &t.name)? {
                out.push(self.visible_schema(snap, caller, t)?);
            }
        }
        out.extend(self.links_in(snap, caller, &db.name)?);
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// One table as the caller may see it.
    pub fn describe_table(&self, caller: &Caller, name: &str) -> Result<Table> {
        let snap = self.snapshot()?;
        if let Some(link) = self.named_link(&snap, caller, name)? {
            return self
                .link_view(&snap, caller, link)?
                .ok_or_else(|| table_not_found(&link.name));
        }
        let t = self.visible_table(&snap, caller, name)?;
        self.visible_schema(&snap, caller, t)
    }
}
