//! Compiling grants and account policy files into Cedar policies over the
//! generated schema, indexed so that each decision sees only a slice.
//!
//! Every compiled policy carries an index key: the principal it names (or `*`)
//! and the entity its resource scope is anchored at (or `*`). A request for
//! principal P (with groups G) on resource R consults only the policies whose
//! principal key is P, one of G or `*`, and whose resource key is R, one of R's
//! ancestors or `*`. We slice by these keys because they are exactly the
//! entities a policy's scope can match, so the slice never misses a policy that
//! could apply, and decision time does not grow with the number of grants.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use cedar_policy::{Policy, PolicyId, PolicySet};

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::model::{
    AccountId, ColumnSelection, Grant, LocationUri, Permission, PolicyFile, Principal,
    PrincipalKind, Resource, TableName, TagResourceType,
};

/// The Cedar namespace of the generated schema.
pub const NAMESPACE: &str = "Lakegate";

/// Cedar's name for the action that exercises `p`.
pub fn action_name(p: Permission) -> String {
    p.as_str().to_string()
}

/// Cedar's name for the action of granting `p` onwards (the grant option).
pub fn grant_action_name(p: Permission) -> String {
    format!("GRANT:{}", p.as_str())
}

/// Resource entity types each action applies to.
fn action_resources(p: Permission) -> &'static [&'static str] {
    use Permission::*;
    match p {
        Select => &["Table", "Column", "DataFilter"],
        Insert | Delete => &["Table"],
        Describe => &["Account", "Database", "Table", "DataFilter", "LfTagValue"],
        Alter | Drop => &["Account", "Database", "Table", "DataFilter"],
        CreateDatabase => &["Account"],
        CreateTable => &["Database"],
        DataLocationAccess => &["Location"],
        Associate | GrantWithLfTagExpression => &["LfTagValue"],
        All => &[],
    }
}

/// The generated Cedar schema, in Cedar schema syntax.
pub fn schema_text() -> String {
    let mut s = String::new();
    s.push_str("namespace Lakegate {\n");
    s.push_str("  entity Account;\n");
    s.push_str("  entity Group in [Account];\n");
    s.push_str("  entity User in [Group, Account] tags String;\n");
    s.push_str("  entity Role in [Group, Account] tags String;\n");
    s.push_str("  entity Database in [Account] tags String;\n");
    s.push_str("  entity Table in [Database, Account] tags String;\n");
    s.push_str("  entity Column in [Table, Database, Account] tags String;\n");
    s.push_str("  entity DataFilter in [Table, Database, Account];\n");
    s.push_str("  entity Location in [Location, Account];\n");
    s.push_str("  entity LfTagValue in [Account];\n");
    for p in Permission::EVERY {
        if p == Permission::All {
            continue;
        }
        let res = action_resources(p).join(", ");
        for name in [action_name(p), grant_action_name(p)] {
            s.push_str(&format!(
                "  action \"{name}\" appliesTo {{ principal: [User, Role, Account], resource: [{res}] }};\n"
            ));
        }
    }
    s.push_str("}\n");
    s
}

/// Quotes `s` as a Cedar string literal.
pub fn lit(s: &str) -> String {
    format!("\"{}\"", s.escape_default())
}

/// `Lakegate::TYPE::"id"`.
pub fn uid_text(ty: &str, id: &str) -> String {
    format!("{NAMESPACE}::{ty}::{}", lit(id))
}

/// Entity id of a database.
pub fn database_id(account: &AccountId, db: &str) -> String {
    format!("{account}:{db}")
}
/// Entity id of a table.
pub fn table_id(account: &AccountId, t: &TableName) -> String {
    format!("{account}:{t}")
}
/// Entity id of a column.
pub fn column_id(account: &AccountId, t: &TableName, c: &str) -> String {
    format!("{account}:{t}.{c}")
}
/// Entity id of a data cells filter.
pub fn filter_id(account: &AccountId, t: &TableName, f: &str) -> String {
    format!("{account}:{t}.{f}")
}
/// Entity id of an LF-tag value.
pub fn tag_value_id(account: &AccountId, key: &str, value: &str) -> String {
    format!("{account}:{key}={value}")
}
/// Entity id of a location (account-scoped, since locations are registered per account).
pub fn location_id(account: &AccountId, uri: &LocationUri) -> String {
    format!("{account}:{uri}")
}

