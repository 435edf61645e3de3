//! Lint warnings for `policy validate` (DESIGN §8): what is valid but
//! probably not what the author meant. Each names `FILE:LINE`.
//!
//! - an exclude list, which silently grants columns added later;
//! - a grant of a whole table that makes a filter granted to the same
//!   principal pointless (grants are a union);
//! - a filter, or an LF-tag value, that nothing grants or mentions;
//! - a `forbid` that can never match: Cedar's own analysis (an impossible
//!   policy), a principal of another account (only the account's own
//!   principals and groups are ever decided), or an LF-tag key the
//!   repository does not declare.

use std::collections::{BTreeMap, BTreeSet};

use cedar_policy::{Effect, PolicySet, PrincipalConstraint, ValidationMode, Validator};

use super::files::Repo;
use crate::policies::{first_line, schema};

/// The warnings, as `FILE:LINE: text`, in file order.
pub fn lint(repo: &Repo) -> Vec<String> {
    let mut out = Vec::new();
    for g in &repo.grants {
        if !g.item.exclude_columns.is_empty() {
            out.push(format!(
                "{}: the grant to `{}` lists columns to exclude, so it silently grants every \
                 column added to the table later; list the granted columns instead",
                g.at(),
                g.item.principal
            ));
        }
    }
    for f in &repo.filters {
        if !f.item.exclude_columns.is_empty() {
            out.push(format!(
                "{}: filter `{}` lists columns to exclude, so it silently shows every column \
                 added to the table later; list the shown columns instead",
                f.at(),
                f.item.name
            ));
        }
    }
    // Whole-table SELECT per principal: a filter grant to the same
    // principal on that table adds nothing.
    let whole: BTreeSet<(String, String)> = repo
        .grants
        .iter()
        .filter(|g| {
            g.item.columns.is_empty()
                && g.item.exclude_columns.is_empty()
                && g.item
                    .permissions
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case("select") || p.eq_ignore_ascii_case("all"))
        })
        .filter_map(|g| {
            g.item
                .table
                .as_ref()
                .map(|t| (g.item.principal.clone(), t.to_ascii_lowercase()))
        })
        .collect();
    let mut granted_filters = BTreeSet::new();
    for g in &repo.grants {
        let Some(f) = &g.item.data_filter else {
            continue;
        };
        let f = f.to_ascii_lowercase();
        if let Some((table, _)) = f.rsplit_once('.')
            && whole.contains(&(g.item.principal.clone(), table.to_string()))
        {
            out.push(format!(
                "{}: `{}` also has SELECT on all of `{table}`, so filter `{f}` shows it \
                 nothing more; drop one of the grants",
                g.at(),
                g.item.principal
            ));
        }
        granted_filters.insert(f);
    }
    for f in &repo.filters {
        if !granted_filters.contains(&f.item.name.to_ascii_lowercase()) {
            out.push(format!(
                "{}: nothing grants filter `{}`; grant it or remove it",
                f.at(),
                f.item.name
            ));
        }
    }
    let cedar_text: String = repo.policies.iter().map(|p| p.source.as_str()).collect();
    let mut granted_values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for g in &repo.grants {
        if let Some(p) = &g.item.tag_policy {
            for (k, vs) in &p.tags {
                granted_values
                    .entry(k.to_ascii_lowercase())
                    .or_default()
                    .extend(vs.iter().map(|v| v.to_ascii_lowercase()));
            }
        }
    }
    for t in &repo.tags {
        let key = t.item.key.to_ascii_lowercase();
        for v in &t.item.values {
            let v = v.to_ascii_lowercase();
            let granted = granted_values.get(&key).is_some_and(|s| s.contains(&v));
            if !granted && !cedar_text.contains(&format!("\"{v}\"")) {
                out.push(format!(
                    "{}: no tag-expression grant and no policy uses `{key}={v}`; resources \
                     tagged with it are reachable only through named grants",
                    t.at()
                ));
            }
        }
    }
    out.extend(forbids(repo));
    out
}

fn forbids(repo: &Repo) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(schema) = schema() else {
        return out;
    };
    let validator = Validator::new(schema);
    let account = repo.account.as_ref().map(|a| a.to_string());
    let keys: BTreeSet<String> = repo
        .tags
        .iter()
        .map(|t| t.item.key.to_ascii_lowercase())
        .collect();
    for f in &repo.policies {
        let Ok(set) = f.source.parse::<PolicySet>() else {
            continue;
        };
        let result = validator.validate(&set, ValidationMode::Strict);
        for w in result.validation_warnings() {
            let line = first_line(w, &f.source).unwrap_or(1);
            out.push(format!("{}:{line}: Cedar: {w}", f.path));
        }
        for p in set.policies() {
            if p.effect() != Effect::Forbid {
                continue;
            }
            // The parser names policies `policy0`, `policy1`, … in source order.
            let i = p
                .id()
                .to_string()
                .strip_prefix("policy")
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
            let at = format!("{}:{}", f.path, policy_line(&f.source, i));
            let named = match p.principal_constraint() {
                PrincipalConstraint::Eq(u) | PrincipalConstraint::In(u) => {
                    Some(u.id().unescaped().to_string())
                }
                PrincipalConstraint::IsIn(_, u) => Some(u.id().unescaped().to_string()),
                _ => None,
            };
            if let (Some(n), Some(a)) = (named, &account)
                && let Some((acct, _)) = n.split_once(':')
                && acct != a
            {
                out.push(format!(
                    "{at}: this forbid names `{n}`, a principal of another account; it can \
                     never match, because only account `{a}`'s principals and groups are \
                     decided here"
                ));
            }
            let text = p.to_string();
            for key in tag_keys(&text) {
                if !keys.contains(&key) {
                    out.push(format!(
                        "{at}: this forbid tests LF-tag `{key}`, which the repository does not \
                         declare; the test never holds"
                    ));
                }
            }
        }
    }
    out
}

/// Keys in `hasTag("K")` and `getTag("K")`.
fn tag_keys(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for call in ["hasTag(\"", "getTag(\""] {
        for (i, _) in text.match_indices(call) {
            let rest = text.get(i + call.len()..).unwrap_or_default();
            if let Some(end) = rest.find('"') {
                out.insert(rest.get(..end).unwrap_or_default().to_ascii_lowercase());
            }
        }
    }
    out
}

/// The line where the `i`-th policy of a file starts: the `i`-th `permit`
/// or `forbid` keyword outside comments and strings.
fn policy_line(src: &str, i: usize) -> usize {
    let mut seen = 0usize;
    let mut in_str = false;
    for (n, line) in src.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while !rest.is_empty() {
            if in_str {
                match rest.find('"') {
                    Some(q) => {
                        in_str = false;
                        rest = rest.get(q + 1..).unwrap_or_default();
                    }
                    None => break,
                }
            } else {
                let q = rest.find('"').unwrap_or(rest.len());
                let head = rest.get(..q).unwrap_or_default();
                for w in head.split(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
                    if w == "permit" || w == "forbid" {
                        if seen == i {
                            return n + 1;
                        }
                        seen += 1;
                    }
                }
                if q >= rest.len() {
                    break;
                }
                in_str = true;
                rest = rest.get(q + 1..).unwrap_or_default();
            }
        }
    }
    1
}
