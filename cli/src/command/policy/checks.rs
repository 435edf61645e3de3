//! `policy test DIR`: the checks in `DIR/tests/*.yaml`, explained on the
//! state the repository would lead to (nothing is applied), and coverage.
//!
//! Each YAML file holds `tests:`, a list of checks. A check has `name`,
//! `principal`, optional `groups` and `attrs`, `sql` (or `table: DB.TABLE`
//! for `SELECT * FROM DB.TABLE`), and then either `error: TEXT` (a part of
//! the expected error) or any of:
//! - `visible_columns`: a list, or `{DB.TABLE: [..]}` per table;
//! - `rows`: the row predicate the principal gets (`all` for every row),
//!   as `policy plan` prints it;
//! - `masks`: `{COLUMN: KIND}`, exactly the masked columns.
//!
//! `rows` and `masks` need a query that reads one table.

use std::collections::BTreeMap;
use std::path::Path;

use grpc_proxy::proto::{ExplainRequest, ExplainResponse, RowsExplanation, check_outcome::Outcome};

use crate::exit::CliError;

/// One check.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub name: String,
    principal: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    attrs: BTreeMap<String, String>,
    #[serde(default)]
    sql: Option<String>,
    #[serde(default)]
    table: Option<String>,
    #[serde(default)]
    visible_columns: Option<serde_yaml::Value>,
    #[serde(default)]
    rows: Option<String>,
    #[serde(default)]
    masks: Option<BTreeMap<String, String>>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    tests: Vec<Check>,
}

fn io(path: &Path, e: std::io::Error) -> CliError {
    CliError::error(format!("cannot read `{}`: {e}", path.display()))
}