/// The Cedar entity type and id of a principal. A whole account (the
/// grantee of a cross-account share) is its `Account` entity: only the
/// share machinery asks as it ([`crate::authorize::PrincipalCtx::account`]);
/// no credential names an account, and a share policy says
/// `principal == Account`, which none of the account's users or roles is.
pub fn principal_uid_text(p: &Principal) -> Option<String> {
    match p {
        Principal::Iam { kind, .. } => Some(uid_text(principal_type(*kind), &p.to_string())),
        Principal::Account(a) => Some(uid_text("Account", a.as_str())),
    }
}

/// Cedar entity type name of a principal kind.
pub fn principal_type(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::User => "User",
        PrincipalKind::Role => "Role",
        PrincipalKind::Group => "Group",
    }
}

/// Where a compiled policy came from, for explanations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySource {
    /// A grant (its id).
    Grant(String),
    /// The grant option of a grant (its id).
    GrantOption(String),
    /// The implicit rights of a data lake admin.
    Admin {
        /// The account administered.
        account: AccountId,
        /// The admin.
        principal: Principal,
    },
    /// A policy in an account's policy-as-code files.
    File {
        /// The account whose policy set it is.
        account: AccountId,
        /// File path.
        path: String,
        /// 0-based index of the policy within the file.
        index: usize,
    },
}

/// One compiled policy with its slice keys.
#[derive(Clone, Debug)]
pub struct CompiledPolicy {
    /// The Cedar policy; its id is unique in the compiled set.
    pub policy: Policy,
    /// Where it came from.
    pub source: PolicySource,
    /// Principal entity uid text, or `*`.
    pub principal_key: String,
    /// Resource scope entity uid texts, or `["*"]`.
    pub resource_keys: Vec<String>,
    /// The policy's Cedar text.
    pub text: String,
}

/// All policies of one catalog version, indexed for slicing.
#[derive(Debug, Default)]
pub struct Compiled {
    policies: Vec<Arc<CompiledPolicy>>,
    index: HashMap<(String, String), Vec<usize>>,
    by_id: HashMap<String, usize>,
}

/// Reuses compiled policies across catalog versions, keyed by the grant they
/// came from, so a reload after one change parses one policy, not all.
#[derive(Debug, Default)]
pub struct CompileCache {
    grants: HashMap<String, (Grant, Vec<Arc<CompiledPolicy>>)>,
}

impl Compiled {
    /// Compiles every grant, admin and policy file of `cat`.
    pub fn build(cat: &Catalog, cache: &mut CompileCache) -> Result<Self> {
        let mut out = Compiled::default();
        for (account, principal) in &cat.admins {
            if let Some(p) = admin_policy(account, principal)? {
                out.push(Arc::new(p));
            }
        }
        let mut next_cache = HashMap::with_capacity(cat.grants.len());
        for g in cat.grants.values() {
            let compiled = match cache.grants.remove(&g.id) {
                Some((old, pols)) if &old == g => pols,
                _ => compile_grant(g)?.into_iter().map(Arc::new).collect(),
            };
            for p in &compiled {
                out.push(p.clone());
            }
            next_cache.insert(g.id.clone(), (g.clone(), compiled));
        }
        cache.grants = next_cache;
        for (account, files) in &cat.policies {
            for p in compile_files(account, files)? {
                out.push(Arc::new(p));
            }
        }
        Ok(out)
    }

    fn push(&mut self, p: Arc<CompiledPolicy>) {
        let i = self.policies.len();
        self.by_id.insert(p.policy.id().to_string(), i);
        for r in &p.resource_keys {
            self.index
                .entry((p.principal_key.clone(), r.clone()))
                .or_default()
                .push(i);
        }
        self.policies.push(p);
    }

    /// Number of compiled policies.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Whether nothing is compiled.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The policy with this id.
    pub fn get(&self, id: &str) -> Option<&CompiledPolicy> {
        self.by_id
            .get(id)
            .and_then(|i| self.policies.get(*i))
            .map(|p| p.as_ref())
    }

