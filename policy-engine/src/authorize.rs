//! The Cedar decision point: builds the entities a request needs, takes the
//! policy slice for its principal and resource, and asks
//! `cedar_policy::Authorizer`.
//!
//! We differ from plain Cedar in one way: Cedar skips a policy whose
//! evaluation errors, we deny. A slice only holds policies that could apply,
//! so any evaluation error in it is a deny.

use std::str::FromStr;
use std::sync::OnceLock;

use cedar_policy::{
    Context, Effect, Entities, Entity, EntityId, EntityTypeName, EntityUid, Policy, PolicyId,
    PolicySet, Request, RestrictedExpression,
};

use crate::catalog::Catalog;
use crate::compile::{self, Compiled};
use crate::error::{Error, Result};
use crate::model::{AccountId, Caller, LocationUri, Principal, PrincipalKind, TableName};
use crate::tags::{self, Tags};

/// The thing a request is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An account's catalog.
    Catalog(AccountId),
    /// A database.
    Database(AccountId, String),
    /// A table.
    Table(AccountId, TableName),
    /// A column of a table.
    Column(AccountId, TableName, String),
    /// A data cells filter of a table.
    DataFilter(AccountId, TableName, String),
    /// A data location (any path; grants on enclosing locations apply).
    Location(AccountId, LocationUri),
    /// One value of an LF-tag key.
    TagValue(AccountId, String, String),
}

/// The outcome of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// The determining policy ids (permits if allowed, forbids if a forbid denied).
    pub reasons: Vec<String>,
    /// Evaluation errors (any makes the decision a deny).
    pub errors: Vec<String>,
}

struct Types {
    account: EntityTypeName,
    group: EntityTypeName,
    user: EntityTypeName,
    role: EntityTypeName,
    database: EntityTypeName,
    table: EntityTypeName,
    column: EntityTypeName,
    filter: EntityTypeName,
    location: EntityTypeName,
    tag_value: EntityTypeName,
    action: EntityTypeName,
}

fn types() -> Result<&'static Types> {
    static T: OnceLock<std::result::Result<Types, String>> = OnceLock::new();
    let t = T.get_or_init(|| {
        let n = |s: &str| {
            EntityTypeName::from_str(&format!("{}::{s}", compile::NAMESPACE))
                .map_err(|e| e.to_string())
        };
        Ok(Types {
            account: n("Account")?,
            group: n("Group")?,
            user: n("User")?,
            role: n("Role")?,
            database: n("Database")?,
            table: n("Table")?,
            column: n("Column")?,
            filter: n("DataFilter")?,
            location: n("Location")?,
            tag_value: n("LfTagValue")?,
            action: n("Action")?,
        })
    });
    t.as_ref()
        .map_err(|e| Error::internal(format!("cedar type names: {e}")))
}

fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

fn entity(u: EntityUid, parents: &[EntityUid], tags: &Tags) -> Result<Entity> {
    Entity::new_with_tags(
        u,
        [],
        parents.iter().cloned(),
        tags.iter()
            .map(|(k, v)| (k.clone(), RestrictedExpression::new_string(v.clone()))),
    )
    .map_err(|e| Error::internal(format!("cannot build entity: {e}")))
}

/// The principal side of a request: entities and slice keys.
pub struct PrincipalCtx {
    uid: EntityUid,
    entities: Vec<Entity>,
    keys: Vec<String>,
    /// Resource keys added to every slice: the principal's own account, so
    /// that its account's policies (a `forbid` above all) also bind it on
    /// another account's shared tables (DESIGN §3 rules 6, 7). Their scopes
    /// still decide what they match.
    home: Vec<String>,
}

