//! `lakegate grant`, and the resource flags `grant` and `revoke` share.

use std::collections::BTreeMap;

use clap::ArgGroup;
use grpc_proxy::proto::{
    self, CatalogResource, DataFilterResource, DatabaseResource, GrantRequest, LfTagPolicyResource,
    LfTagResource, LocationResource, ResourceSpec, TableResource, TagCondition,
    resource_spec::Kind,
};

use super::Global;
use crate::client::connect;
use crate::exit::CliError;
use crate::output;

/// Who and what: `--principal ID --permissions P,.. [--grantable P,..]`.
#[derive(Debug, clap::Args)]
pub struct Who {
    /// Grantee: ACCOUNT:user/NAME, ACCOUNT:role/NAME or ACCOUNT:group/NAME.
    #[arg(long, value_name = "ID")]
    pub principal: String,
    /// Permissions, comma-separated (SELECT, DESCRIBE, ALL, ...).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "P,..",
        required_unless_present = "grantable"
    )]
    pub permissions: Vec<String>,
    /// Permissions with the grant option, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "P,..")]
    pub grantable: Vec<String>,
}

// Resource flags other than --table and --resource-type. Flags that refine
// one resource conflict with the others explicitly: clap's `requires` alone
// is satisfied when the required flag conflicts with a present one.
const NOT_TABLE: [&str; 6] = [
    "catalog",
    "database",
    "data_filter",
    "location",
    "lf_tag",
    "resource_type",
];
const NOT_TAG_POLICY: [&str; 6] = [
    "catalog",
    "database",
    "table",
    "data_filter",
    "location",
    "lf_tag",
];

/// The resource: exactly one of the flags below.
#[derive(Debug, clap::Args)]
#[command(group(
    ArgGroup::new("resource")
        .required(true)
        .multiple(false)
        .args(["catalog", "database", "table", "data_filter", "location", "lf_tag", "resource_type"])
))]
pub struct ResourceArgs {
    /// The account's catalog.
    #[arg(long)]
    pub catalog: bool,
    /// A database.
    #[arg(long, value_name = "DB")]
    pub database: Option<String>,
    /// A table (optionally some of its columns).
    #[arg(long, value_name = "DB.TABLE")]
    pub table: Option<String>,
    /// Only these columns of --table.
    #[arg(long, value_delimiter = ',', value_name = "a,b", requires = "table", conflicts_with = "exclude_columns", conflicts_with_all = NOT_TABLE)]
    pub columns: Vec<String>,
    /// All columns of --table except these.
    #[arg(long, value_delimiter = ',', value_name = "a,b", requires = "table", conflicts_with_all = NOT_TABLE)]
    pub exclude_columns: Vec<String>,
    /// A data cells filter.
    #[arg(long, value_name = "DB.TABLE.NAME")]
    pub data_filter: Option<String>,
    /// A data location.
    #[arg(long, value_name = "URI")]
    pub location: Option<String>,
    /// Values of an LF-tag.
    #[arg(long, value_name = "KEY=V1,V2", value_parser = parse_tag)]
    pub lf_tag: Option<(String, Vec<String>)>,
    /// An LF-tag policy on DATABASE or TABLE resources (with --tag).
    #[arg(long, value_name = "DATABASE|TABLE", requires = "tags")]
    pub resource_type: Option<String>,
    /// A tag condition of the --resource-type policy (repeatable; AND across keys).
    #[arg(long = "tag", value_name = "KEY=V1,V2", value_parser = parse_tag, requires = "resource_type", conflicts_with_all = NOT_TAG_POLICY)]
    pub tags: Vec<(String, Vec<String>)>,
    /// The account whose tag expression the --resource-type policy is: a
    /// receiving admin re-granting what that account shares with its own.
    #[arg(long, value_name = "ACCOUNT", requires = "resource_type")]
    pub catalog_id: Option<String>,
}

