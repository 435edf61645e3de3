//! Invariants (`invariants/*.yaml`): properties every plan and every apply
//! must keep. Each is checked on the state a plan leads to, for every known
//! subject (the repository's principals and groups and every grantee), by
//! the same effective-access decision queries get.
//!
//! ```yaml
//! invariants:
//!   - name: only privacy reads pii
//!     no_read: {columns_tagged: classification=pii, except_groups: [privacy]}
//!   - name: hr rows are always filtered
//!     row_filter_required: {table: hr.employees, except_groups: [hr_admins]}
//!   - name: analysts see pii masked
//!     masked_or_hidden: {columns_tagged: classification=pii, groups: [analysts]}
//! ```
//!
//! The method is enumeration over known subjects, and each result says so:
//! a principal the repository and the catalog never name (a user whose
//! token carries some other group) is not covered unless it is declared in
//! `lakegate.toml`.

use serde::{Deserialize, Serialize};

use super::access_diff::{Subject, access_of};
use super::files::{Located, item_lines, locate, yaml_error};
use crate::access::TableAccess;
use crate::catalog::Catalog;
use crate::compile::Compiled;
use crate::error::{Error, Result};
use crate::model::{AccountId, Principal, TableName, clip};
use crate::tags;

/// Which columns an invariant is about.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    /// `KEY=VALUE` or `KEY` (any value): columns whose effective tags match.
    #[serde(default)]
    pub columns_tagged: Option<String>,
    /// `DB.TABLE`: this table's columns (all, or `columns`).
    #[serde(default)]
    pub table: Option<String>,
    /// Columns of `table`.
    #[serde(default)]
    pub columns: Vec<String>,
}

/// No subject outside the exceptions sees the columns (in the clear, with
/// `allow_masked`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoRead {
    /// The columns.
    #[serde(flatten)]
    pub columns: Columns,
    /// Groups whose members may read them (bare names or `ACCOUNT:group/NAME`).
    #[serde(default)]
    pub except_groups: Vec<String>,
    /// Principals who may read them.
    #[serde(default)]
    pub except_principals: Vec<String>,
    /// A masked column does not count as read.
    #[serde(default)]
    pub allow_masked: bool,
}

/// Nobody outside the exceptions reads the table without a row filter.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowFilterRequired {
    /// `DB.TABLE`.
    pub table: String,
    /// Groups exempt.
    #[serde(default)]
    pub except_groups: Vec<String>,
    /// Principals exempt.
    #[serde(default)]
    pub except_principals: Vec<String>,
}

/// For members of the groups, the columns are masked or hidden.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskedOrHidden {
    /// The columns.
    #[serde(flatten)]
    pub columns: Columns,
    /// The groups.
    pub groups: Vec<String>,
}

/// One invariant: a name and exactly one property.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invariant {
    /// Shown in results.
    pub name: String,
    /// See [`NoRead`].
    #[serde(default)]
    pub no_read: Option<NoRead>,
    /// See [`RowFilterRequired`].
    #[serde(default)]
    pub row_filter_required: Option<RowFilterRequired>,
    /// See [`MaskedOrHidden`].
    #[serde(default)]
    pub masked_or_hidden: Option<MaskedOrHidden>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvariantsFile {
    #[serde(default)]
    invariants: Vec<Invariant>,
}

/// One way an invariant fails.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The principal, or the group (analysed as a member of it).
    pub principal: String,
    /// `DB.TABLE`.
    pub table: String,
    /// The column, if the violation is about one.
    pub column: Option<String>,
    /// What is wrong.
    pub detail: String,
}

/// An invariant's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvariantResult {
    /// Its name.
    pub name: String,
    /// Whether it holds.
    pub ok: bool,
    /// How it was checked.
    pub method: String,
    /// Where it fails.
    pub violations: Vec<Violation>,
}

/// Parses one `invariants/*.yaml` file.
pub(super) fn parse_file(path: &str, text: &str) -> Result<Vec<Located<Invariant>>> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let f: InvariantsFile = serde_yaml::from_str(text).map_err(|e| yaml_error(path, &e))?;
    let out = locate(path, &item_lines(text), "invariants", f.invariants);
    for i in &out {
        let n = [
            i.item.no_read.is_some(),
            i.item.row_filter_required.is_some(),
            i.item.masked_or_hidden.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if n != 1 {
            return Err(Error::invalid(format!(
                "{}: invariant `{}` needs exactly one of `no_read`, `row_filter_required` and \
                 `masked_or_hidden`",
                i.at(),
                clip(&i.item.name)
            )));
        }
    }
    Ok(out)
}

