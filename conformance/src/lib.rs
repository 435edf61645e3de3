//! # conformance
//!
//! lakegate's scenario corpus: YAML cases under `conformance/cases/<topic>/`,
//! each a catalog, a sequence of steps (grants, revokes, access checks,
//! queries) and the expected outcome of each step. One case format, several
//! targets:
//!
//! ```text
//!  cases/*.yaml ──parse──▶ Case ──run_case──▶ impl Target
//!                                              ├─ LibraryTarget (policy-engine API, in process)
//!                                              ├─ embedded proxy  ┐ through ADBC
//!                                              └─ sidecar proxy   ┘ (conformance/tests/adbc.rs)
//! ```
//!
//! We keep the corpus as data rather than Rust because the same scenario must
//! hold through every interface (library, CLI, Flight SQL), and because a
//! reviewer should be able to read a rule's cases without reading code.
//!
//! One runner ([`run_case`]) checks every step's expectation; a [`Target`]
//! only says what a step did. Catalog changes (grants, filters, tags,
//! policies) go through the policy-engine API on every target; `access:` and
//! `query:` steps go through the target's own interface. The library target
//! has no engine, so it skips `query:` steps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use policy_engine::{Caller, Error, Governance, GrantRequest, Principal, ResourceSpec};
use serde::Deserialize;

mod target;
pub use target::{LibraryTarget, Outcome, Ran, Target, build_catalog, run_case};

/// One scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows.
    pub description: String,
    /// The catalog to build before the steps run.
    pub catalog: CatalogSpec,
    /// Steps, in order.
    pub steps: Vec<Step>,
    /// Set by the loader: the file it came from.
    #[serde(skip)]
    pub path: PathBuf,
}

/// The catalog of a case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogSpec {
    /// Account id.
    pub account: String,
    /// Data lake admins.
    pub admins: Vec<String>,
    /// Registered locations.
    #[serde(default)]
    pub locations: Vec<String>,
    /// Databases.
    #[serde(default)]
    pub databases: Vec<DatabaseSpec>,
    /// Tables.
    #[serde(default)]
    pub tables: Vec<TableSpec>,
}

/// A database of a case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSpec {
    /// Name.
    pub name: String,
    /// Optional location.
    pub location: Option<String>,
}

/// A table of a case, with its data for query steps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// `DB.TABLE`.
    pub name: String,
    /// Location (defaults to `file:///conformance/DB/TABLE/`).
    pub location: Option<String>,
    /// Columns as `name: ArrowType`, in order.
    pub columns: Vec<BTreeMap<String, String>>,
    /// Rows for query targets (JSON values in column order).
    #[serde(default)]
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// A principal acting in a step.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct As {
    /// Principal id (default: the first admin).
    pub principal: Option<String>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Attributes.
    #[serde(default)]
    pub attrs: BTreeMap<String, String>,
}

/// A grant or revoke in a step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    /// Grantee.
    pub principal: String,
    /// Permissions.
    pub permissions: Vec<String>,
    /// Grantable permissions.
    #[serde(default)]
    pub grantable: Vec<String>,
    /// `--catalog`
    #[serde(default)]
    pub catalog: bool,
    /// `--catalog-id ACCOUNT`: another account's tag expression (with
    /// `resource_type` and `tags`).
    pub catalog_id: Option<String>,
    /// `--database`
    pub database: Option<String>,
    /// `--table`
    pub table: Option<String>,
    /// `--columns`
    #[serde(default)]
    pub columns: Vec<String>,
    /// `--exclude-columns`
    #[serde(default)]
    pub exclude_columns: Vec<String>,
    /// `--location`
    pub location: Option<String>,
    /// `--data-filter DB.TABLE.NAME`
    pub data_filter: Option<String>,
    /// `--resource-type DATABASE|TABLE` with `tags`.
    pub resource_type: Option<String>,
    /// `--tag KEY=V1,V2` (with `resource_type`), or `--lf-tag` values (without).
    #[serde(default)]
    pub tags: BTreeMap<String, Vec<String>>,
    /// `--mask COL=KIND`
    #[serde(default)]
    pub masks: BTreeMap<String, String>,
}

/// `data-filter create`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    /// `DB.TABLE.NAME`
    pub name: String,
    /// `--row-filter` (absent: all rows).
    pub row_filter: Option<String>,
    /// `--columns`
    #[serde(default)]
    pub columns: Vec<String>,
    /// `--exclude-columns`
    #[serde(default)]
    pub exclude_columns: Vec<String>,
}

/// `lf-tag create`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LfTagSpec {
    /// Key.
    pub key: String,
    /// Values.
    pub values: Vec<String>,
}

