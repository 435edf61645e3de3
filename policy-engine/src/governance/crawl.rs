//! The rights and registrations of `lakegate crawl` (DESIGN §7 "Crawler").
//!
//! Crawling reads the files of a location, so it needs DATA_LOCATION_ACCESS
//! on it (inside a registered location), checked before any file is read,
//! dry run included. Registering a new table needs CREATE_TABLE on the
//! database (or CREATE_DATABASE to create it), as `table create` does, and
//! the crawler's caller becomes the table's creator. A re-crawl adds the
//! columns new files brought (ALTER); it never changes a column's type, a
//! table's location, format or partition keys: such a table is skipped
//! with the reason.

use serde::{Deserialize, Serialize};

use crate::authorize::Target;
use crate::catalog::Change;
use crate::error::{Error, Result};
use crate::governance::{Governance, NewTable};
use crate::model::{
    Caller, LocationUri, MAX_COLUMNS, MAX_TEXT_LEN, Permission, Table, TableName, clip, ident,
};

/// What the crawler does, or would do, with one table it found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CrawlAction {
    /// The table is new: registered (or, in a dry run, would be).
    Create,
    /// The table exists and gains these file columns.
    AddColumns(Vec<String>),
    /// The table exists and matches the files.
    Unchanged,
    /// The table cannot be registered or updated, for this reason.
    Skip(String),
}

impl Governance {
    /// Checks, before any file is read, that `caller` may crawl `location`
    /// into `database`: DATA_LOCATION_ACCESS on a location inside a
    /// registered one, and CREATE_TABLE on the database, or CREATE_DATABASE
    /// when it does not exist yet.
    pub fn authorize_crawl(&self, caller: &Caller, database: &str, location: &str) -> Result<()> {
        let db = ident(database, "database")?;
        let loc = LocationUri::parse(location)?;
        let snap = self.snapshot()?;
        self.check_new_tables(&snap, caller, &db, &loc)
    }

    /// What registering the crawled `spec` would do, changing nothing.
    pub fn plan_crawled(&self, caller: &Caller, spec: &NewTable) -> Result<CrawlAction> {
        let name = TableName::parse(&spec.name)?;
        let snap = self.snapshot()?;
        let acct = caller.account();
        if snap
            .catalog
            .links
            .contains_key(&(acct.clone(), name.clone()))
        {
            return Ok(CrawlAction::Skip(format!(
                "`{name}` is a resource link; rename the folder or crawl into another database"
            )));
        }
        let want = LocationUri::parse(&spec.location)?;
        let overlaps = snap.catalog.tables.values().any(|o| {
            let same = o.account == *acct
                && o.name == name
                && o.location.as_str().trim_end_matches('/') == want.as_str().trim_end_matches('/');
            !same && (o.location.contains(&want) || want.contains(&o.location))
        });
        if overlaps {
            return Ok(CrawlAction::Skip(format!(
                "`{want}` overlaps the location of another table; a folder is registered as \
                 one table only"
            )));
        }
        match snap.catalog.table(acct, &name) {
            None => Ok(CrawlAction::Create),
            Some(existing) => Ok(compare(existing, spec)),
        }
    }

    /// Registers the crawled `spec`: creates the table (and the database
    /// when missing), or adds its new columns. Returns what was done.
    pub fn register_crawled(&self, caller: &Caller, spec: &NewTable) -> Result<CrawlAction> {
        let name = TableName::parse(&spec.name)?;
        match self.plan_crawled(caller, spec)? {
            CrawlAction::Create => {
                let snap = self.snapshot()?;
                if snap
                    .catalog
                    .database(caller.account(), &name.database)
                    .is_none()
                {
                    match self.create_database(caller, &name.database, None) {
                        Ok(_) | Err(Error::AlreadyExists(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                match self.create_table(caller, spec) {
                    Ok(_) => Ok(CrawlAction::Create),
                    Err(Error::AlreadyExists(m)) => Ok(CrawlAction::Skip(m)),
                    Err(e) => Err(e),
                }
            }
            CrawlAction::AddColumns(added) => {
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
                        .ok_or(Error::Conflict)?;
                    let CrawlAction::AddColumns(now) = compare(current, spec) else {
                        return Err(Error::Conflict);
                    };
                    let mut updated = current.clone();
                    let at = updated
                        .columns
                        .iter()
                        .position(|c| c.partition)
                        .unwrap_or(updated.columns.len());
                    let mut new = Vec::new();
                    for c in spec.columns.iter().filter(|c| now.contains(&c.name)) {
                        if c.data_type.is_empty() || c.data_type.len() > MAX_TEXT_LEN {
                            return Err(Error::invalid(format!(
                                "column `{}` has no usable type",
                                clip(&c.name)
                            )));
                        }
                        let mut c = c.clone();
                        c.name = ident(&c.name, "column")?;
                        new.push(c);
                    }
                    if updated.columns.len() + new.len() > MAX_COLUMNS {
                        return Err(Error::invalid(format!(
                            "table `{name}` would have more than {MAX_COLUMNS} columns"
                        )));
                    }
                    updated.columns.splice(at..at, new);
                    Ok((vec![Change::PutTable(updated)], ()))
                })?;
                Ok(CrawlAction::AddColumns(added))
            }
            other => Ok(other),
        }
    }
}

/// How the files' `spec` differs from the registered table.
fn compare(existing: &Table, spec: &NewTable) -> CrawlAction {
    let same_place = existing.format == spec.format
        && existing.location.as_str().trim_end_matches('/') == spec.location.trim_end_matches('/');
    if !same_place {
        return CrawlAction::Skip(format!(
            "table `{}` already exists as a {} table at `{}`; the crawler never moves a table, \
             so rename the folder or crawl into another database",
            existing.name,
            existing.format.as_str(),
            existing.location
        ));
    }
    if existing.partition_keys != spec.partition_keys {
        return CrawlAction::Skip(format!(
            "table `{}` has partition keys `{}` but its folders now read as `{}`; the crawler \
             never changes partition keys, so restore the layout or register the table again",
            existing.name,
            existing.partition_keys.join(","),
            spec.partition_keys.join(",")
        ));
    }
    for c in &existing.columns {
        match spec.columns.iter().find(|n| n.name == c.name) {
            Some(n) if n.data_type != c.data_type => {
                return CrawlAction::Skip(format!(
                    "column `{}` of table `{}` is `{}` in the catalog but `{}` in the files; \
                     the crawler never changes a column's type",
                    c.name, existing.name, c.data_type, n.data_type
                ));
            }
            _ => {}
        }
    }
    let added: Vec<String> = spec
        .columns
        .iter()
        .filter(|c| !c.partition && existing.column(&c.name).is_none())
        .map(|c| c.name.clone())
        .collect();
    if added.is_empty() {
        CrawlAction::Unchanged
    } else {
        CrawlAction::AddColumns(added)
    }
}
