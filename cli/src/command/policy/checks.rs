//! `policy test DIR`: the checks in `DIR/tests/*.yaml`, explained on the
//! state the repository would lead to (nothing is applied), and coverage.
//!
//! Each YAML file holds `tests:`, a list of checks. A check has `name`,
//! `principal`, optional `groups` and `attrs`, `sql` (or `table: DB.TABLE`
//! for `SELECT * FROM DB.TABLE`), and then either `error: TEXT` (a part of
//! the expected error) or any of:
//! - `visible_columns`: a list, or `{DB.TABLE: [..]}` per table;
//! - `row_filter`: the row predicate the principal gets (`all` for every
//!   row), as `policy plan` prints it;
//! - `masks`: `{COLUMN: KIND}`, exactly the masked columns;
//! - `rows`: the rows the query returns, in order, as lists of values: the
//!   query runs as the principal on the planned state (the server's
//!   embedded engine; at most 1000 rows).
//!
//! `row_filter` and `masks` need a query that reads one table.

use std::collections::BTreeMap;
use std::path::Path;

use grpc_proxy::proto::{
    CheckOutcome, ExplainRequest, ExplainResponse, RowsExplanation, TestCheck,
    check_outcome::Outcome,
};

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
    row_filter: Option<String>,
    #[serde(default)]
    masks: Option<BTreeMap<String, String>>,
    #[serde(default)]
    rows: Option<Vec<Vec<serde_yaml::Value>>>,
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
            let msg = e.to_string();
            // `rows:` used to hold the row predicate; it is `row_filter:` now.
            let hint = if msg.contains("rows") && msg.contains("invalid type: string") {
                " (`rows` lists the rows a query returns; the row predicate is `row_filter`)"
            } else {
                ""
            };
            CliError::error(format!(
                "{}:{}: not a test file: {msg}{hint}; see `lakegate policy test --help`",
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

/// The request a check makes, or why it is malformed.
pub fn request(t: &Check) -> Result<TestCheck, String> {
    let sql = match (&t.sql, &t.table) {
        (Some(s), None) => s.clone(),
        (None, Some(tb)) => format!("SELECT * FROM {tb}"),
        _ => return Err("give exactly one of `sql` and `table`".into()),
    };
    let expects = t.visible_columns.is_some()
        || t.row_filter.is_some()
        || t.masks.is_some()
        || t.rows.is_some();
    if expects == t.error.is_some() {
        return Err(
            "give `error`, or any of `visible_columns`, `row_filter`, `masks` and `rows`, but \
             not both"
                .into(),
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
    Ok(TestCheck {
        explain: Some(ExplainRequest {
            principal: t.principal.clone(),
            groups,
            attrs: t.attrs.clone(),
            sql,
        }),
        run: t.rows.is_some(),
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

/// JSON values equal: two integers exactly, other numbers by value.
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    let int = |v: &serde_json::Value| {
        v.as_i64()
            .map(i128::from)
            .or_else(|| v.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x == y,
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() < 1e-9,
            _ => a == b,
        },
    }
}

/// Judges one check's outcome.
pub fn judge(t: &Check, got: Option<CheckOutcome>) -> Result<(), String> {
    let (rows_json, got) = match got {
        Some(o) => (o.rows_json, o.outcome),
        None => (String::new(), None),
    };
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
    if let Some(want) = &t.row_filter {
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
    if let Some(want) = &t.rows {
        let got: Vec<Vec<serde_json::Value>> = serde_json::from_str(&rows_json)
            .map_err(|e| format!("the server's rows cannot be read: {e}"))?;
        let want: Vec<Vec<serde_json::Value>> = want
            .iter()
            .map(|r| {
                r.iter()
                    .map(|v| serde_json::to_value(v).map_err(|e| format!("rows: {e}")))
                    .collect::<Result<Vec<_>, String>>()
            })
            .collect::<Result<_, String>>()?;
        let ok = got.len() == want.len()
            && got
                .iter()
                .zip(&want)
                .all(|(g, w)| g.len() == w.len() && g.iter().zip(w).all(|(a, b)| same(a, b)));
        if !ok {
            let want = serde_json::to_string(&want).unwrap_or_default();
            return Err(format!("expected rows {want}, got {rows_json}"));
        }
    }
    Ok(())
}