/// Parses `KEY=V1,V2`.
pub fn parse_tag(s: &str) -> Result<(String, Vec<String>), String> {
    let Some((k, vs)) = s.split_once('=') else {
        return Err(format!("`{s}` is not KEY=V1,V2"));
    };
    let values: Vec<String> = vs
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
        .collect();
    if k.trim().is_empty() || values.is_empty() {
        return Err(format!("`{s}` is not KEY=V1,V2"));
    }
    Ok((k.trim().to_string(), values))
}

/// Parses `COL=KIND`.
fn parse_mask(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((c, k)) if !c.trim().is_empty() && !k.trim().is_empty() => {
            Ok((c.trim().to_string(), k.trim().to_string()))
        }
        _ => Err(format!(
            "`{s}` is not COLUMN=KIND; KIND is null, redact, last4, hash or expr:SQL"
        )),
    }
}

impl ResourceArgs {
    /// The resource as the API names it.
    pub fn spec(self) -> ResourceSpec {
        let kind = if self.catalog {
            Kind::Catalog(CatalogResource {})
        } else if let Some(name) = self.database {
            Kind::Database(DatabaseResource { name })
        } else if let Some(name) = self.table {
            Kind::Table(TableResource {
                name,
                columns: self.columns,
                exclude_columns: self.exclude_columns,
            })
        } else if let Some(name) = self.data_filter {
            Kind::DataFilter(DataFilterResource { name })
        } else if let Some(uri) = self.location {
            Kind::Location(LocationResource { uri })
        } else if let Some((key, values)) = self.lf_tag {
            Kind::LfTag(LfTagResource { key, values })
        } else {
            // clap guarantees one resource flag; the remaining one is --resource-type.
            Kind::LfTagPolicy(LfTagPolicyResource {
                resource_type: self.resource_type.unwrap_or_default(),
                tags: self
                    .tags
                    .into_iter()
                    .map(|(key, values)| TagCondition { key, values })
                    .collect(),
                account: self.catalog_id.unwrap_or_default(),
            })
        };
        ResourceSpec { kind: Some(kind) }
    }
}

/// `grant --principal ID --permissions P,.. [--grantable P,..] <resource> [--mask COL=KIND]...`
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    who: Who,
    #[command(flatten)]
    resource: ResourceArgs,
    /// Mask a column of --table for this grantee: COL=null|redact|last4|hash|expr:SQL (repeatable).
    #[arg(long = "mask", value_name = "COL=KIND", value_parser = parse_mask, requires = "table", conflicts_with_all = NOT_TABLE)]
    masks: Vec<(String, String)>,
}

/// Prints one grant or permission entry in a line.
pub fn describe_entry(e: &proto::PermissionEntry) -> String {
    let mut s = format!(
        "{} on {}: {}",
        e.principal,
        e.resource,
        output::list(&e.permissions)
    );
    if !e.grantable.is_empty() {
        s.push_str(&format!(" (grantable: {})", e.grantable.join(",")));
    }
    if !e.masks.is_empty() {
        s.push_str(&format!(" (masks: {})", e.masks.join(",")));
    }
    s
}

/// Sends the grant.
pub async fn run(a: Args, g: &Global) -> Result<(), CliError> {
    let mut masks = BTreeMap::new();
    for (col, kind) in a.masks {
        if masks.insert(col.to_ascii_lowercase(), kind).is_some() {
            return Err(CliError::usage(format!(
                "column `{col}` has two --mask flags; give one mask per column"
            )));
        }
    }
    let req = GrantRequest {
        principal: a.who.principal,
        permissions: a.who.permissions,
        grantable: a.who.grantable,
        resource: Some(a.resource.spec()),
        masks,
    };
    let mut c = connect(g).await?;
    let r = c
        .client
        .grant(req)
        .await
        .map_err(|s| c.fail(s))?
        .into_inner();
    if g.json {
        return output::json(&r);
    }
    match &r.grant {
        Some(e) => println!("granted; now: {} [{}]", describe_entry(e), e.id),
        None => println!("granted"),
    }
    Ok(())
}