    /// The slice of policies for principal keys × resource keys (both lists
    /// must include `*`), as a Cedar policy set.
    pub fn slice(&self, principal_keys: &[String], resource_keys: &[String]) -> Result<PolicySet> {
        let mut idx: BTreeSet<usize> = BTreeSet::new();
        for p in principal_keys {
            for r in resource_keys {
                if let Some(v) = self.index.get(&(p.clone(), r.clone())) {
                    idx.extend(v.iter().copied());
                }
            }
        }
        let mut set = PolicySet::new();
        for i in idx {
            if let Some(p) = self.policies.get(i) {
                set.add(p.policy.clone())
                    .map_err(|e| Error::internal(format!("cannot assemble policy slice: {e}")))?;
            }
        }
        Ok(set)
    }

    /// Every compiled policy, for `lakegate explain` and tests.
    pub fn iter(&self) -> impl Iterator<Item = &CompiledPolicy> {
        self.policies.iter().map(|p| p.as_ref())
    }
}

fn parse(id: &str, text: &str, source: PolicySource) -> Result<Policy> {
    Policy::parse(Some(PolicyId::new(id)), text).map_err(|e| {
        Error::internal(format!(
            "generated Cedar policy for {source:?} does not parse: {e}; text: {text}"
        ))
    })
}

fn admin_policy(account: &AccountId, principal: &Principal) -> Result<Option<CompiledPolicy>> {
    // Admins are users, roles or groups (bootstrap checks); never an account.
    let (Some(_), Some(puid)) = (principal.kind(), principal_uid_text(principal)) else {
        return Ok(None);
    };
    let head = if principal.is_group() {
        format!("principal in {puid}")
    } else {
        format!("principal == {puid}")
    };
    let acct = uid_text("Account", account.as_str());
    let text = format!("permit ({head}, action, resource in {acct});");
    let id = format!("admin:{account}:{principal}");
    let source = PolicySource::Admin {
        account: account.clone(),
        principal: principal.clone(),
    };
    Ok(Some(CompiledPolicy {
        policy: parse(&id, &text, source.clone())?,
        source,
        principal_key: puid,
        resource_keys: vec![acct],
        text,
    }))
}

/// Expands ALL to the resource's concrete permissions.
pub fn expand(perms: &BTreeSet<Permission>, resource: &Resource) -> BTreeSet<Permission> {
    let mut out = BTreeSet::new();
    for p in perms {
        if *p == Permission::All {
            out.extend(
                resource
                    .valid_permissions()
                    .iter()
                    .copied()
                    .filter(|q| *q != Permission::All),
            );
        } else {
            out.insert(*p);
        }
    }
    out
}

/// The resource part of a grant's policy: scope, condition, and slice keys.
struct ResourcePart {
    scope: String,
    when: Option<String>,
    keys: Vec<String>,
}