impl PrincipalCtx {
    /// Adds the principal's home account's resource keys to a target's.
    fn add_home(&self, keys: &mut Vec<String>) {
        for k in &self.home {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }

    /// The receiving account of cross-account shares, asking as itself:
    /// what account `a` was granted by another account (DESIGN §3 rule 6).
    /// Only the share machinery builds this; no credential names an account.
    pub fn account(a: &AccountId) -> Result<Self> {
        let t = types()?;
        let me = uid(&t.account, a.as_str());
        Ok(Self {
            entities: vec![entity(me.clone(), &[], &Tags::new())?],
            keys: vec!["*".to_string(), compile::uid_text("Account", a.as_str())],
            uid: me,
            home: Vec::new(),
        })
    }

    /// Builds the principal entity (with its groups and attributes as tags).
    pub fn new(caller: &Caller) -> Result<Self> {
        let t = types()?;
        let Principal::Iam {
            account,
            kind,
            name: _,
        } = &caller.principal
        else {
            return Err(Error::denied(format!(
                "`{}` is an account, not a user or role; authenticate as a user or role",
                caller.principal
            )));
        };
        let ty = match kind {
            PrincipalKind::User => &t.user,
            PrincipalKind::Role => &t.role,
            PrincipalKind::Group => {
                return Err(Error::denied(format!(
                    "`{}` is a group; groups cannot authenticate, their members do",
                    caller.principal
                )));
            }
        };
        let acct = uid(&t.account, account.as_str());
        let mut keys = vec![
            "*".to_string(),
            compile::uid_text(
                compile::principal_type(*kind),
                &caller.principal.to_string(),
            ),
            // The account's own permits (policy-as-code) speak for it.
            compile::uid_text("Account", account.as_str()),
        ];
        let mut parents = vec![acct.clone()];
        let mut entities = vec![entity(acct.clone(), &[], &Tags::new())?];
        for g in &caller.groups {
            // Only groups of the principal's own account count: another
            // account's group grants never reach it (tokens are checked for
            // this too; the library API is not).
            if !g.is_group() || g.account() != account {
                continue;
            }
            let gu = uid(&t.group, &g.to_string());
            keys.push(compile::uid_text("Group", &g.to_string()));
            parents.push(gu.clone());
            let gacct = uid(&t.account, g.account().as_str());
            entities.push(entity(gu, std::slice::from_ref(&gacct), &Tags::new())?);
        }
        let me = uid(ty, &caller.principal.to_string());
        let attrs: Tags = caller.attrs.clone().into_iter().collect();
        entities.push(entity(me.clone(), &parents, &attrs)?);
        Ok(Self {
            uid: me,
            entities,
            keys,
            home: vec![compile::uid_text("Account", account.as_str())],
        })
    }
}

/// The resource side of a request: the target's entity and its ancestors.
struct ResourceCtx {
    uid: EntityUid,
    entities: Vec<Entity>,
    keys: Vec<String>,
}

fn resource_ctx(cat: &Catalog, target: &Target) -> Result<ResourceCtx> {
    let t = types()?;
    let mut keys = vec!["*".to_string()];
    let mut chain: Vec<(EntityUid, Tags)> = Vec::new();
    let account = match target {
        Target::Catalog(a)
        | Target::Database(a, _)
        | Target::Table(a, _)
        | Target::Column(a, _, _)
        | Target::DataFilter(a, _, _)
        | Target::Location(a, _)
        | Target::TagValue(a, _, _) => a,
    };
    chain.push((uid(&t.account, account.as_str()), Tags::new()));
    keys.push(compile::uid_text("Account", account.as_str()));
    let push_db = |chain: &mut Vec<(EntityUid, Tags)>, keys: &mut Vec<String>, db: &str| {
        let id = compile::database_id(account, db);
        keys.push(compile::uid_text("Database", &id));
        chain.push((uid(&t.database, &id), tags::database_tags(cat, account, db)));
    };
    match target {
        Target::Catalog(_) => {}
        Target::Database(_, db) => push_db(&mut chain, &mut keys, db),
        Target::Table(_, tn) | Target::Column(_, tn, _) | Target::DataFilter(_, tn, _) => {
            push_db(&mut chain, &mut keys, &tn.database);
            let id = compile::table_id(account, tn);
            keys.push(compile::uid_text("Table", &id));
            let ttags = tags::table_tags(cat, account, tn);
            chain.push((
                uid(&t.table, &id),
                tags::table_entity_tags(cat, account, tn),
            ));
            match target {
                Target::Column(_, _, c) => {
                    let id = compile::column_id(account, tn, c);
                    keys.push(compile::uid_text("Column", &id));
                    let ctags = tags::column_tags(cat, account, tn, &ttags, c);
                    chain.push((uid(&t.column, &id), ctags));
                }
                Target::DataFilter(_, _, f) => {
                    let id = compile::filter_id(account, tn, f);
                    keys.push(compile::uid_text("DataFilter", &id));
                    chain.push((uid(&t.filter, &id), Tags::new()));
                }
                _ => {}
            }
        }
        Target::Location(_, uri) => {
            // Every enclosing prefix is an ancestor, so a grant on a
            // location covers everything inside it.
            let s = uri.as_str();
            for (i, ch) in s.char_indices() {
                if ch == '/'
                    && i + 1 < s.len()
                    && i > s.find("://").unwrap_or(0) + 2
                    && let Some(prefix) = s.get(..=i)
                    && let Ok(p) = LocationUri::parse(prefix)
                {
                    let id = compile::location_id(account, &p);
                    keys.push(compile::uid_text("Location", &id));
                    chain.push((uid(&t.location, &id), Tags::new()));
                }
            }
            let id = compile::location_id(account, uri);
            keys.push(compile::uid_text("Location", &id));
            chain.push((uid(&t.location, &id), Tags::new()));
        }
        Target::TagValue(_, k, v) => {
            let id = compile::tag_value_id(account, k, v);
            keys.push(compile::uid_text("LfTagValue", &id));
            chain.push((uid(&t.tag_value, &id), Tags::new()));
        }
    }
    // Each entity gets all its ancestors as parents, so the hierarchy is
    // complete without the transitive closure having to find them.
    let mut entities = Vec::with_capacity(chain.len());
    for i in 0..chain.len() {
        let parents: Vec<EntityUid> = chain.iter().take(i).map(|(u, _)| u.clone()).collect();
        if let Some((u, tg)) = chain.get(i) {
            entities.push(entity(u.clone(), &parents, tg)?);
        }
    }
    let leaf = chain
        .last()
        .map(|(u, _)| u.clone())
        .ok_or_else(|| Error::internal("empty resource chain"))?;
    Ok(ResourceCtx {
        uid: leaf,
        entities,
        keys,
    })
}

/// Inputs of one table's column decisions: the policy slice, the entities
/// and the column uids.
pub struct PreparedColumns {
    /// The policy slice.
    pub slice: PolicySet,
    /// Principal, groups, account, database, table and column entities.
    pub entities: Entities,
    /// One uid per column, in the order asked.
    pub uids: Vec<EntityUid>,
    /// The principal's uid.
    pub principal: EntityUid,
}

/// Turns a Cedar response into a decision, denying on any evaluation error.
fn decision_of(resp: &cedar_policy::Response) -> Decision {
    let errors: Vec<String> = resp.diagnostics().errors().map(|e| e.to_string()).collect();
    let reasons: Vec<String> = resp
        .diagnostics()
        .reason()
        .map(|id| id.to_string())
        .collect();
    let allowed = errors.is_empty() && resp.decision() == cedar_policy::Decision::Allow;
    Decision {
        allowed,
        reasons,
        errors,
    }
}

/// The Cedar uid of an action.
pub fn action_uid(action: &str) -> Result<EntityUid> {
    Ok(uid(&types()?.action, action))
}

/// Decides requests against one compiled catalog version.
pub struct Authorizer<'a> {
    cat: &'a Catalog,
    compiled: &'a Compiled,
    cedar: cedar_policy::Authorizer,
}

