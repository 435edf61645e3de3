//! A plan as a reviewer reads it (DESIGN §8): the governance objects that
//! change, who gains or loses access to what, and the invariants.

use std::fmt::Write;

use policy_engine::repo::{AccessChange, AccessSummary, Plan};

fn list(v: &[String]) -> String {
    v.join(", ")
}

/// What changes between two accesses of one principal on one table.
fn access_lines(a: &AccessChange) -> Vec<String> {
    let rows = |s: &AccessSummary| s.rows.clone().unwrap_or_else(|| "all rows".into());
    let describe = |s: &AccessSummary| {
        // Table permissions without SELECT read no column and no row; say
        // so rather than print an empty column list and "all rows".
        let mut out = if s.columns.is_empty() {
            vec!["no columns (no SELECT)".to_string()]
        } else {
            vec![format!("columns {}", list(&s.columns)), rows(s)]
        };
        if !s.permissions.is_empty() {
            out.push(format!("permissions {}", list(&s.permissions)));
        }
        if !s.masks.is_empty() {
            out.push(format!(
                "masked {}",
                s.masks
                    .iter()
                    .map(|(c, m)| format!("{c}={m}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for (c, note) in &s.cells {
            out.push(format!("{c}: {note}"));
        }
        out
    };
    match (&a.before, &a.after) {
        (None, Some(s)) => {
            let mut out = vec!["GAINS access".to_string()];
            out.extend(describe(s).into_iter().map(|l| format!("  {l}")));
            out
        }
        (Some(s), None) => {
            let mut out = vec!["LOSES all access".to_string()];
            out.extend(describe(s).into_iter().map(|l| format!("  had {l}")));
            out
        }
        (Some(b), Some(s)) => {
            let mut out = Vec::new();
            let gained: Vec<String> = s
                .columns
                .iter()
                .filter(|c| !b.columns.contains(c))
                .cloned()
                .collect();
            let lost: Vec<String> = b
                .columns
                .iter()
                .filter(|c| !s.columns.contains(c))
                .cloned()
                .collect();
            if !gained.is_empty() {
                out.push(format!("+ columns {}", list(&gained)));
            }
            if !lost.is_empty() {
                out.push(format!("- columns {}", list(&lost)));
            }
            let gained: Vec<String> = s
                .permissions
                .iter()
                .filter(|p| !b.permissions.contains(p))
                .cloned()
                .collect();
            let lost: Vec<String> = b
                .permissions
                .iter()
                .filter(|p| !s.permissions.contains(p))
                .cloned()
                .collect();
            if !gained.is_empty() {
                out.push(format!("+ permissions {}", list(&gained)));
            }
            if !lost.is_empty() {
                out.push(format!("- permissions {}", list(&lost)));
            }
            if b.rows != s.rows {
                out.push(format!("~ rows: {} -> {}", rows(b), rows(s)));
            }
            let cols: std::collections::BTreeSet<&String> =
                b.masks.keys().chain(s.masks.keys()).collect();
            for c in cols {
                let (x, y) = (b.masks.get(c), s.masks.get(c));
                if x != y {
                    let show = |m: Option<&String>| m.cloned().unwrap_or_else(|| "clear".into());
                    out.push(format!("~ mask {c}: {} -> {}", show(x), show(y)));
                }
            }
            let cols: std::collections::BTreeSet<&String> =
                b.cells.keys().chain(s.cells.keys()).collect();
            for c in cols {
                let (x, y) = (b.cells.get(c), s.cells.get(c));
                if x != y {
                    let show =
                        |m: Option<&String>| m.cloned().unwrap_or_else(|| "every row".into());
                    out.push(format!("~ cells {c}: {} -> {}", show(x), show(y)));
                }
            }
            out
        }
        (None, None) => Vec::new(),
    }
}

/// The plan for people.
pub fn human(p: &Plan, dir: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Plan against catalog version {}", p.version);
    let _ = writeln!(s);
    if p.changes.is_empty() {
        let _ = writeln!(s, "Governance objects: no changes");
    } else {
        let _ = writeln!(s, "Governance objects:");
        for c in &p.changes {
            let sign = match c.op.as_str() {
                "add" => "+",
                "remove" => "-",
                _ => "~",
            };
            let _ = writeln!(s, "  {sign} {} {}", c.kind, c.object);
        }
    }
    let _ = writeln!(s);
    if p.access.is_empty() {
        let _ = writeln!(
            s,
            "Effective access: no principal gains or loses anything ({} principals, groups and \
             accounts analysed)",
            p.analysed
        );
    } else {
        let _ = writeln!(
            s,
            "Effective access ({} principals, groups and accounts analysed):",
            p.analysed
        );
        for a in &p.access {
            let _ = writeln!(s, "  {} on {}:", a.principal, a.table);
            for l in access_lines(a) {
                let _ = writeln!(s, "    {l}");
            }
        }
    }
    if !p.invariants.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "Invariants:");
        for i in &p.invariants {
            if i.ok {
                let _ = writeln!(s, "  ok    {} ({})", i.name, i.method);
            } else {
                let _ = writeln!(s, "  FAIL  {} ({})", i.name, i.method);
                for v in &i.violations {
                    let _ = writeln!(
                        s,
                        "        {} on {}{}: {}",
                        v.principal,
                        v.table,
                        v.column
                            .as_ref()
                            .map(|c| format!(" column {c}"))
                            .unwrap_or_default(),
                        v.detail
                    );
                }
            }
        }
    }
    let _ = writeln!(s);
    let k = |o: &str| p.changes.iter().filter(|c| c.op == o).count();
    let _ = write!(
        s,
        "plan: {} to add, {} to change, {} to remove; {} access change(s)",
        k("add"),
        k("change"),
        k("remove"),
        p.access.len()
    );
    if !p.ok() {
        let _ = write!(s, "; invariants FAIL: this plan cannot be applied");
    } else if !p.changes.is_empty() {
        let _ = write!(
            s,
            "; apply with `lakegate policy apply {dir}` (add `--plan FILE` with a plan saved by \
             `plan --out FILE` to apply exactly this one)"
        );
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::indexing_slicing,
        reason = "test code: a panic is a failed test"
    )]
    use super::*;

    fn summary(columns: &[&str], permissions: &[&str]) -> AccessSummary {
        AccessSummary {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: None,
            masks: Default::default(),
            cells: Default::default(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn change(before: Option<AccessSummary>, after: Option<AccessSummary>) -> AccessChange {
        AccessChange {
            principal: "111111111111:user/alice".into(),
            table: "sales.orders".into(),
            before,
            after,
        }
    }

    #[test]
    fn a_permission_only_gain_says_what_it_grants_and_that_no_column_is_read() {
        let lines = access_lines(&change(
            None,
            Some(summary(&[], &["INSERT", "GRANT INSERT"])),
        ));
        assert_eq!(
            lines,
            [
                "GAINS access",
                "  no columns (no SELECT)",
                "  permissions INSERT, GRANT INSERT"
            ]
        );
    }

    #[test]
    fn a_permission_only_change_is_not_an_empty_entry() {
        let lines = access_lines(&change(
            Some(summary(&["id"], &["INSERT"])),
            Some(summary(&["id"], &["DELETE"])),
        ));
        assert_eq!(lines, ["+ permissions DELETE", "- permissions INSERT"]);
    }
}