fn resource_part(g: &Grant, for_grant_option: bool, on_table: bool) -> ResourcePart {
    let a = &g.account;
    match &g.resource {
        Resource::Catalog => {
            let u = uid_text("Account", a.as_str());
            ResourcePart {
                scope: format!("resource == {u}"),
                when: None,
                keys: vec![u],
            }
        }
        Resource::Database { database } => {
            let u = uid_text("Database", &database_id(a, database));
            ResourcePart {
                scope: format!("resource == {u}"),
                when: None,
                keys: vec![u],
            }
        }
        Resource::Table { table } => {
            // The permissions cover the table and its columns, never its
            // data cells filters: reading through a filter is a grant of its
            // own (an all-rows filter, perhaps another account's, would
            // otherwise show a column this grant masks in the clear). The
            // grant option covers the filters too: the table is the wider
            // resource (rule 10), and re-granting a filter is checked for
            // masks separately.
            let u = uid_text("Table", &table_id(a, table));
            if for_grant_option {
                ResourcePart {
                    scope: format!("resource in {u}"),
                    when: None,
                    keys: vec![u],
                }
            } else {
                ResourcePart {
                    scope: "resource".into(),
                    when: Some(format!(
                        "resource == {u} || resource is {NAMESPACE}::Column && resource in {u}"
                    )),
                    keys: vec![u],
                }
            }
        }
        Resource::TableWithColumns { table, columns } => {
            let t = uid_text("Table", &table_id(a, table));
            let list = |cols: &BTreeSet<String>| {
                cols.iter()
                    .map(|c| uid_text("Column", &column_id(a, table, c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            // The table itself is named so that a partial SELECT shows the
            // table (DESCRIBE) — but never for the grant option, which must
            // not let a column grant be re-granted as a table grant.
            let table_clause = if for_grant_option {
                String::new()
            } else {
                format!("resource == {t} || ")
            };
            let when = match columns {
                ColumnSelection::All => {
                    format!("resource == {t} || resource is {NAMESPACE}::Column && resource in {t}")
                }
                ColumnSelection::Include(cols) => {
                    format!("{table_clause}resource in [{}]", list(cols))
                }
                ColumnSelection::Exclude(cols) => format!(
                    "{table_clause}(resource is {NAMESPACE}::Column && resource in {t} && !(resource in [{}]))",
                    list(cols)
                ),
            };
            ResourcePart {
                scope: "resource".into(),
                when: Some(when),
                keys: vec![t],
            }
        }
        Resource::ResourceLink { link } => {
            // A link is a Table entity of its own catalog with no columns:
            // rights on it never reach the table it points at.
            let u = uid_text("Table", &table_id(a, link));
            ResourcePart {
                scope: format!("resource == {u}"),
                when: None,
                keys: vec![u],
            }
        }
        Resource::DataFilter { table, filter } => {
            let u = uid_text("DataFilter", &filter_id(a, table, filter));
            ResourcePart {
                scope: format!("resource == {u}"),
                when: None,
                keys: vec![u],
            }
        }
        Resource::DataLocation { uri } => {
            let u = uid_text("Location", &location_id(a, uri));
            ResourcePart {
                scope: format!("resource in {u}"),
                when: None,
                keys: vec![u],
            }
        }
        Resource::LfTag { key, values } => {
            let us: Vec<String> = values
                .iter()
                .map(|v| uid_text("LfTagValue", &tag_value_id(a, key, v)))
                .collect();
            ResourcePart {
                scope: "resource".into(),
                when: Some(format!("resource in [{}]", us.join(", "))),
                keys: us,
            }
        }
        Resource::LfTagPolicy {
            resource_type,
            expression,
        } => {
            // DATABASE policies match databases; TABLE policies match columns
            // (for SELECT) and, through the synthetic all-columns tags, tables
            // whose every column matches (for the other table permissions).
            let (ty, prefix) = match (resource_type, on_table) {
                (TagResourceType::Database, _) => ("Database", ""),
                (TagResourceType::Table, false) => ("Column", ""),
                (TagResourceType::Table, true) => ("Table", crate::tags::ALL_COLUMNS_PREFIX),
            };
            let acct = uid_text("Account", a.as_str());
            let mut conds = vec![format!("resource is {NAMESPACE}::{ty}")];
            for (k, vs) in expression {
                let set = vs.iter().map(|v| lit(v)).collect::<Vec<_>>().join(", ");
                conds.push(format!(
                    "resource.hasTag({k}) && [{set}].contains(resource.getTag({k}))",
                    k = lit(&format!("{prefix}{k}"))
                ));
            }
            ResourcePart {
                scope: format!("resource in {acct}"),
                when: Some(conds.join(" && ")),
                keys: vec![acct],
            }
        }
    }
}

/// Compiles one grant into its permit policy and, if it has grantable
/// permissions, its grant-option policy.
pub fn compile_grant(g: &Grant) -> Result<Vec<CompiledPolicy>> {
    let Some(puid) = principal_uid_text(&g.principal) else {
        return Ok(Vec::new());
    };
    let head = if g.principal.is_group() {
        format!("principal in {puid}")
    } else {
        format!("principal == {puid}")
    };
    let mut out = Vec::new();
    for grant_option in [false, true] {
        let perms = if grant_option {
            expand(&g.grantable, &g.resource)
        } else {
            expand(&g.permissions, &g.resource)
        };
        if perms.is_empty() {
            continue;
        }
        // Any permission on a catalog object implies DESCRIBE of it (as in
        // Lake Formation); a forbid on SELECT then still leaves it visible.
        let mut perms = perms;
        if !grant_option
            && matches!(
                g.resource,
                Resource::Catalog
                    | Resource::Database { .. }
                    | Resource::Table { .. }
                    | Resource::TableWithColumns { .. }
                    | Resource::DataFilter { .. }
                    | Resource::ResourceLink { .. }
            )
        {
            perms.insert(Permission::Describe);
        }
        let actions = perms
            .iter()
            .map(|p| {
                let name = if grant_option {
                    grant_action_name(*p)
                } else {
                    action_name(*p)
                };
                uid_text("Action", &name)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = actions;
        // A TABLE tag policy becomes two policies: SELECT on matching
        // columns, and the other table permissions on tables whose every
        // column matches.
        let parts: Vec<(bool, BTreeSet<Permission>)> = match &g.resource {
            Resource::LfTagPolicy {
                resource_type: TagResourceType::Table,
                ..
            } => {
                let select: BTreeSet<Permission> = perms
                    .iter()
                    .copied()
                    .filter(|p| *p == Permission::Select)
                    .collect();
                let rest: BTreeSet<Permission> = perms
                    .iter()
                    .copied()
                    .filter(|p| *p != Permission::Select)
                    .collect();
                vec![(false, select), (true, rest)]
            }
            _ => vec![(false, perms.clone())],
        };
        for (on_table, ps) in parts {
            if ps.is_empty() {
                continue;
            }
            let actions = ps
                .iter()
                .map(|p| {
                    let name = if grant_option {
                        grant_action_name(*p)
                    } else {
                        action_name(*p)
                    };
                    uid_text("Action", &name)
                })
                .collect::<Vec<_>>()
                .join(", ");
            let rp = resource_part(g, grant_option, on_table);
            let mut text = format!("permit ({head}, action in [{actions}], {})", rp.scope);
            if let Some(w) = &rp.when {
                text.push_str(&format!(" when {{ {w} }}"));
            }
            text.push(';');
            let suffix = if on_table { ":tables" } else { "" };
            let (id, source) = if grant_option {
                (
                    format!("{}:grant-option{suffix}", g.id),
                    PolicySource::GrantOption(g.id.clone()),
                )
            } else {
                (
                    format!("{}{suffix}", g.id),
                    PolicySource::Grant(g.id.clone()),
                )
            };
            out.push(CompiledPolicy {
                policy: parse(&id, &text, source.clone())?,
                source,
                principal_key: puid.clone(),
                resource_keys: rp.keys,
                text,
            });
        }
    }
    Ok(out)
}

/// Parses an account's policy files into policies with stable ids
/// `file:ACCOUNT:PATH#N`, keyed to any principal and the account's resources.
pub fn compile_files(account: &AccountId, files: &[PolicyFile]) -> Result<Vec<CompiledPolicy>> {
    let mut out = Vec::new();
    for f in files {
        let set: PolicySet = f.source.parse().map_err(|e| {
            Error::invalid(format!(
                "policy file `{}` does not parse: {e}; fix it and apply again",
                f.path
            ))
        })?;
        for (index, p) in set.policies().enumerate() {
            let id = format!("file:{account}:{}#{index}", f.path);
            let text = p.to_string();
            out.push(CompiledPolicy {
                policy: p.new_id(PolicyId::new(&id)),
                source: PolicySource::File {
                    account: account.clone(),
                    path: f.path.clone(),
                    index,
                },
                // An account's policies apply to requests on that account's
                // resources only (every resource chain includes its account).
                // Its permits speak for its own principals only, so a
                // `permit (principal, …)` written for them never reaches
                // another account that its tables are shared with (nor that
                // account's principals); its forbids bind everyone who
                // reads its resources, shares included.
                principal_key: if p.effect() == cedar_policy::Effect::Permit {
                    uid_text("Account", account.as_str())
                } else {
                    "*".into()
                },
                resource_keys: vec![uid_text("Account", account.as_str())],
                text,
            });
        }
    }
    Ok(out)
}
