//! Policy-as-code (DESIGN §3 rule 7): an account's own Cedar policies, kept as
//! `*.cedar` files in a repository, validated strictly against the generated
//! schema and applied as one bundle.
//!
//! We reject a bundle with one bad policy whole, because applying the rest
//! would silently drop a `forbid` the author meant to have; the error names
//! the file and line.

use cedar_policy::{PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;

use crate::catalog::Change;
use crate::compile;
use crate::error::{Error, Result};
use crate::governance::Governance;
use crate::model::{Caller, MAX_TEXT_LEN, PolicyFile};

/// Largest bundle we accept, in bytes.
pub const MAX_BUNDLE_BYTES: usize = 4 * 1024 * 1024;
/// Most files in a bundle.
pub const MAX_FILES: usize = 1000;

/// The generated schema, parsed.
pub fn schema() -> Result<Schema> {
    let (schema, _warnings) = Schema::from_cedarschema_str(&compile::schema_text())
        .map_err(|e| Error::internal(format!("generated Cedar schema does not parse: {e}")))?;
    Ok(schema)
}

pub(crate) fn line_of(src: &str, offset: usize) -> usize {
    src.get(..offset.min(src.len()))
        .map(|s| s.matches('\n').count() + 1)
        .unwrap_or(1)
}

pub(crate) fn first_line(d: &dyn Diagnostic, src: &str) -> Option<usize> {
    d.labels()
        .and_then(|mut l| l.next())
        .map(|l| line_of(src, l.offset()))
}

/// Parses and strictly validates every file; the first problem found is an
/// error naming its file and line.
pub fn validate_bundle(files: &[PolicyFile]) -> Result<usize> {
    if files.len() > MAX_FILES {
        return Err(Error::invalid(format!(
            "a policy bundle may have at most {MAX_FILES} files"
        )));
    }
    let total: usize = files.iter().map(|f| f.source.len()).sum();
    if total > MAX_BUNDLE_BYTES {
        return Err(Error::invalid(format!(
            "the policy bundle is {total} bytes; at most {MAX_BUNDLE_BYTES} are accepted"
        )));
    }
    let schema = schema()?;
    let validator = Validator::new(schema);
    let mut count = 0;
    for f in files {
        if f.path.is_empty() || f.path.len() > MAX_TEXT_LEN || !f.path.ends_with(".cedar") {
            return Err(Error::invalid(format!(
                "policy file names must end in `.cedar`; got `{}`",
                crate::model::clip(&f.path)
            )));
        }
        let set: PolicySet = f.source.parse().map_err(|e: cedar_policy::ParseErrors| {
            let line = first_line(&e, &f.source).unwrap_or(1);
            Error::invalid(format!(
                "{}:{line}: does not parse: {e}; fix it and run `lakegate policy validate` again \
                 (nothing was applied)",
                f.path
            ))
        })?;
        let result = validator.validate(&set, ValidationMode::Strict);
        if let Some(err) = result.validation_errors().next() {
            let line = first_line(err, &f.source).unwrap_or(1);
            return Err(Error::invalid(format!(
                "{}:{line}: does not validate against the lakegate schema: {err}; fix it \
                 (nothing was applied)",
                f.path
            )));
        }
        count += set.policies().count();
    }
    Ok(count)
}

impl Governance {
    /// `policy apply DIR`: makes `files` the caller's account policy set
    /// (data lake admins only). Returns the number of policies.
    pub fn apply_policies(&self, caller: &Caller, files: &[PolicyFile]) -> Result<usize> {
        // Authorize before validating (DESIGN §4): a non-admin is refused
        // before its bundle is looked at.
        let snap = self.snapshot()?;
        if !self.is_admin(&snap, caller) {
            return Err(Error::denied(format!(
                "only a data lake admin of `{}` may apply policies; ask one",
                caller.account()
            )));
        }
        let n = validate_bundle(files)?;
        self.mutate(|snap| {
            if !self.is_admin(snap, caller) {
                return Err(Error::denied(format!(
                    "only a data lake admin of `{}` may apply policies; ask one",
                    caller.account()
                )));
            }
            Ok((
                vec![Change::SetPolicies {
                    account: caller.account().clone(),
                    files: files.to_vec(),
                }],
                n,
            ))
        })
    }

    /// The caller's account policy files (admins only).
    pub fn list_policies(&self, caller: &Caller) -> Result<Vec<PolicyFile>> {
        let snap = self.snapshot()?;
        if !self.is_admin(&snap, caller) {
            return Err(Error::denied(
                "only a data lake admin may read the account's policies",
            ));
        }
        Ok(snap
            .catalog
            .policies
            .get(caller.account())
            .cloned()
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "test code: a panic is a failed test"
    )]
    use super::*;

    fn file(path: &str, src: &str) -> PolicyFile {
        PolicyFile {
            path: path.into(),
            source: src.into(),
        }
    }

    #[test]
    fn the_design_example_validates() {
        let src = r#"
forbid (principal, action == Lakegate::Action::"SELECT", resource is Lakegate::Column)
when { resource.hasTag("classification") && resource.getTag("classification") == "pii" }
unless { principal in Lakegate::Group::"111111111111:group/privacy" };
"#;
        assert_eq!(validate_bundle(&[file("pii.cedar", src)]).unwrap(), 1);
    }

    #[test]
    fn a_bad_policy_names_file_and_line() {
        let good = file("a.cedar", "forbid (principal, action, resource);");
        let bad = file(
            "b.cedar",
            "// ok\nforbid (principal, action == Lakegate::Action::\"SELECT\", resource is Lakegate::Nope);",
        );
        let err = validate_bundle(&[good.clone(), bad])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("b.cedar:2:"), "{err}");
        let syntax = file("c.cedar", "permit (principal,\n action resource);");
        let err = validate_bundle(&[good, syntax]).unwrap_err().to_string();
        assert!(err.starts_with("c.cedar:2:"), "{err}");
        assert!(err.contains("does not parse"), "{err}");
    }

    #[test]
    fn generated_grant_policies_validate_strictly() {
        // Every generated policy shape must type-check against the schema.
        use crate::model::*;
        use std::collections::{BTreeMap, BTreeSet};
        let acct = AccountId::parse("111111111111").unwrap();
        let t = TableName::parse("sales.orders").unwrap();
        let resources = vec![
            Resource::Catalog,
            Resource::Database {
                database: "sales".into(),
            },
            Resource::Table { table: t.clone() },
            Resource::TableWithColumns {
                table: t.clone(),
                columns: ColumnSelection::Include(BTreeSet::from(["id".to_string()])),
            },
            Resource::TableWithColumns {
                table: t.clone(),
                columns: ColumnSelection::Exclude(BTreeSet::from(["id".to_string()])),
            },
            Resource::DataFilter {
                table: t.clone(),
                filter: "eu".into(),
            },
            Resource::DataLocation {
                uri: LocationUri::parse("file:///d/").unwrap(),
            },
            Resource::ResourceLink {
                link: TableName::parse("sales.orders_link").unwrap(),
            },
            Resource::LfTag {
                key: "k".into(),
                values: BTreeSet::from(["v".to_string()]),
            },
            Resource::LfTagPolicy {
                resource_type: TagResourceType::Table,
                expression: BTreeMap::from([("k".to_string(), BTreeSet::from(["v".to_string()]))]),
            },
            Resource::LfTagPolicy {
                resource_type: TagResourceType::Database,
                expression: BTreeMap::from([("k".to_string(), BTreeSet::from(["v".to_string()]))]),
            },
        ];
        let schema = schema().unwrap();
        let validator = Validator::new(schema);
        for r in resources {
            let perms: BTreeSet<Permission> = r.valid_permissions().iter().copied().collect();
            let g = Grant {
                id: "g1".into(),
                account: acct.clone(),
                principal: Principal::parse("111111111111:group/x").unwrap(),
                resource: r.clone(),
                permissions: perms.clone(),
                grantable: perms,
                masks: BTreeMap::new(),
                origin: GrantOrigin::Creator,
            };
            let mut set = PolicySet::new();
            for p in compile::compile_grant(&g).unwrap() {
                set.add(p.policy).unwrap();
            }
            let res = validator.validate(&set, ValidationMode::Strict);
            let errs: Vec<String> = res.validation_errors().map(|e| e.to_string()).collect();
            assert!(errs.is_empty(), "{r:?}: {errs:?}");
        }
    }
}
