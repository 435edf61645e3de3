//! Conversions between the wire types of [`crate::proto`] and the policy
//! engine's types: the one place the two meet.

use policy_engine::governance::{
    PermissionEntry as PeEntry, PermissionFilter, ResourceSpec as PeSpec,
};
use policy_engine::model::{
    ColumnSelection, DataLocation as PeLocation, Database as PeDatabase, Format as PeFormat,
    Resource, Table as PeTable, TagResourceType,
};
use policy_engine::{Error, Grant};

use crate::proto::*;

impl From<PeFormat> for Format {
    fn from(f: PeFormat) -> Self {
        match f {
            PeFormat::Parquet => Format::Parquet,
            PeFormat::Csv => Format::Csv,
            PeFormat::Json => Format::Json,
        }
    }
}

impl From<PeDatabase> for Database {
    fn from(d: PeDatabase) -> Self {
        Self {
            account: d.account.to_string(),
            name: d.name,
            location: d.location.map(String::from),
            creator: d.creator.to_string(),
        }
    }
}

impl From<PeLocation> for DataLocation {
    fn from(l: PeLocation) -> Self {
        Self {
            account: l.account.to_string(),
            uri: l.uri.into(),
        }
    }
}

impl From<PeTable> for Table {
    fn from(t: PeTable) -> Self {
        Self {
            account: t.account.to_string(),
            database: t.name.database,
            name: t.name.table,
            columns: t
                .columns
                .into_iter()
                .map(|c| Column {
                    name: c.name,
                    data_type: c.data_type,
                    partition: c.partition,
                })
                .collect(),
            partition_keys: t.partition_keys,
            location: t.location.into(),
            format: Format::from(t.format).into(),
            creator: t.creator.to_string(),
        }
    }
}

fn set(s: &std::collections::BTreeSet<String>) -> Vec<String> {
    s.iter().cloned().collect()
}

impl From<Resource> for ResourceSpec {
    fn from(r: Resource) -> Self {
        use resource_spec::Kind;
        let kind = match r {
            Resource::Catalog => Kind::Catalog(CatalogResource {}),
            Resource::Database { database } => Kind::Database(DatabaseResource { name: database }),
            Resource::Table { table } => Kind::Table(TableResource {
                name: table.to_string(),
                columns: vec![],
                exclude_columns: vec![],
            }),
            Resource::TableWithColumns { table, columns } => {
                let (columns, exclude_columns) = match &columns {
                    ColumnSelection::All => (vec![], vec![]),
                    ColumnSelection::Include(c) => (set(c), vec![]),
                    ColumnSelection::Exclude(c) => (vec![], set(c)),
                };
                Kind::Table(TableResource {
                    name: table.to_string(),
                    columns,
                    exclude_columns,
                })
            }
            Resource::DataFilter { table, filter } => Kind::DataFilter(DataFilterResource {
                name: format!("{table}.{filter}"),
            }),
            Resource::DataLocation { uri } => Kind::Location(LocationResource { uri: uri.into() }),
            Resource::LfTag { key, values } => Kind::LfTag(LfTagResource {
                key,
                values: set(&values),
            }),
            Resource::LfTagPolicy {
                resource_type,
                expression,
            } => Kind::LfTagPolicy(LfTagPolicyResource {
                resource_type: match resource_type {
                    TagResourceType::Database => "DATABASE".into(),
                    TagResourceType::Table => "TABLE".into(),
                },
                tags: expression
                    .into_iter()
                    .map(|(key, values)| TagCondition {
                        key,
                        values: set(&values),
                    })
                    .collect(),
            }),
        };
        Self { kind: Some(kind) }
    }
}

impl From<PeEntry> for PermissionEntry {
    fn from(e: PeEntry) -> Self {
        Self {
            id: e.id,
            principal: e.principal,
            resource: e.resource,
            resource_detail: e.resource_detail.map(ResourceSpec::from),
            permissions: e.permissions,
            grantable: e.grantable,
            masks: e.masks,
            origin: e.origin,
            granted_by: e.granted_by,
        }
    }
}

impl From<Grant> for PermissionEntry {
    fn from(g: Grant) -> Self {
        let (origin, granted_by) = match &g.origin {
            policy_engine::model::GrantOrigin::Creator => ("creator".to_string(), None),
            policy_engine::model::GrantOrigin::Explicit { by } => {
                ("grant".to_string(), Some(by.to_string()))
            }
        };
        Self {
            id: g.id,
            principal: g.principal.to_string(),
            resource: g.resource.to_string(),
            resource_detail: Some(g.resource.into()),
            permissions: g.permissions.iter().map(|p| p.to_string()).collect(),
            grantable: g.grantable.iter().map(|p| p.to_string()).collect(),
            masks: g.masks.iter().map(|(c, m)| format!("{c}={m}")).collect(),
            origin,
            granted_by,
        }
    }
}

impl TryFrom<ResourceSpec> for PeSpec {
    type Error = Error;
    fn try_from(r: ResourceSpec) -> Result<Self, Error> {
        use resource_spec::Kind;
        let Some(kind) = r.kind else {
            return Err(Error::invalid(
                "name exactly one resource: --catalog, --database, --table, --data-filter, \
                 --location, --lf-tag or --resource-type with --tag",
            ));
        };
        Ok(match kind {
            Kind::Catalog(CatalogResource {}) => PeSpec::Catalog,
            Kind::Database(d) => PeSpec::Database { name: d.name },
            Kind::Table(t) => PeSpec::Table {
                name: t.name,
                columns: t.columns,
                exclude_columns: t.exclude_columns,
            },
            Kind::DataFilter(f) => PeSpec::DataFilter { name: f.name },
            Kind::Location(l) => PeSpec::Location { uri: l.uri },
            Kind::LfTag(t) => PeSpec::LfTag {
                key: t.key,
                values: t.values,
            },
            Kind::LfTagPolicy(p) => PeSpec::LfTagPolicy {
                resource_type: p.resource_type,
                tags: p.tags.into_iter().map(|t| (t.key, t.values)).collect(),
            },
        })
    }
}

impl TryFrom<GrantRequest> for policy_engine::GrantRequest {
    type Error = Error;
    fn try_from(g: GrantRequest) -> Result<Self, Error> {
        let resource = g.resource.unwrap_or_default().try_into()?;
        Ok(Self {
            principal: g.principal,
            permissions: g.permissions,
            grantable: g.grantable,
            resource,
            masks: g.masks.into_iter().collect(),
        })
    }
}

impl From<ListPermissionsRequest> for PermissionFilter {
    fn from(r: ListPermissionsRequest) -> Self {
        Self {
            principal: r.principal,
            database: r.database,
            table: r.table,
        }
    }
}
