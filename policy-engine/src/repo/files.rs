//! Reading a repository's files into a [`Repo`]: `lakegate.toml`,
//! `grants/*.yaml`, `*.cedar` and `invariants/*.yaml` (DESIGN §8). Every
//! error names `FILE:LINE`.
//!
//! serde_yaml does not report where a deserialised item came from, so the
//! line of each list item is found by a scan of the text: a `- ` at the
//! section's first item indentation starts an item. A section written in
//! flow style (`[...]`) gets the section's own line.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::access_diff::Subject;
use super::invariants::{self, Invariant};
use super::{AssignDecl, FilterDecl, GrantDecl, GrantsFile, LinkDecl, RepoFile, TagDecl};
use crate::error::{Error, Result};
use crate::model::{AccountId, ColumnMask, Permission, Principal, clip};

/// A declaration with the place it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located<T> {
    /// Path relative to the repository root.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The declaration.
    pub item: T,
}

impl<T> Located<T> {
    /// `FILE:LINE`.
    pub fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// A parsed repository.
#[derive(Clone, Debug, Default)]
pub struct Repo {
    /// The account it governs (`lakegate.toml`'s `account`).
    pub account: Option<AccountId>,
    /// Principals and groups to analyse besides those grants name.
    pub subjects: Vec<Subject>,
    /// LF-tag keys.
    pub tags: Vec<Located<TagDecl>>,
    /// LF-tag assignments.
    pub assignments: Vec<Located<AssignDecl>>,
    /// Data cells filters.
    pub filters: Vec<Located<FilterDecl>>,
    /// Grants.
    pub grants: Vec<Located<GrantDecl>>,
    /// Resource links.
    pub links: Vec<Located<LinkDecl>>,
    /// The account's Cedar policy set, sorted by path.
    pub policies: Vec<RepoFile>,
    /// Properties every plan must keep.
    pub invariants: Vec<Located<Invariant>>,
}

/// `lakegate.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    account: String,
    #[serde(default)]
    principals: Vec<ManifestSubject>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestSubject {
    id: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    attrs: BTreeMap<String, String>,
}

/// Where a file's text sits in the repository.
enum Role {
    Manifest,
    Grants,
    Cedar,
    Invariants,
    Other,
}

fn role(path: &str) -> Role {
    let yaml = path.ends_with(".yaml") || path.ends_with(".yml");
    let top = |dir: &str| {
        path.strip_prefix(dir)
            .and_then(|r| r.strip_prefix('/'))
            .is_some_and(|r| !r.contains('/'))
    };
    if path == "lakegate.toml" {
        Role::Manifest
    } else if path.ends_with(".cedar") {
        Role::Cedar
    } else if yaml && top("grants") {
        Role::Grants
    } else if yaml && top("invariants") {
        Role::Invariants
    } else {
        Role::Other
    }
}

/// Whether `path` (relative, `/`-separated) is one of the files a
/// repository is made of: `lakegate.toml`, `*.cedar` at any depth, and YAML
/// directly in `grants/` or `invariants/`. The CLI reads exactly these.
pub fn is_repository_file(path: &str) -> bool {
    !matches!(role(path), Role::Other)
}

/// The 1-based line of each list item, per top-level section, and the line
/// of each section key.
pub(super) fn item_lines(text: &str) -> BTreeMap<String, (usize, Vec<usize>)> {
    let mut out: BTreeMap<String, (usize, Vec<usize>)> = BTreeMap::new();
    let mut section: Option<String> = None;
    let mut indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "---" {
            continue;
        }
        let ind = line.len() - trimmed.len();
        let item = trimmed == "-" || trimmed.starts_with("- ");
        if ind == 0 && !item {
            let key = trimmed.split(':').next().unwrap_or_default().trim();
            let key = key.trim_matches(['"', '\'']).to_string();
            out.insert(key.clone(), (i + 1, Vec::new()));
            section = Some(key);
            indent = None;
            continue;
        }
        let Some(s) = &section else { continue };
        if item && indent.is_none_or(|x| x == ind) {
            indent = Some(ind);
            if let Some(e) = out.get_mut(s) {
                e.1.push(i + 1);
            }
        }
    }
    out
}

/// Pairs each item with its line (the section's line if the scan and the
/// parse disagree).
pub(super) fn locate<T>(
    file: &str,
    lines: &BTreeMap<String, (usize, Vec<usize>)>,
    section: &str,
    items: Vec<T>,
) -> Vec<Located<T>> {
    let (at, found) = lines.get(section).cloned().unwrap_or((1, Vec::new()));
    let exact = found.len() == items.len();
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| Located {
            file: file.to_string(),
            line: if exact {
                found.get(i).copied().unwrap_or(at)
            } else {
                at
            },
            item,
        })
        .collect()
}

