//! Resources as requests name them (the CLI's resource flags), resolved
//! against the catalog for the caller. Resolution goes through the caller's
//! view (`visibility`): a hidden database, table or column is "not found".
//! Whether a data filter or a location exists is checked only after the
//! caller is authorized (`Governance::check_exists`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::governance::{Governance, Snapshot};
use crate::model::{Caller, ColumnSelection, LocationUri, Resource, TagResourceType, clip, ident};

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
        /// `--catalog-id ACCOUNT`: another account's tag expression that it
        /// shares with the caller's account (a receiving admin's re-grant).
        #[serde(default)]
        account: Option<String>,
    },
}

impl Governance {
    /// Resolves a resource spec against the catalog for the caller.
    pub(crate) fn resolve(
        &self,
        snap: &Snapshot,
        caller: &Caller,
        spec: &ResourceSpec,
    ) -> Result<Resource> {
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
                if let Some(link) = self.named_link(snap, caller, name)? {
                    // A grant on a link concerns the link itself (rule 6).
                    if !columns.is_empty() || !exclude_columns.is_empty() {
                        return Err(Error::invalid(format!(
                            "`{}` is a resource link, which has no columns of its own; grant \
                             column access on the table it points at, `{}:{}`",
                            link.name, link.target_account, link.target
                        )));
                    }
                    return Ok(Resource::ResourceLink {
                        link: link.name.clone(),
                    });
                }
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
                account: _,
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
}