/// The checks of `DIR/tests/*.yaml`, with their file names.
pub fn read(dir: &Path) -> Result<Vec<(String, Check)>, CliError> {
    let tdir = dir.join("tests");
    if !tdir.is_dir() {
        return Ok(vec![]);
    }
    let mut names = std::fs::read_dir(&tdir)
        .map_err(|e| io(&tdir, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io(&tdir, e))?
        .into_iter()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect::<Vec<_>>();
    names.sort();
    let mut out = Vec::new();
    for p in names {
        let text = std::fs::read_to_string(&p).map_err(|e| io(&p, e))?;
        let f: TestFile = serde_yaml::from_str(&text).map_err(|e| {
            CliError::error(format!(
                "{}:{}: not a test file: {e}; see `lakegate policy test --help`",
                p.display(),
                e.location().map_or(1, |l| l.line())
            ))
        })?;
        for c in f.tests {
            out.push((p.display().to_string(), c));
        }
    }
    Ok(out)
}

/// The explain request a check makes, or why it is malformed.
pub fn request(t: &Check) -> Result<ExplainRequest, String> {
    let sql = match (&t.sql, &t.table) {
        (Some(s), None) => s.clone(),
        (None, Some(tb)) => format!("SELECT * FROM {tb}"),
        _ => return Err("give exactly one of `sql` and `table`".into()),
    };
    let expects = t.visible_columns.is_some() || t.rows.is_some() || t.masks.is_some();
    if expects == t.error.is_some() {
        return Err(
            "give `error`, or any of `visible_columns`, `rows` and `masks`, but not both".into(),
        );
    }
    let account = t.principal.split(':').next().unwrap_or_default();
    let groups = t
        .groups
        .iter()
        .map(|g| {
            if g.contains(':') {
                g.clone()
            } else {
                format!("{account}:group/{g}")
            }
        })
        .collect();
    Ok(ExplainRequest {
        principal: t.principal.clone(),
        groups,
        attrs: t.attrs.clone(),
        sql,
    })
}

/// Expected visible columns per table.
fn expected(v: &serde_yaml::Value) -> Result<BTreeMap<Option<String>, Vec<String>>, String> {
    let list = |v: &serde_yaml::Value| -> Result<Vec<String>, String> {
        serde_yaml::from_value::<Vec<String>>(v.clone())
            .map(|l| l.into_iter().map(|c| c.to_ascii_lowercase()).collect())
            .map_err(|e| format!("visible_columns: {e}"))
    };
    match v {
        serde_yaml::Value::Sequence(_) => Ok(BTreeMap::from([(None, list(v)?)])),
        serde_yaml::Value::Mapping(m) => m
            .iter()
            .map(|(k, v)| {
                let k = k
                    .as_str()
                    .ok_or("visible_columns keys are DB.TABLE names")?
                    .to_ascii_lowercase();
                Ok((Some(k), list(v)?))
            })
            .collect(),
        _ => Err("visible_columns is a list, or a map of DB.TABLE to lists".into()),
    }
}

fn rows_text(r: Option<&RowsExplanation>) -> String {
    match r {
        None => "all".into(),
        Some(r) if r.all => "all".into(),
        Some(r) if r.any_of.is_empty() => "false".into(),
        Some(r) if r.any_of.len() == 1 => r.any_of.concat(),
        Some(r) => r
            .any_of
            .iter()
            .map(|e| format!("({e})"))
            .collect::<Vec<_>>()
            .join(" OR "),
    }
}

/// Judges one check's outcome.
pub fn judge(t: &Check, got: Option<Outcome>) -> Result<(), String> {
    let r: ExplainResponse = match (&t.error, got) {
        (_, None) => return Err("the server returned no outcome".into()),
        (Some(e), Some(Outcome::Error(m))) if m.contains(e.as_str()) => return Ok(()),
        (Some(e), Some(Outcome::Error(m))) => {
            return Err(format!("expected an error containing {e:?}, got {m:?}"));
        }
        (Some(e), Some(Outcome::Explained(_))) => {
            return Err(format!(
                "expected an error containing {e:?}, but the query is allowed"
            ));
        }
        (None, Some(Outcome::Error(m))) => return Err(format!("expected success, got: {m}")),
        (None, Some(Outcome::Explained(r))) => r,
    };
    let one = || match r.tables.as_slice() {
        [t] => Ok(t),
        ts => Err(format!(
            "the query reads {} tables; give visible_columns per table, and rows or masks only \
             for a query that reads one",
            ts.len()
        )),
    };
    if let Some(v) = &t.visible_columns {
        for (table, cols) in &expected(v)? {
            let found = match table {
                None => one()?,
                Some(name) => r
                    .tables
                    .iter()
                    .find(|x| &x.table == name)
                    .ok_or_else(|| format!("the query does not read {name}"))?,
            };
            let got: Vec<String> = found.columns.iter().map(|c| c.name.clone()).collect();
            if &got != cols {
                return Err(format!(
                    "{}: expected columns [{}], got [{}]",
                    found.table,
                    cols.join(", "),
                    got.join(", ")
                ));
            }
        }
    }
    if let Some(want) = &t.rows {
        let found = one()?;
        let got = rows_text(found.rows.as_ref());
        if got.trim() != want.trim() {
            return Err(format!(
                "{}: expected rows {want:?}, got {got:?}",
                found.table
            ));
        }
    }
    if let Some(want) = &t.masks {
        let found = one()?;
        let got: BTreeMap<String, String> = found
            .columns
            .iter()
            .filter_map(|c| c.mask.clone().map(|m| (c.name.clone(), m)))
            .collect();
        let want: BTreeMap<String, String> = want
            .iter()
            .map(|(c, m)| {
                let kind = match (m.get(..5), m.get(5..)) {
                    (Some(head), Some(sql)) if head.eq_ignore_ascii_case("expr:") => {
                        format!("expr:{sql}")
                    }
                    _ => m.to_ascii_lowercase(),
                };
                (c.to_ascii_lowercase(), kind)
            })
            .collect();
        if got != want {
            return Err(format!(
                "{}: expected masks {want:?}, got {got:?}",
                found.table
            ));
        }
    }
    Ok(())
}
