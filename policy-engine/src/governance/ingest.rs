//! The rights of a blueprint run (DESIGN §7 "Rights"): the runner needs
//! CREATE_TABLE on the target database (or CREATE_DATABASE to create it),
//! DATA_LOCATION_ACCESS on the target location (inside a registered one),
//! and, for a table that already exists, INSERT on it (ALTER as well when a
//! run adds columns). The runner becomes the creator of the tables it
//! creates.

use crate::authorize::Target;
use crate::catalog::Change;
use crate::error::{Error, Result};
use crate::governance::Governance;
use crate::governance::NewTable;
use crate::model::{Caller, Format, LocationUri, Permission, Table, TableName, ident};

impl Governance {
    /// Checks, before a run reads anything, that `caller` may write tables
    /// `tables` of `database` under `location`; creates the database when
    /// it is missing (CREATE_DATABASE). A target name taken by a table that
    /// is not this blueprint's Delta table at `location/<table>/` is refused.
    pub fn authorize_ingest(
        &self,
        caller: &Caller,
        database: &str,
        location: &str,
        tables: &[String],
    ) -> Result<()> {
        let db = ident(database, "database")?;
        let loc = LocationUri::parse(location)?;
        let snap = self.snapshot()?;
        if snap.catalog.database(caller.account(), &db).is_none() {
            // Every check first: a refused run must not leave a database.
            self.require(
                &snap,
                caller,
                Permission::CreateDatabase,
                &Target::Catalog(caller.account().clone()),
                &format!("catalog `{}` (to create database `{db}`)", caller.account()),
            )?;
            self.check_location(&snap, caller, &loc, None)?;
            for t in tables {
                TableName::parse(&format!("{db}.{t}"))?;
                table_location(&loc, t)?;
            }
            self.create_database(caller, &db, None)?;
            return Ok(());
        }
        let d = self.visible_database(&snap, caller, &db)?;
        self.require(
            &snap,
            caller,
            Permission::CreateTable,
            &Target::Database(caller.account().clone(), db.clone()),
            &format!("database `{db}`"),
        )?;
        self.check_location(&snap, caller, &loc, Some(d))?;
        for t in tables {
            let name = TableName::parse(&format!("{db}.{t}"))?;
            let want = table_location(&loc, t)?;
            if let Some(existing) = snap.catalog.table(caller.account(), &name) {
                check_same_target(existing, &want)?;
                self.require(
                    &snap,
                    caller,
                    Permission::Insert,
                    &Target::Table(caller.account().clone(), name.clone()),
                    &format!("table `{name}`"),
                )?;
            } else if snap
                .catalog
                .links
                .contains_key(&(caller.account().clone(), name.clone()))
            {
                return Err(Error::AlreadyExists(format!(
                    "`{name}` is a resource link; a blueprint cannot load into it, so choose \
                     another `table_prefix`"
                )));
            }
        }
        Ok(())
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
                .ok_or_else(|| Error::Conflict)?;
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