/// `lf-tag assign|unassign`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignSpec {
    /// `--database`
    pub database: Option<String>,
    /// `--table`
    pub table: Option<String>,
    /// `--columns`
    #[serde(default)]
    pub columns: Vec<String>,
    /// `--tag KEY=VALUE`s, in order.
    pub tags: Vec<(String, String)>,
}

impl AssignSpec {
    /// The policy-engine request.
    pub fn request(&self) -> policy_engine::lftags::TagAssignRequest {
        policy_engine::lftags::TagAssignRequest {
            database: self.database.clone(),
            table: self.table.clone(),
            columns: self.columns.clone(),
            tags: self.tags.clone(),
        }
    }
}

/// A resource link to create.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// `DB.NAME` in the acting principal's catalog.
    pub name: String,
    /// `ACCOUNT:DB.TABLE`.
    pub target: String,
}

/// Expected error of a step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WantError {
    /// `invalid_argument`, `permission_denied`, `already_exists`, `failed_precondition`.
    pub kind: String,
    /// Substring the message must contain.
    #[serde(default)]
    pub contains: Option<String>,
}

/// One step of a case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Who acts.
    #[serde(default, rename = "as")]
    pub who: As,
    /// Grant this.
    pub grant: Option<GrantSpec>,
    /// Revoke this.
    pub revoke: Option<GrantSpec>,
    /// Check effective access on this `DB.TABLE`.
    pub access: Option<String>,
    /// Create a data cells filter.
    pub data_filter: Option<FilterSpec>,
    /// Create an LF-tag: key and values.
    pub lf_tag: Option<LfTagSpec>,
    /// Assign LF-tags.
    pub assign: Option<AssignSpec>,
    /// Unassign LF-tags.
    pub unassign: Option<AssignSpec>,
    /// Create a database in the acting principal's account.
    pub create_database: Option<String>,
    /// Create a resource link `name` → `target` (`ACCOUNT:DB.TABLE`).
    pub resource_link: Option<LinkSpec>,
    /// Delete the resource link `DB.NAME`.
    pub delete_link: Option<String>,
    /// Apply this account policy bundle: file name → Cedar source.
    pub policies: Option<BTreeMap<String, String>>,
    /// Apply this policy repository (DESIGN §8): path → text.
    pub apply_repository: Option<BTreeMap<String, String>>,
    /// Plan this policy repository (nothing changes): path → text.
    pub plan: Option<BTreeMap<String, String>>,
    /// Expected effective-access diff of a `plan:` step, exactly, as
    /// `policy plan --json` prints its `access`.
    pub want_access: Option<serde_json::Value>,
    /// Expected number of governance objects a `plan:` step changes.
    pub want_changes: Option<usize>,
    /// Expected invariant results of a `plan:` step: name → holds.
    pub want_invariants: Option<BTreeMap<String, bool>>,
    /// Run this SQL (query targets only).
    pub query: Option<String>,
    /// List the tables of this database in the acting principal's catalog,
    /// as GetTables does (a database it may not see lists no tables).
    pub tables: Option<String>,
    /// Expected tables of a `tables:` step: name → visible columns, in order.
    pub want_tables: Option<BTreeMap<String, Vec<String>>>,
    /// Expected visible columns, in order (access steps).
    pub want_columns: Option<Vec<String>>,
    /// Expected masks, column → kind (access steps).
    pub want_masks: Option<BTreeMap<String, String>>,
    /// Expected rows (query steps), JSON values.
    pub want_rows: Option<Vec<Vec<serde_json::Value>>>,
    /// Expected error.
    pub want_error: Option<WantError>,
    /// Expected error of an `access:` or `query:` step where statements run
    /// on an upstream engine (a sidecar), if it differs from the embedded
    /// outcome: a keyed-hash mask, for one, is refused there by design.
    pub want_error_upstream: Option<WantError>,
}

/// Loads every case under `dir`, sorted by path.
pub fn load_cases(dir: &Path) -> Result<Vec<Case>> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
            let mut c: Case =
                serde_yaml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
            c.path = p;
            Ok(c)
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            collect(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    Ok(())
}

/// The error kind name of a policy-engine error, as cases spell it.
pub fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::InvalidArgument(_) => "invalid_argument",
        Error::AlreadyExists(_) => "already_exists",
        Error::PermissionDenied(_) => "permission_denied",
        Error::FailedPrecondition(_) => "failed_precondition",
        Error::Conflict => "aborted",
        Error::StoreUnavailable(_) => "unavailable",
        Error::Internal(_) => "internal",
    }
}

impl Case {
    /// The caller for a step (default: the first admin).
    pub fn caller(&self, who: &As) -> Result<Caller> {
        let id = match &who.principal {
            Some(p) => p.clone(),
            None => self
                .catalog
                .admins
                .first()
                .cloned()
                .ok_or_else(|| anyhow!("case has no admin"))?,
        };
        let mut c = Caller::new(Principal::parse(&id)?);
        for g in &who.groups {
            c.groups.push(Principal::parse(g)?);
        }
        c.attrs = who.attrs.clone();
        Ok(c)
    }