impl<'a> Authorizer<'a> {
    /// An authorizer over one snapshot.
    pub fn new(cat: &'a Catalog, compiled: &'a Compiled) -> Self {
        Self {
            cat,
            compiled,
            cedar: cedar_policy::Authorizer::new(),
        }
    }

    /// Whether `caller` may perform `action` (a Cedar action name) on `target`.
    pub fn decide(&self, p: &PrincipalCtx, action: &str, target: &Target) -> Result<Decision> {
        let mut r = resource_ctx(self.cat, target)?;
        p.add_home(&mut r.keys);
        let slice = self.compiled.slice(&p.keys, &r.keys)?;
        self.run(p, action, &r, &slice)
    }

    /// Decides `action` on every named column of one table with one policy
    /// slice and one entity set, as one query's authorization does: the
    /// per-column cost is then one Cedar evaluation.
    pub fn decide_columns(
        &self,
        p: &PrincipalCtx,
        action: &str,
        account: &AccountId,
        table: &TableName,
        columns: &[String],
    ) -> Result<Vec<Decision>> {
        let prepared = self.prepare_columns(p, account, table, columns)?;
        let action = action_uid(action)?;
        prepared
            .uids
            .iter()
            .map(|u| {
                let req = Request::new(
                    p.uid.clone(),
                    action.clone(),
                    u.clone(),
                    Context::empty(),
                    None,
                )
                .map_err(|e| Error::internal(format!("cannot build request: {e}")))?;
                let resp = self
                    .cedar
                    .is_authorized(&req, &prepared.slice, &prepared.entities);
                Ok(decision_of(&resp))
            })
            .collect()
    }

