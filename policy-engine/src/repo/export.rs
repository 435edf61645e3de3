//! `policy export DIR`: an account's governance as a repository that plans
//! to no change. `grants/tags.yaml` holds LF-tags and their assignments,
//! `grants/db_DB.yaml` the filters and grants on each database and its
//! tables, `grants/account.yaml` grants on the catalog, locations and
//! LF-tags, and `grants/links.yaml` the resource links.

use std::collections::BTreeMap;

use super::replay::{managed_filter, managed_grant};
use super::{
    AssignDecl, FilterDecl, GrantDecl, GrantsFile, LinkDecl, RepoFile, TagDecl, TagPolicyDecl,
};
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::model::{
    AccountId, ColumnSelection, Grant, Resource, RowFilter, TagResourceType, TagTarget,
};

fn yaml(f: &GrantsFile) -> Result<String> {
    serde_yaml::to_string(f).map_err(|e| Error::internal(format!("cannot write YAML: {e}")))
}

fn grant_decl(g: &Grant) -> GrantDecl {
    let mut d = GrantDecl {
        principal: g.principal.to_string(),
        permissions: g
            .permissions
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
        grantable: g.grantable.iter().map(|p| p.as_str().to_string()).collect(),
        masks: g
            .masks
            .iter()
            .map(|(c, m)| (c.clone(), m.to_string()))
            .collect(),
        ..GrantDecl::default()
    };
    match &g.resource {
        Resource::Catalog => d.catalog = true,
        Resource::Database { database } => d.database = Some(database.clone()),
        Resource::Table { table } | Resource::ResourceLink { link: table } => {
            d.table = Some(table.to_string());
        }
        Resource::TableWithColumns { table, columns } => {
            d.table = Some(table.to_string());
            match columns {
                ColumnSelection::All => {}
                ColumnSelection::Include(c) => d.columns = c.iter().cloned().collect(),
                ColumnSelection::Exclude(c) => d.exclude_columns = c.iter().cloned().collect(),
            }
        }
        Resource::DataFilter { table, filter } => {
            d.data_filter = Some(format!("{table}.{filter}"));
        }
        Resource::DataLocation { uri } => d.location = Some(uri.to_string()),
        Resource::LfTag { key, values } => {
            d.lf_tag = Some(format!(
                "{key}={}",
                values.iter().cloned().collect::<Vec<_>>().join(",")
            ));
        }
        Resource::LfTagPolicy {
            resource_type,
            expression,
        } => {
            d.tag_policy = Some(TagPolicyDecl {
                resource_type: match resource_type {
                    TagResourceType::Database => "DATABASE",
                    TagResourceType::Table => "TABLE",
                }
                .to_string(),
                tags: expression
                    .iter()
                    .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
                    .collect(),
            });
        }
    }
    d
}

/// The database a grant belongs with, or `None` for account-wide ones.
fn database_of(g: &Grant) -> Option<String> {
    match &g.resource {
        Resource::Database { database } => Some(database.clone()),
        r => r.table().map(|t| t.database.clone()),
    }
}

/// The repository for `account`'s governance in `cat`.
pub fn export(cat: &Catalog, account: &AccountId) -> Result<Vec<RepoFile>> {
    let mut out = vec![RepoFile {
        path: "lakegate.toml".into(),
        source: format!(
            "# The account this repository governs.\naccount = {}\n\n# Principals and groups \
             to analyse in every plan besides those the grants name,\n# with the groups and \
             attributes their tokens carry, e.g.:\n# [[principals]]\n# id = \
             \"{account}:user/alice\"\n# groups = [\"analysts\"]\n# attrs = {{ region = \"eu\" \
             }}\n",
            serde_json::Value::String(account.to_string())
        ),
    }];
    let mut tags = GrantsFile::default();
    for ((a, _), t) in &cat.tags {
        if a == account {
            tags.tags.push(TagDecl {
                key: t.key.clone(),
                values: t.values.iter().cloned().collect(),
            });
        }
    }
    let mut by_target: BTreeMap<&TagTarget, BTreeMap<String, String>> = BTreeMap::new();
    for ((a, target, key), t) in &cat.tag_assignments {
        if a == account {
            by_target
                .entry(target)
                .or_default()
                .insert(key.clone(), t.value.clone());
        }
    }
    for (target, t) in by_target {
        let (database, table, columns) = match target {
            TagTarget::Database { database } => (Some(database.clone()), None, vec![]),
            TagTarget::Table { table } => (None, Some(table.to_string()), vec![]),
            TagTarget::Column { table, column } => {
                (None, Some(table.to_string()), vec![column.clone()])
            }
        };
        tags.tag_assignments.push(AssignDecl {
            database,
            table,
            columns,
            tags: t,
        });
    }
    let mut per_db: BTreeMap<Option<String>, GrantsFile> = BTreeMap::new();
    for ((a, table, name), f) in &cat.filters {
        if a != account || !managed_filter(name) {
            continue;
        }
        let (columns, exclude_columns) = match &f.columns {
            ColumnSelection::All => (vec![], vec![]),
            ColumnSelection::Include(c) => (c.iter().cloned().collect(), vec![]),
            ColumnSelection::Exclude(c) => (vec![], c.iter().cloned().collect()),
        };
        let (row_filter, all_rows) = match &f.rows {
            RowFilter::AllRows => (None, true),
            RowFilter::Predicate(p) => (Some(p.clone()), false),
        };
        per_db
            .entry(Some(table.database.clone()))
            .or_default()
            .filters
            .push(FilterDecl {
                name: format!("{table}.{name}"),
                row_filter,
                all_rows,
                columns,
                exclude_columns,
            });
    }
    for g in cat.grants.values().filter(|g| managed_grant(g, account)) {
        per_db
            .entry(database_of(g))
            .or_default()
            .grants
            .push(grant_decl(g));
    }
    let mut links = GrantsFile::default();
    for ((a, _), l) in &cat.links {
        if a == account {
            links.links.push(LinkDecl {
                name: l.name.to_string(),
                target: format!("{}:{}", l.target_account, l.target),
            });
        }
    }
    let mut push = |path: String, f: &GrantsFile| -> Result<()> {
        if f != &GrantsFile::default() {
            out.push(RepoFile {
                path,
                source: yaml(f)?,
            });
        }
        Ok(())
    };
    push("grants/tags.yaml".into(), &tags)?;
    for (db, f) in &per_db {
        let name = db
            .as_ref()
            .map_or_else(|| "account".to_string(), |d| format!("db_{d}"));
        push(format!("grants/{name}.yaml"), f)?;
    }
    push("grants/links.yaml".into(), &links)?;
    if let Some(files) = cat.policies.get(account) {
        out.extend(files.iter().cloned());
    }
    Ok(out)
}
