//! The rights of a blueprint run (DESIGN §7 "Rights"): the runner needs
//! CREATE_TABLE on the target database (or CREATE_DATABASE to create it),
//! DATA_LOCATION_ACCESS on the target location (inside a registered one),
//! and, for a table that already exists, INSERT on it (ALTER as well when a
//! run adds columns). The runner becomes the creator of the tables it
//! creates.

use crate::authorize::Target;
use crate::catalog::Change;
use crate::error::{Error, Result};
use crate::governance::NewTable;
use crate::governance::{Governance, Snapshot};
use crate::model::{Caller, Format, LocationUri, Permission, Table, TableName, ident};

impl Governance {
    /// Checks, before a run reads anything, that `caller` may write tables
    /// `tables` of `database` under `location` (changes nothing; call it
    /// with no tables before the source is opened, and again with them).
    ///
    /// - A missing database needs CREATE_DATABASE (it is created when the
    ///   first table is registered), an existing one CREATE_TABLE.
    /// - The location needs DATA_LOCATION_ACCESS inside a registered one.
    /// - An existing table must be this Delta table at `location/<table>/`
    ///   and needs INSERT and ALTER (a run may add columns), and DELETE when
    ///   the run `replaces` its rows (snapshot).
    /// - `location/<table>/` may not overlap any other table's location, in
    ///   any account: a run must never write into another table's files.
    pub fn authorize_ingest(
        &self,
        caller: &Caller,
        database: &str,
        location: &str,
        tables: &[String],
        replaces: bool,
    ) -> Result<()> {
        let db = ident(database, "database")?;
        let loc = LocationUri::parse(location)?;
        let snap = self.snapshot()?;
        let acct = caller.account().clone();
        self.check_new_tables(&snap, caller, &db, &loc)?;
        for t in tables {
            let name = TableName::parse(&format!("{db}.{t}"))?;
            let want = table_location(&loc, t)?;
            let others = snap.catalog.tables.values().filter(|o| {
                !(o.account == acct && o.name == name)
                    && (o.location.contains(&want) || want.contains(&o.location))
            });
            if others.count() > 0 {
                return Err(Error::AlreadyExists(format!(
                    "`{want}` overlaps the location of another table; a blueprint writes only \
                     into folders of its own, so choose another `location` or `table_prefix`"
                )));
            }
            if let Some(existing) = snap.catalog.table(&acct, &name) {
                check_same_target(existing, &want)?;
                let mut needs = vec![Permission::Insert, Permission::Alter];
                if replaces {
                    needs.push(Permission::Delete);
                }
                for p in needs {
                    self.require(
                        &snap,
                        caller,
                        p,
                        &Target::Table(acct.clone(), name.clone()),
                        &format!("table `{name}`"),
                    )?;
                }
            } else if snap
                .catalog
                .links
                .contains_key(&(acct.clone(), name.clone()))
            {
                return Err(Error::AlreadyExists(format!(
                    "`{name}` is a resource link; a blueprint cannot load into it, so choose \
                     another `table_prefix`"
                )));
            }
        }
        Ok(())
    }

    /// The rights to put new tables of database `db` under `loc`:
    /// CREATE_DATABASE when it does not exist yet, CREATE_TABLE when it
    /// does, and DATA_LOCATION_ACCESS on `loc` inside a registered location.
    pub(crate) fn check_new_tables(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        db: &str,
        loc: &LocationUri,
    ) -> Result<()> {
        let acct = caller.account().clone();
        match snap.catalog.database(&acct, db) {
            None => {
                self.require(
                    snap,
                    caller,
                    Permission::CreateDatabase,
                    &Target::Catalog(acct.clone()),
                    &format!("catalog `{acct}` (to create database `{db}`)"),
                )?;
                self.check_location(snap, caller, loc, None)
            }
            Some(_) => {
                let d = self.visible_database(snap, caller, db)?;
                self.require(
                    snap,
                    caller,
                    Permission::CreateTable,
                    &Target::Database(acct.clone(), db.to_string()),
                    &format!("database `{db}`"),
                )?;
                self.check_location(snap, caller, loc, Some(d))
            }
        }
    }

