//! `lakegate explain [--principal ID] [--group G]... [--attr k=v]... SQL`:
//! the statement as lakegate rewrites it for the principal, what the
//! principal may read of each table, and the grants, data filters, LF-tags
//! and policies that decided it. Errors are those the query would get.

use std::collections::BTreeMap;

use grpc_proxy::proto::{ExplainRequest, RowsExplanation, TableExplanation};
use policy_engine::Principal;

use super::Global;
use crate::client::connect;
use crate::exit::CliError;
use crate::output;

/// `explain [--principal ID] [--group G]... [--attr k=v]... SQL`
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user or role to explain for (default: yourself, with your token's
    /// groups and attributes). Only data lake admins may name someone else.
    #[arg(long, value_name = "ID")]
    principal: Option<String>,
    /// A group of the principal: ACCOUNT:group/NAME or a bare NAME (repeatable).
    #[arg(long = "group", value_name = "G", requires = "principal")]
    groups: Vec<String>,
    /// An attribute of the principal, for row filters, KEY=VALUE (repeatable).
    #[arg(long = "attr", value_name = "k=v", value_parser = parse_attr, requires = "principal")]
    attrs: Vec<(String, String)>,
    /// The SQL query (tables are `DB.TABLE`).
    #[arg(value_name = "SQL")]
    sql: String,
}

fn parse_attr(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// `ACCOUNT:group/NAME`, or a bare NAME in the principal's account.
fn group(principal: &str, g: &str) -> Result<String, CliError> {
    if g.contains(':') {
        return Ok(g.to_string());
    }
    let p = Principal::parse(principal).map_err(|e| CliError::usage(e.to_string()))?;
    Ok(format!("{}:group/{g}", p.account()))
}

fn rows(r: Option<&RowsExplanation>) -> String {
    match r {
        Some(r) if r.all => "all".to_string(),
        Some(r) if r.any_of.is_empty() => "none".to_string(),
        Some(r) => r
            .any_of
            .iter()
            .map(|p| format!("({p})"))
            .collect::<Vec<_>>()
            .join(" OR "),
        None => "-".to_string(),
    }
}

fn tags(t: &BTreeMap<String, String>) -> String {
    if t.is_empty() {
        return "-".to_string();
    }
    t.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The human rendering of one table's explanation.
fn describe(t: &TableExplanation) -> String {
    let mut s = format!("table {}\n", t.table);
    s.push_str(&format!(
        "  visible columns: {}\n",
        t.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    s.push_str(&format!("  rows: {}\n", rows(t.rows.as_ref())));
    let cols: Vec<Vec<String>> = t
        .columns
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.data_type.clone(),
                match &c.cells {
                    None => "as rows".to_string(),
                    Some(r) => rows(Some(r)),
                },
                match (&c.mask, &c.unmasked) {
                    (None, _) => "-".to_string(),
                    (Some(m), None) => m.clone(),
                    (Some(m), Some(r)) => format!("{m}, clear where {}", rows(Some(r))),
                },
                tags(&c.tags),
            ]
        })
        .collect();
    for line in output::table(&["COLUMN", "TYPE", "CELLS", "MASK", "LF-TAGS"], &cols).lines() {
        s.push_str(&format!("    {line}\n"));
    }
    s.push_str("  trail:\n");
    for l in &t.trail {
        s.push_str(&format!(
            "    {:<6}  {}: {} [{}]\n",
            l.effect, l.decided, l.source, l.policy
        ));
    }
    s
}

/// Asks the server and prints the explanation.
pub async fn run(a: Args, g: &Global) -> Result<(), CliError> {
    let principal = a.principal.unwrap_or_default();
    let groups = a
        .groups
        .iter()
        .map(|x| group(&principal, x))
        .collect::<Result<Vec<_>, _>>()?;
    let mut attrs = BTreeMap::new();
    for (k, v) in a.attrs {
        if attrs.insert(k.clone(), v).is_some() {
            return Err(CliError::usage(format!(
                "attribute `{k}` is given twice; give each --attr key once"
            )));
        }
    }
    let mut c = connect(g).await?;
    let r = c
        .client
        .explain(ExplainRequest {
            principal,
            groups,
            attrs,
            sql: a.sql,
        })
        .await
        .map_err(|s| c.fail(s))?
        .into_inner();
    if g.json {
        return output::json(&r);
    }
    println!("rewritten SQL:\n  {}\n", r.rewritten_sql);
    for t in &r.tables {
        println!("{}", describe(t));
    }
    Ok(())
}