/// What an invariant is evaluated over.
pub(super) struct World<'a> {
    pub cat: &'a Catalog,
    pub compiled: &'a Compiled,
    pub account: &'a AccountId,
    pub subjects: &'a [Subject],
    pub tables: &'a std::collections::BTreeSet<TableName>,
}

fn group(account: &AccountId, g: &str, at: &str) -> Result<Principal> {
    let full = crate::model::group_id(account, g);
    let p = Principal::parse(&full).map_err(|e| Error::invalid(format!("{at}: {e}")))?;
    if !p.is_group() {
        return Err(Error::invalid(format!(
            "{at}: `{}` is not a group",
            clip(g)
        )));
    }
    Ok(p)
}

fn principals(list: &[String], at: &str) -> Result<Vec<Principal>> {
    list.iter()
        .map(|p| Principal::parse(p).map_err(|e| Error::invalid(format!("{at}: {e}"))))
        .collect()
}

/// A column selector, checked against the catalog.
struct Selector {
    tag: Option<(String, Option<String>)>,
    table: Option<(TableName, Vec<String>)>,
}

impl Selector {
    fn new(c: &Columns, w: &World<'_>, at: &str) -> Result<Self> {
        let bad = |m: String| Error::invalid(format!("{at}: {m}"));
        match (&c.columns_tagged, &c.table) {
            (Some(t), None) if c.columns.is_empty() => {
                let (k, v) = match t.split_once('=') {
                    Some((k, v)) => (
                        k.trim().to_ascii_lowercase(),
                        Some(v.trim().to_ascii_lowercase()),
                    ),
                    None => (t.trim().to_ascii_lowercase(), None),
                };
                let Some(known) = w.cat.tags.get(&(w.account.clone(), k.clone())) else {
                    return Err(bad(format!(
                        "LF-tag `{}` does not exist; the invariant cannot be evaluated",
                        clip(&k)
                    )));
                };
                if let Some(v) = &v
                    && !known.values.contains(v)
                {
                    return Err(bad(format!(
                        "LF-tag `{k}` has no value `{}`; the invariant cannot be evaluated",
                        clip(v)
                    )));
                }
                Ok(Self {
                    tag: Some((k, v)),
                    table: None,
                })
            }
            (None, Some(t)) => {
                let name = TableName::parse(t).map_err(|e| bad(e.to_string()))?;
                let Some(table) = w.cat.table(w.account, &name) else {
                    return Err(bad(format!(
                        "table `{name}` does not exist; the invariant cannot be evaluated"
                    )));
                };
                let cols = c
                    .columns
                    .iter()
                    .map(|c| c.to_ascii_lowercase())
                    .collect::<Vec<_>>();
                for col in &cols {
                    if table.column(col).is_none() {
                        return Err(bad(format!(
                            "table `{name}` has no column `{}`; the invariant cannot be evaluated",
                            clip(col)
                        )));
                    }
                }
                Ok(Self {
                    tag: None,
                    table: Some((name, cols)),
                })
            }
            _ => Err(bad(
                "name the columns with `columns_tagged: KEY=VALUE`, or `table: DB.TABLE` with \
                 optional `columns`"
                    .into(),
            )),
        }
    }

