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
            PeFormat::Delta => Format::Delta,
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
            Resource::Table { table } | Resource::ResourceLink { link: table } => {
                Kind::Table(TableResource {
                    name: table.to_string(),
                    columns: vec![],
                    exclude_columns: vec![],
                })
            }
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
                account: String::new(),
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
                account: (!p.account.is_empty()).then_some(p.account),
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

impl From<policy_engine::model::DataFilter> for DataFilter {
    fn from(f: policy_engine::model::DataFilter) -> Self {
        let (columns, exclude_columns) = match &f.columns {
            ColumnSelection::All => (vec![], vec![]),
            ColumnSelection::Include(c) => (set(c), vec![]),
            ColumnSelection::Exclude(c) => (vec![], set(c)),
        };
        Self {
            account: f.account.to_string(),
            table: f.table.to_string(),
            name: f.name,
            row_filter: match f.rows {
                policy_engine::model::RowFilter::AllRows => None,
                policy_engine::model::RowFilter::Predicate(p) => Some(p),
            },
            columns,
            exclude_columns,
        }
    }
}

impl From<policy_engine::model::ResourceLink> for ResourceLink {
    fn from(l: policy_engine::model::ResourceLink) -> Self {
        Self {
            account: l.account.to_string(),
            name: l.name.to_string(),
            target: format!("{}:{}", l.target_account, l.target),
            created_by: l.created_by.to_string(),
        }
    }
}

impl From<CreateDataFilterRequest> for policy_engine::filters::NewDataFilter {
    fn from(r: CreateDataFilterRequest) -> Self {
        Self {
            name: r.name,
            row_filter: r.row_filter,
            all_rows: r.all_rows,
            columns: r.columns,
            exclude_columns: r.exclude_columns,
        }
    }
}

impl From<policy_engine::model::LfTag> for LfTag {
    fn from(t: policy_engine::model::LfTag) -> Self {
        Self {
            account: t.account.to_string(),
            key: t.key,
            values: set(&t.values),
        }
    }
}

impl From<AssignLfTagsRequest> for policy_engine::lftags::TagAssignRequest {
    fn from(r: AssignLfTagsRequest) -> Self {
        Self {
            database: r.database,
            table: r.table,
            columns: r.columns,
            tags: r.tags.into_iter().map(|t| (t.key, t.value)).collect(),
        }
    }
}

impl From<policy_engine::model::TagAssignment> for TagAssignment {
    fn from(a: policy_engine::model::TagAssignment) -> Self {
        use policy_engine::model::TagTarget;
        let (database, table, column) = match a.target {
            TagTarget::Database { database } => (database, None, None),
            TagTarget::Table { table } => (table.database.clone(), Some(table.to_string()), None),
            TagTarget::Column { table, column } => (
                table.database.clone(),
                Some(table.to_string()),
                Some(column),
            ),
        };
        Self {
            database,
            table,
            column,
            key: a.key,
            value: a.value,
        }
    }
}

impl From<PolicyFile> for policy_engine::model::PolicyFile {
    fn from(f: PolicyFile) -> Self {
        Self {
            path: f.path,
            source: f.source,
        }
    }
}

impl From<policy_engine::model::PolicyFile> for PolicyFile {
    fn from(f: policy_engine::model::PolicyFile) -> Self {
        Self {
            path: f.path,
            source: f.source,
        }
    }
}

impl From<policy_engine::RowPredicate> for RowsExplanation {
    fn from(r: policy_engine::RowPredicate) -> Self {
        match r {
            policy_engine::RowPredicate::All => Self {
                all: true,
                any_of: vec![],
            },
            policy_engine::RowPredicate::AnyOf(ps) => Self {
                all: false,
                any_of: ps.iter().map(ToString::to_string).collect(),
            },
        }
    }
}

impl From<policy_engine::access::TrailEntry> for TrailLine {
    fn from(t: policy_engine::access::TrailEntry) -> Self {
        Self {
            policy: t.policy,
            effect: t.effect,
            source: t.source,
            decided: t.decided,
        }
    }
}

impl From<policy_engine::explain::Explanation> for ExplainResponse {
    fn from(e: policy_engine::explain::Explanation) -> Self {
        Self {
            rewritten_sql: e.rewritten_sql,
            tables: e
                .tables
                .into_iter()
                .map(|mut t| TableExplanation {
                    table: t.display.clone(),
                    columns: t
                        .visible_columns
                        .iter()
                        .map(|c| ColumnExplanation {
                            name: c.clone(),
                            data_type: t.data_types.remove(c).unwrap_or_default(),
                            cells: t.cells.remove(c).map(Into::into),
                            mask: t.masks.remove(c).map(|m| m.to_string()),
                            unmasked: t.unmasked.remove(c).map(Into::into),
                            tags: t.tags.remove(c).unwrap_or_default(),
                        })
                        .collect(),
                    rows: Some(t.rows.into()),
                    trail: t.trail.into_iter().map(Into::into).collect(),
                })
                .collect(),
        }
    }
}