    /// The slice, entities and column uids [`Authorizer::decide_columns`]
    /// evaluates against (exposed so benchmarks can time raw Cedar on
    /// exactly the same inputs).
    pub fn prepare_columns(
        &self,
        p: &PrincipalCtx,
        account: &AccountId,
        table: &TableName,
        columns: &[String],
    ) -> Result<PreparedColumns> {
        let t = types()?;
        let base = resource_ctx(self.cat, &Target::Table(account.clone(), table.clone()))?;
        let ttags = tags::table_tags(self.cat, account, table);
        let ancestors: Vec<EntityUid> = base.entities.iter().map(|e| e.uid()).collect();
        let mut keys = base.keys.clone();
        let mut entities: Vec<Entity> = p.entities.clone();
        entities.extend(base.entities.iter().cloned());
        let mut uids = Vec::with_capacity(columns.len());
        for c in columns {
            let id = compile::column_id(account, table, c);
            keys.push(compile::uid_text("Column", &id));
            let u = uid(&t.column, &id);
            let ctags = tags::column_tags(self.cat, account, table, &ttags, c);
            entities.push(entity(u.clone(), &ancestors, &ctags)?);
            uids.push(u);
        }
        p.add_home(&mut keys);
        let slice = self.compiled.slice(&p.keys, &keys)?;
        let entities = Entities::from_entities(entities, None)
            .map_err(|e| Error::internal(format!("cannot assemble entities: {e}")))?;
        Ok(PreparedColumns {
            slice,
            entities,
            uids,
            principal: p.uid.clone(),
        })
    }

    /// The policy slice a decision would use, for benchmarks and explain.
    pub fn slice_for(&self, p: &PrincipalCtx, target: &Target) -> Result<PolicySet> {
        let mut r = resource_ctx(self.cat, target)?;
        p.add_home(&mut r.keys);
        self.compiled.slice(&p.keys, &r.keys)
    }

    fn run(
        &self,
        p: &PrincipalCtx,
        action: &str,
        r: &ResourceCtx,
        slice: &PolicySet,
    ) -> Result<Decision> {
        let entities = Entities::from_entities(
            p.entities.iter().cloned().chain(r.entities.iter().cloned()),
            None,
        )
        .map_err(|e| Error::internal(format!("cannot assemble entities: {e}")))?;
        let req = Request::new(
            p.uid.clone(),
            action_uid(action)?,
            r.uid.clone(),
            Context::empty(),
            None,
        )
        .map_err(|e| Error::internal(format!("cannot build request: {e}")))?;
        let resp = self.cedar.is_authorized(&req, slice, &entities);
        let errors: Vec<String> = resp.diagnostics().errors().map(|e| e.to_string()).collect();
        let reasons: Vec<String> = resp
            .diagnostics()
            .reason()
            .map(|id| id.to_string())
            .collect();
        let allowed = errors.is_empty() && resp.decision() == cedar_policy::Decision::Allow;
        Ok(Decision {
            allowed,
            reasons,
            errors,
        })
    }

    /// The `forbid` policies that cover `action` on `target` for the caller,
    /// regardless of permits; empty if none. An evaluation error counts as
    /// forbidding (its message is returned in place of a policy id).
    pub fn forbidding(
        &self,
        p: &PrincipalCtx,
        action: &str,
        target: &Target,
    ) -> Result<Vec<String>> {
        let mut r = resource_ctx(self.cat, target)?;
        p.add_home(&mut r.keys);
        let slice = self.compiled.slice(&p.keys, &r.keys)?;
        let mut probe = PolicySet::new();
        for pol in slice.policies() {
            if pol.effect() == Effect::Forbid {
                probe
                    .add(pol.clone())
                    .map_err(|e| Error::internal(format!("forbid probe: {e}")))?;
            }
        }
        if probe.is_empty() {
            return Ok(Vec::new());
        }
        let permit = Policy::parse(
            Some(PolicyId::new("lakegate:probe")),
            "permit (principal, action, resource);",
        )
        .map_err(|e| Error::internal(format!("probe policy: {e}")))?;
        probe
            .add(permit)
            .map_err(|e| Error::internal(format!("forbid probe: {e}")))?;
        let d = self.run(p, action, &r, &probe)?;
        if d.allowed {
            return Ok(Vec::new());
        }
        let mut out = d.reasons;
        out.extend(
            d.errors
                .into_iter()
                .map(|e| format!("evaluation error: {e}")),
        );
        Ok(out)
    }
}