    fn matches(&self, cat: &Catalog, t: &TableAccess, column: &str) -> bool {
        if let Some((name, cols)) = &self.table {
            return &t.table == name && (cols.is_empty() || cols.iter().any(|c| c == column));
        }
        let Some((k, v)) = &self.tag else {
            return false;
        };
        let tt = tags::table_tags(cat, &t.account, &t.table);
        let ct = tags::column_tags(cat, &t.account, &t.table, &tt, column);
        match (ct.get(k), v) {
            (Some(have), Some(want)) => have == want,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// A policy's structure (Cedar's JSON form, without annotations): two
/// policies with the same structure mean the same, whatever their layout;
/// string literals are compared exactly.
fn structure(p: &cedar_policy::Policy) -> Option<serde_json::Value> {
    let mut v = p.to_json().ok()?;
    if let Some(o) = v.as_object_mut() {
        o.remove("annotations");
    }
    Some(v)
}

/// The structure of the one policy in `text`.
fn canonical(text: &str) -> Option<serde_json::Value> {
    let set: cedar_policy::PolicySet = text.parse().ok()?;
    let p = set.policies().next()?;
    structure(p)
}

/// A proof that `no_read` holds for every principal, not just the known
/// ones: a `forbid` in the account's policy set that hides every column
/// whose effective tag is `K=V` from everyone outside one of the excepted
/// groups (or from everyone). A forbid overrides every permit, and
/// lakegate treats an evaluation error as a deny, so no grant undoes it.
fn proof(r: &NoRead, w: &World<'_>) -> Option<String> {
    let (k, v) = r.columns.columns_tagged.as_ref()?.split_once('=')?;
    let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let head =
        "forbid (principal, action == Lakegate::Action::\"SELECT\", resource is Lakegate::Column)";
    let tests = [
        format!(
            "resource.hasTag({k}) && resource.getTag({k}) == {v}",
            k = quote(&k),
            v = quote(&v)
        ),
        format!(
            "resource.getTag({k}) == {v} && resource.hasTag({k})",
            k = quote(&k),
            v = quote(&v)
        ),
    ];
    let mut wanted = Vec::new();
    for t in &tests {
        wanted.push((canonical(&format!("{head} when {{ {t} }};"))?, None));
        for g in &r.except_groups {
            let g = group(w.account, g, "").ok()?.to_string();
            let text = format!(
                "{head} when {{ {t} }} unless {{ principal in Lakegate::Group::{} }};",
                quote(&g)
            );
            wanted.push((canonical(&text)?, Some(g)));
        }
    }
    for f in w.cat.policies.get(w.account)? {
        let Ok(set) = f.source.parse::<cedar_policy::PolicySet>() else {
            continue;
        };
        for p in set.policies() {
            let Some(have) = structure(p) else { continue };
            if let Some((_, g)) = wanted.iter().find(|(c, _)| *c == have) {
                return Some(format!(
                    "a forbid in {} hides columns tagged {k}={v} from {}",
                    f.path,
                    g.as_ref().map_or_else(
                        || "everyone".to_string(),
                        |g| format!("everyone outside {g}")
                    )
                ));
            }
        }
    }
    None
}

/// Judges one subject's access to one table, pushing violations.
type Judge<'a> = dyn FnMut(&Subject, &str, &TableAccess, &mut Vec<Violation>) + 'a;

/// Checks one invariant.
pub(super) fn check(inv: &Located<Invariant>, w: &World<'_>) -> Result<InvariantResult> {
    let at = inv.at();
    let i = &inv.item;
    let mut violations = Vec::new();
    let mut checked = 0usize;
    let mut each = |who: &dyn Fn(&Subject) -> bool, f: &mut Judge<'_>| -> Result<()> {
        for s in w.subjects.iter().filter(|s| who(s)) {
            checked += 1;
            for t in w.tables {
                if let Some(a) = access_of(w.cat, w.compiled, w.account, s, t)? {
                    f(s, &t.to_string(), &a, &mut violations);
                }
            }
        }
        Ok(())
    };
    let v = |s: &Subject, table: &str, column: Option<&str>, detail: String| Violation {
        principal: s.principal.to_string(),
        table: table.to_string(),
        column: column.map(str::to_string),
        detail,
    };
    if let Some(r) = &i.no_read {
        let sel = Selector::new(&r.columns, w, &at)?;
        let groups = r
            .except_groups
            .iter()
            .map(|g| group(w.account, g, &at))
            .collect::<Result<Vec<_>>>()?;
        let people = principals(&r.except_principals, &at)?;
        let outside =
            |s: &Subject| !people.contains(&s.principal) && !groups.iter().any(|g| s.in_group(g));
        each(&outside, &mut |s, table, a, out| {
            for c in &a.columns {
                if sel.matches(w.cat, a, &c.name)
                    && (!r.allow_masked || c.mask.is_none() || c.unmasked.is_some())
                {
                    out.push(v(
                        s,
                        table,
                        Some(&c.name),
                        match &c.mask {
                            Some(m) => format!("reads `{}` (masked {m})", c.name),
                            None => format!("reads `{}` in the clear", c.name),
                        },
                    ));
                }
            }
        })?;
    } else if let Some(r) = &i.row_filter_required {
        let name = TableName::parse(&r.table).map_err(|e| Error::invalid(format!("{at}: {e}")))?;
        if !w.tables.contains(&name) {
            return Err(Error::invalid(format!(
                "{at}: table `{name}` does not exist; the invariant cannot be evaluated"
            )));
        }
        let groups = r
            .except_groups
            .iter()
            .map(|g| group(w.account, g, &at))
            .collect::<Result<Vec<_>>>()?;
        let people = principals(&r.except_principals, &at)?;
        let outside =
            |s: &Subject| !people.contains(&s.principal) && !groups.iter().any(|g| s.in_group(g));
        let target = name.to_string();
        each(&outside, &mut |s, table, a, out| {
            if table == target && a.rows == crate::access::RowPredicate::All {
                out.push(v(s, table, None, "reads every row (no row filter)".into()));
            }
        })?;
    } else if let Some(r) = &i.masked_or_hidden {
        let sel = Selector::new(&r.columns, w, &at)?;
        let groups = r
            .groups
            .iter()
            .map(|g| group(w.account, g, &at))
            .collect::<Result<Vec<_>>>()?;
        let inside = |s: &Subject| groups.iter().any(|g| s.in_group(g));
        each(&inside, &mut |s, table, a, out| {
            for c in &a.columns {
                if sel.matches(w.cat, a, &c.name) && (c.mask.is_none() || c.unmasked.is_some()) {
                    out.push(v(
                        s,
                        table,
                        Some(&c.name),
                        format!("reads `{}` unmasked", c.name),
                    ));
                }
            }
        })?;
    }
    let enumerated = format!(
        "checked {checked} known principal(s) and group(s) on {} table(s)",
        w.tables.len()
    );
    let method = match i.no_read.as_ref().and_then(|r| proof(r, w)) {
        Some(by) => format!("proved for every principal: {by}; and {enumerated}"),
        None => format!(
            "{enumerated}; principals the repository does not name are not covered (no policy \
             proves it for every principal)"
        ),
    };
    Ok(InvariantResult {
        name: i.name.clone(),
        ok: violations.is_empty(),
        method,
        violations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_does_not_change_structure_but_literals_do() {
        let a = "forbid (principal, action == Lakegate::Action::\"SELECT\", resource is Lakegate::Column) when { resource.hasTag(\"k\") && resource.getTag(\"k\") == \"v\" };";
        let b = "forbid (principal,\n  action == Lakegate::Action::\"SELECT\",\n  resource is Lakegate::Column)\nwhen { resource.hasTag(\"k\")\n && resource.getTag(\"k\") == \"v\" };";
        let c = "forbid (principal, action == Lakegate::Action::\"SELECT\", resource is Lakegate::Column) when { resource.hasTag(\"k\") && resource.getTag(\"k\") == \"v \" };";
        assert_eq!(
            canonical(a),
            canonical(b),
            "{:#?}\n{:#?}",
            canonical(a),
            canonical(b)
        );
        assert!(canonical(a).is_some());
        assert_ne!(canonical(a), canonical(c));
        let d = "forbid (principal, action == Lakegate::Action::\"SELECT\",\n        resource is Lakegate::Column)\nwhen { resource.hasTag(\"classification\") && resource.getTag(\"classification\") == \"pii\" }\nunless { principal in Lakegate::Group::\"111111111111:group/privacy\" };\n";
        let e = "forbid (principal, action == Lakegate::Action::\"SELECT\", resource is Lakegate::Column) when { resource.hasTag(\"classification\") && resource.getTag(\"classification\") == \"pii\" } unless { principal in Lakegate::Group::\"111111111111:group/privacy\" };";
        assert_eq!(
            canonical(d),
            canonical(e),
            "{:#?}\n{:#?}",
            canonical(d),
            canonical(e)
        );
    }
}