    /// Checks, before a run reads anything, that `caller` may read a source
    /// location: an SQLite file or a log folder on the server's disk
    /// (`file://` URI of its real path) or an `s3://` log prefix. It must
    /// lie inside a registered location on which the caller holds
    /// DATA_LOCATION_ACCESS; without this, a blueprint could load any file
    /// the server (or its S3 credentials) can read.
    pub fn authorize_local_source(&self, caller: &Caller, uri: &str) -> Result<()> {
        let loc = LocationUri::parse(uri)?;
        let snap = self.snapshot()?;
        self.check_location(&snap, caller, &loc, None)
    }

    /// Registers a table a run committed: creates it (the caller becomes
    /// its creator), or, if it exists, records columns the run added (which
    /// needs ALTER). Existing columns keep their types.
    pub fn register_ingested(&self, caller: &Caller, spec: &NewTable) -> Result<Table> {
        if spec.format != Format::Delta {
            return Err(Error::invalid("an ingested table is a Delta table"));
        }
        let name = TableName::parse(&spec.name)?;
        let want = LocationUri::parse(&spec.location)?;
        let snap = self.snapshot()?;
        if snap
            .catalog
            .database(caller.account(), &name.database)
            .is_none()
        {
            // Checked before the run by `authorize_ingest`; checked again here.
            match self.create_database(caller, &name.database, None) {
                Ok(_) | Err(Error::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let Some(existing) = snap.catalog.table(caller.account(), &name).cloned() else {
            return self.create_table(caller, spec);
        };
        check_same_target(&existing, &want)?;
        for c in &existing.columns {
            match spec.columns.iter().find(|n| n.name == c.name) {
                Some(n) if n.data_type == c.data_type => {}
                Some(n) => {
                    return Err(Error::FailedPrecondition(format!(
                        "column `{}` of table `{name}` is `{}` in the catalog but `{}` in the \
                         Delta table; restore the table or register it again",
                        c.name, c.data_type, n.data_type
                    )));
                }
                None => {
                    return Err(Error::FailedPrecondition(format!(
                        "column `{}` of table `{name}` is no longer in the Delta table; restore \
                         the table or register it again",
                        c.name
                    )));
                }
            }
        }
        if spec.columns.len() == existing.columns.len() {
            return Ok(existing);
        }
        self.mutate(|snap| {
            self.require(
                snap,
                caller,
                Permission::Alter,
                &Target::Table(caller.account().clone(), name.clone()),
                &format!("table `{name}`"),
            )?;
            let current = snap
                .catalog
                .table(caller.account(), &name)
                .cloned()
                .ok_or(Error::Conflict)?;
            let mut updated = current.clone();
            for c in &spec.columns {
                if updated.column(&c.name).is_none() {
                    updated.columns.push(crate::model::Column {
                        name: ident(&c.name, "column")?,
                        data_type: c.data_type.clone(),
                        partition: false,
                    });
                }
            }
            Ok((vec![Change::PutTable(updated.clone())], updated))
        })
    }
}

/// `location/<table>/`.
fn table_location(loc: &LocationUri, table: &str) -> Result<LocationUri> {
    let base = loc.as_str().trim_end_matches('/');
    LocationUri::parse(&format!("{base}/{table}/"))
}

fn check_same_target(existing: &Table, want: &LocationUri) -> Result<()> {
    let same = existing.format == Format::Delta
        && existing.location.as_str().trim_end_matches('/') == want.as_str().trim_end_matches('/');
    if same {
        Ok(())
    } else {
        Err(Error::AlreadyExists(format!(
            "table `{}` already exists as a {} table at `{}`, not as the Delta table at `{want}`; \
             choose another `table_prefix` or target database",
            existing.name,
            existing.format.as_str(),
            existing.location
        )))
    }
}