    /// The root every location of a case is written under.
    pub const ROOT: &str = "file:///conformance/";

    /// A case's location moved from [`Case::ROOT`] to `root` (a URL ending
    /// in `/`); a location outside the root is kept as it is.
    pub fn relocate(uri: &str, root: &str) -> String {
        match uri.strip_prefix(Self::ROOT) {
            Some(rest) => format!("{root}{rest}"),
            None => uri.to_string(),
        }
    }

    /// The location of a table spec under `root`: its own, or
    /// `root/DB/TABLE/`.
    pub fn table_location(t: &TableSpec, root: &str) -> String {
        match &t.location {
            Some(l) => Self::relocate(l, root),
            None => format!("{root}{}/", t.name.replace('.', "/")),
        }
    }
}

impl GrantSpec {
    /// The request this spec describes.
    pub fn request(&self) -> Result<GrantRequest> {
        let resource = if let Some(f) = &self.data_filter {
            ResourceSpec::DataFilter { name: f.clone() }
        } else if let Some(rt) = &self.resource_type {
            ResourceSpec::LfTagPolicy {
                resource_type: rt.clone(),
                tags: self
                    .tags
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                account: self.catalog_id.clone(),
            }
        } else if let Some((k, v)) = self.tags.iter().next() {
            ResourceSpec::LfTag {
                key: k.clone(),
                values: v.clone(),
            }
        } else {
            match (self.catalog, &self.database, &self.table, &self.location) {
                (true, None, None, None) => ResourceSpec::Catalog,
                (false, Some(d), None, None) => ResourceSpec::Database { name: d.clone() },
                (false, None, Some(t), None) => ResourceSpec::Table {
                    name: t.clone(),
                    columns: self.columns.clone(),
                    exclude_columns: self.exclude_columns.clone(),
                },
                (false, None, None, Some(l)) => ResourceSpec::Location { uri: l.clone() },
                _ => bail!("a grant names exactly one resource"),
            }
        };
        Ok(GrantRequest {
            principal: self.principal.clone(),
            permissions: self.permissions.clone(),
            grantable: self.grantable.clone(),
            resource,
            masks: self
                .masks
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }
}

/// Runs a step's catalog change (data filter, LF-tag, assignment, policy
/// bundle) if it has one: `Ok(None)` if the step is of another kind.
pub fn run_admin_step(
    g: &Governance,
    caller: &Caller,
    step: &Step,
) -> Result<Option<Result<(), Error>>> {
    if let Some(f) = &step.data_filter {
        let req = policy_engine::filters::NewDataFilter {
            name: f.name.clone(),
            row_filter: f.row_filter.clone(),
            all_rows: f.row_filter.is_none(),
            columns: f.columns.clone(),
            exclude_columns: f.exclude_columns.clone(),
        };
        return Ok(Some(g.create_data_filter(caller, &req).map(|_| ())));
    }
    if let Some(t) = &step.lf_tag {
        return Ok(Some(g.create_lf_tag(caller, &t.key, &t.values).map(|_| ())));
    }
    if let Some(a) = &step.assign {
        return Ok(Some(g.assign_lf_tags(caller, &a.request()).map(|_| ())));
    }
    if let Some(a) = &step.unassign {
        return Ok(Some(g.unassign_lf_tags(caller, &a.request()).map(|_| ())));
    }
    if let Some(d) = &step.create_database {
        return Ok(Some(g.create_database(caller, d, None).map(|_| ())));
    }
    if let Some(l) = &step.resource_link {
        return Ok(Some(g.create_link(caller, &l.name, &l.target).map(|_| ())));
    }
    if let Some(l) = &step.delete_link {
        return Ok(Some(g.delete_link(caller, l).map(|_| ())));
    }
    if let Some(p) = &step.policies {
        let files: Vec<policy_engine::model::PolicyFile> = p
            .iter()
            .map(|(path, source)| policy_engine::model::PolicyFile {
                path: path.clone(),
                source: source.clone(),
            })
            .collect();
        return Ok(Some(g.apply_policies(caller, &files).map(|_| ())));
    }
    if let Some(r) = &step.apply_repository {
        return Ok(Some(
            g.apply_repository(caller, &repository(r), None, None)
                .map(|_| ()),
        ));
    }
    Ok(None)
}

/// A repository of a `plan:` or `apply_repository:` step as files.
pub fn repository(files: &BTreeMap<String, String>) -> Vec<policy_engine::model::PolicyFile> {
    files
        .iter()
        .map(|(path, source)| policy_engine::model::PolicyFile {
            path: path.clone(),
            source: source.clone(),
        })
        .collect()
}