/// A YAML error as `FILE:LINE: message`.
pub(super) fn yaml_error(file: &str, e: &serde_yaml::Error) -> Error {
    let line = e.location().map_or(1, |l| l.line());
    Error::invalid(format!("{file}:{line}: {e}"))
}

fn bad(at: &str, msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("{at}: {msg}"))
}

/// Parses a repository's files (paths relative to its root). Files that
/// are not part of the format (a README, `tests/`) are ignored here.
pub fn parse(files: &[RepoFile]) -> Result<Repo> {
    let mut repo = Repo::default();
    for f in files {
        match role(&f.path) {
            Role::Manifest => manifest(&mut repo, f)?,
            Role::Grants => grants(&mut repo, f)?,
            Role::Cedar => repo.policies.push(f.clone()),
            Role::Invariants => repo
                .invariants
                .extend(invariants::parse_file(&f.path, &f.source)?),
            Role::Other => {}
        }
    }
    repo.policies.sort_by(|a, b| a.path.cmp(&b.path));
    if repo.account.is_none() {
        return Err(Error::invalid(
            "the repository has no lakegate.toml; add one with `account = \"ACCOUNT\"` (see \
             `lakegate policy export`)",
        ));
    }
    let declared = repo.tags.len()
        + repo.assignments.len()
        + repo.filters.len()
        + repo.grants.len()
        + repo.links.len();
    if declared > MAX_DECLARATIONS {
        return Err(Error::invalid(format!(
            "the repository declares {declared} objects; at most {MAX_DECLARATIONS} are \
             accepted in one plan"
        )));
    }
    if repo.subjects.len() > MAX_SUBJECTS || repo.invariants.len() > MAX_SUBJECTS {
        return Err(Error::invalid(format!(
            "lakegate.toml and invariants/ may name at most {MAX_SUBJECTS} principals and \
             {MAX_SUBJECTS} invariants"
        )));
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for g in &repo.grants {
        check_grant(g)?;
        let key = format!(
            "{} {}",
            g.item.principal.to_ascii_lowercase(),
            resource_key(&g.item)
        );
        if let Some(first) = seen.insert(key, g.at()) {
            return Err(bad(
                &g.at(),
                format!(
                    "`{}` is granted on this resource again (first at {first}); merge the two \
                     declarations into one, so that neither silently decides the masks or \
                     columns",
                    g.item.principal
                ),
            ));
        }
    }
    for f in &repo.filters {
        foreign(&f.at(), &f.item.name)?;
    }
    Ok(repo)
}

fn manifest(repo: &mut Repo, f: &RepoFile) -> Result<()> {
    let m: Manifest = toml::from_str(&f.source).map_err(|e| {
        let line = e
            .span()
            .map_or(1, |s| crate::policies::line_of(&f.source, s.start));
        bad(&format!("{}:{line}", f.path), e.message())
    })?;
    let at = format!("{}:1", f.path);
    let account = AccountId::parse(&m.account).map_err(|e| bad(&at, e))?;
    for s in m.principals {
        let principal = Principal::parse(&s.id).map_err(|e| bad(&at, e))?;
        if principal.account() != &account {
            return Err(bad(
                &at,
                format!("principal `{}` is not of account `{account}`", clip(&s.id)),
            ));
        }
        let mut groups = Vec::new();
        for g in s.groups {
            let full = crate::model::group_id(&account, &g);
            let p = Principal::parse(&full).map_err(|e| bad(&at, e))?;
            if !p.is_group() || p.account() != &account {
                return Err(bad(
                    &at,
                    format!("`{}` is not a group of account `{account}`", clip(&full)),
                ));
            }
            groups.push(p);
        }
        repo.subjects.push(Subject {
            principal,
            groups,
            attrs: s.attrs,
            placeholders: BTreeMap::new(),
        });
    }
    repo.account = Some(account);
    Ok(())
}

fn grants(repo: &mut Repo, f: &RepoFile) -> Result<()> {
    let parsed: GrantsFile = if f.source.trim().is_empty() {
        GrantsFile::default()
    } else {
        serde_yaml::from_str(&f.source).map_err(|e| yaml_error(&f.path, &e))?
    };
    let lines = item_lines(&f.source);
    repo.tags
        .extend(locate(&f.path, &lines, "tags", parsed.tags));
    repo.assignments.extend(locate(
        &f.path,
        &lines,
        "tag_assignments",
        parsed.tag_assignments,
    ));
    repo.filters
        .extend(locate(&f.path, &lines, "filters", parsed.filters));
    repo.grants
        .extend(locate(&f.path, &lines, "grants", parsed.grants));
    repo.links
        .extend(locate(&f.path, &lines, "links", parsed.links));
    Ok(())
}

/// Most objects one repository declares.
pub const MAX_DECLARATIONS: usize = 10_000;
/// Most principals `lakegate.toml` declares, and most invariants.
pub const MAX_SUBJECTS: usize = 1000;

/// The resource a grant is merged on (DESIGN §2: one grant per principal
/// and resource), spelled from the declaration.
fn resource_key(d: &GrantDecl) -> String {
    let low = |s: &String| s.to_ascii_lowercase();
    if d.catalog {
        "catalog".into()
    } else if let Some(x) = &d.database {
        format!("database:{}", low(x))
    } else if let Some(x) = &d.table {
        if d.columns.is_empty() && d.exclude_columns.is_empty() {
            format!("table:{}", low(x))
        } else {
            format!("columns:{}", low(x))
        }
    } else if let Some(x) = &d.data_filter {
        format!("filter:{}", low(x))
    } else if let Some(x) = &d.location {
        format!("location:{x}")
    } else if let Some(x) = &d.lf_tag {
        format!(
            "lftag:{}",
            low(&x.split('=').next().unwrap_or_default().trim().to_string())
        )
    } else if let Some(p) = &d.tag_policy {
        format!(
            "tagpolicy:{}:{:?}",
            p.resource_type.to_ascii_uppercase(),
            p.tags
                .iter()
                .map(|(k, v)| (
                    k.to_ascii_lowercase(),
                    v.iter()
                        .map(|x| x.to_ascii_lowercase())
                        .collect::<std::collections::BTreeSet<_>>()
                ))
                .collect::<BTreeMap<_, _>>()
        )
    } else {
        String::new()
    }
}

/// Refuses another account's table: re-grants of what another account
/// shares stay with the CLI for now (the repository never removes them).
fn foreign(at: &str, name: &str) -> Result<()> {
    if name.contains(':') {
        return Err(bad(
            at,
            format!(
                "`{}` names another account's table; a repository manages its own account's \
                 objects only. Re-grant what another account shares with `lakegate grant` \
                 (plans leave such grants as they are)",
                clip(name)
            ),
        ));
    }
    Ok(())
}

/// What needs no catalog: the principal's form, permissions, masks, and
/// exactly one resource.
fn check_grant(g: &Located<GrantDecl>) -> Result<()> {
    let at = g.at();
    let d = &g.item;
    Principal::parse(&d.principal).map_err(|e| bad(&at, e))?;
    for name in d.table.iter().chain(&d.data_filter) {
        foreign(&at, name)?;
    }
    if d.permissions.is_empty() {
        return Err(bad(&at, "a grant needs `permissions`, e.g. `[SELECT]`"));
    }
    for perm in d.permissions.iter().chain(&d.grantable) {
        Permission::parse(perm).map_err(|e| bad(&at, e))?;
    }
    for kind in d.masks.values() {
        ColumnMask::parse(kind).map_err(|e| bad(&at, e))?;
    }
    let set = [
        d.catalog,
        d.database.is_some(),
        d.table.is_some(),
        d.data_filter.is_some(),
        d.location.is_some(),
        d.lf_tag.is_some(),
        d.tag_policy.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if set != 1 {
        return Err(bad(
            &at,
            "a grant names exactly one resource: `catalog: true`, `database`, `table`, \
             `data_filter`, `location`, `lf_tag` or `tag_policy`",
        ));
    }
    if d.table.is_none() && !(d.columns.is_empty() && d.exclude_columns.is_empty()) {
        return Err(bad(&at, "`columns` and `exclude_columns` go with `table`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_located_by_line() {
        let text = "# c\ngrants:\n  - principal: a\n    permissions: [SELECT]\n\n  - principal: b\nfilters:\n- name: x\n";
        let l = item_lines(text);
        assert_eq!(l.get("grants"), Some(&(2, vec![3, 6])));
        assert_eq!(l.get("filters"), Some(&(7, vec![8])));
    }

    #[test]
    fn a_grant_with_two_resources_names_its_line() {
        let files = vec![
            RepoFile {
                path: "lakegate.toml".into(),
                source: "account = \"111111111111\"\n".into(),
            },
            RepoFile {
                path: "grants/a.yaml".into(),
                source: "grants:\n  - principal: 111111111111:user/a\n    permissions: [SELECT]\n    database: d\n    table: d.t\n".into(),
            },
        ];
        let e = parse(&files)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("grants/a.yaml:2: "), "{e}");
    }

    #[test]
    fn unknown_fields_name_file_and_line() {
        let files = vec![
            RepoFile {
                path: "lakegate.toml".into(),
                source: "account = \"111111111111\"\n".into(),
            },
            RepoFile {
                path: "grants/a.yaml".into(),
                source: "grants:\n  - principal: 111111111111:user/a\n    permisions: [SELECT]\n"
                    .into(),
            },
        ];
        let e = parse(&files)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("grants/a.yaml:"), "{e}");
        assert!(e.contains("permisions"), "{e}");
    }
}
