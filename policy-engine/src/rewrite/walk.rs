//! The scope-aware walk: queries, CTEs, set operations, selects and FROM
//! items, with sqlparser's `VisitorMut` used inside expressions only.
//!
//! Two stacks carry the scopes:
//! - `ctes`: CTE names visible at this point. For `WITH a AS (…), b AS (…)`,
//!   `a`'s body sees the outer CTEs, `b`'s body also sees `a`, and the main
//!   body sees both; under `WITH RECURSIVE` each body also sees itself. This
//!   is DataFusion's order, so a name we take for a CTE is one the engine
//!   takes for the same CTE, never for a table.
//! - `rels`: per SELECT, the FROM items seen so far (alias, and for a catalog
//!   table without an alias its `DB.TABLE`), innermost last; used to rewrite
//!   `db.t.col` and `account.db.t.col` to `alias.col`.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, JoinConstraint, JoinOperator,
    ObjectName, ObjectNamePart, Query, Select, SelectItem, SelectItemQualifiedWildcardKind,
    SetExpr, Statement, TableAlias, TableFactor, TableWithJoins, VisitMut, VisitorMut,
};

use crate::access::{TableAccess, table_not_found};
use crate::error::{Error, Result};
use crate::model::{MAX_IDENT_LEN, TableName, clip};

use super::derived::{self, quoted};
use super::{
    MAX_NESTING, Placement, RewriteOptions, RewrittenTable, SECURED_TABLE_PREFIX, TableResolver,
};

/// Most structural levels our walk descends before failing cleanly; a
/// backstop behind the token estimate of [`MAX_NESTING`].
const WALK_LIMIT: usize = 2 * MAX_NESTING;

/// CTE names we refuse: they could shadow the physical names we emit.
const RESERVED_PREFIX: &str = "__lg_";

/// Schemas that expose the engine's catalog rather than the caller's.
const SYSTEM_SCHEMAS: &[&str] = &["information_schema", "pg_catalog"];

/// Functions that read files or URLs, by (lower-case) name; plus every name
/// starting with `read_`.
const FILE_FUNCTIONS: &[&str] = &[
    "parquet_scan",
    "csv_scan",
    "json_scan",
    "parquet_metadata",
    "parquet_schema",
    "parquet_file_metadata",
    "parquet_kv_metadata",
    "glob",
    "url",
    "file",
    "load_file",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "lo_import",
    "lo_export",
    "sniff_csv",
];

/// Why a function call is refused, if it is.
pub(crate) fn denied_function(name: &ObjectName) -> Option<Error> {
    let parts: Vec<String> = match name
        .0
        .iter()
        .map(|p| p.as_ident().map(norm))
        .collect::<Option<Vec<_>>>()
    {
        Some(p) => p,
        None => return Some(unsupported(&format!("the function name `{name}`"))),
    };
    if parts.len() != 1 {
        return Some(Error::denied(format!(
            "qualified function names like `{}` are not allowed; call functions by their bare \
             name",
            clip(&name.to_string())
        )));
    }
    let f = parts.first().map(String::as_str).unwrap_or_default();
    if f.starts_with("read_") || FILE_FUNCTIONS.contains(&f) {
        return Some(Error::denied(format!(
            "function `{}` reads files or URLs and is not allowed; query catalog tables as \
             `DB.TABLE`",
            clip(&name.to_string())
        )));
    }
    None
}

/// A name as DataFusion compares it: unquoted folds to lower case, quoted is exact.
fn norm(i: &Ident) -> String {
    match i.quote_style {
        None => i.value.to_lowercase(),
        Some(_) => i.value.clone(),
    }
}

fn unsupported(what: &str) -> Error {
    Error::denied(format!(
        "{what} is not supported by lakegate; rewrite the query without it"
    ))
}

/// A lower-case identifier as the catalog stores them.
fn is_catalog_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_IDENT_LEN
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A FROM item visible to expressions.
struct Rel {
    /// Its name as expressions qualify it (normalised alias).
    name: String,
    /// The catalog table it reads and whether the query gave no alias (only
    /// then `db.t.col` may qualify it).
    table: Option<usize>,
    implicit_alias: bool,
}

/// One distinct table of the statement.
struct Resolved {
    /// The name as the query referenced it (in the caller's account).
    referenced: TableName,
    physical: String,
    access: TableAccess,
    aliases: Vec<String>,
    /// The derived table body for [`Placement::Inline`], built once (it
    /// parses the policy's predicates) and cloned per reference. Secured
    /// bodies are only column lists and are built per reference instead,
    /// which is cheaper than a deep clone.
    template: Option<Box<Query>>,
}

enum Named {
    Cte(String),
    Table(TableName),
}

/// Walks one statement; holds the scopes and the distinct tables.
pub(crate) struct Walker<'a> {
    opts: &'a RewriteOptions,
    resolver: &'a dyn TableResolver,
    tables: Vec<Resolved>,
    ctes: Vec<String>,
    rels: Vec<Vec<Rel>>,
    depth: usize,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(opts: &'a RewriteOptions, resolver: &'a dyn TableResolver) -> Self {
        Self {
            opts,
            resolver,
            tables: Vec::new(),
            ctes: Vec::new(),
            rels: Vec::new(),
            depth: 0,
        }
    }

    pub(crate) fn into_tables(self) -> Vec<RewrittenTable> {
        self.tables
            .into_iter()
            .map(|t| RewrittenTable {
                aliases: t.aliases,
                physical: t.physical,
                access: t.access,
            })
            .collect()
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > WALK_LIMIT {
            return Err(super::too_deep(MAX_NESTING));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    pub(crate) fn walk_query(&mut self, q: &mut Query) -> Result<()> {
        self.enter()?;
        if !q.locks.is_empty() {
            return Err(unsupported("`FOR UPDATE`/`FOR SHARE`"));
        }
        if q.for_clause.is_some() {
            return Err(unsupported("`FOR XML`/`FOR JSON`"));
        }
        if q.settings.is_some() {
            return Err(unsupported("`SETTINGS`"));
        }
        if q.format_clause.is_some() {
            return Err(unsupported("`FORMAT`"));
        }
        if !q.pipe_operators.is_empty() {
            return Err(unsupported("the pipe syntax `|>`"));
        }
        let mark = self.ctes.len();
        if let Some(with) = &mut q.with {
            for cte in &mut with.cte_tables {
                let name = norm(&cte.alias.name);
                if name.to_ascii_lowercase().starts_with(RESERVED_PREFIX) {
                    return Err(Error::invalid(format!(
                        "the CTE name `{}` is reserved (names starting with `{RESERVED_PREFIX}` \
                         are lakegate's); rename it",
                        clip(&cte.alias.name.value)
                    )));
                }
                if with.recursive {
                    self.ctes.push(name);
                    self.walk_query(&mut cte.query)?;
                } else {
                    self.walk_query(&mut cte.query)?;
                    self.ctes.push(name);
                }
            }
        }
        let frame = self.walk_set_expr(&mut q.body)?;
        let pushed = frame.is_some();
        if let Some(f) = frame {
            self.rels.push(f);
        }
        self.exprs(&mut q.order_by)?;
        self.exprs(&mut q.limit_clause)?;
        self.exprs(&mut q.fetch)?;
        if pushed {
            self.rels.pop();
        }
        self.ctes.truncate(mark);
        self.leave();
        Ok(())
    }

    /// Walks a query body; for a plain SELECT returns its FROM scope, which
    /// the query's ORDER BY also sees.
    fn walk_set_expr(&mut self, e: &mut SetExpr) -> Result<Option<Vec<Rel>>> {
        self.enter()?;
        let frame = match e {
            SetExpr::Select(s) => Some(self.walk_select(s)?),
            SetExpr::Query(q) => {
                self.walk_query(q)?;
                None
            }
            SetExpr::SetOperation { .. } => {
                // Left-deep chains (`a UNION b UNION c …`) can be as long as the
                // nesting estimate allows: walk the branches with a stack.
                let mut todo: Vec<&mut SetExpr> = vec![e];
                let mut branches: Vec<&mut SetExpr> = Vec::new();
                while let Some(node) = todo.pop() {
                    match node {
                        SetExpr::SetOperation { left, right, .. } => {
                            todo.push(right);
                            todo.push(left);
                        }
                        other => branches.push(other),
                    }
                }
                for b in branches {
                    self.walk_set_expr(b)?;
                }
                None
            }
            SetExpr::Values(v) => {
                self.exprs(v)?;
                None
            }
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) | SetExpr::Merge(_) => {
                return Err(Error::denied(
                    "data modification inside a query is not allowed; queries through lakegate \
                     are read-only",
                ));
            }
            SetExpr::Table(t) => {
                return Err(unsupported(&format!(
                    "`TABLE {}`; write `SELECT * FROM DB.TABLE` instead, and",
                    clip(&t.to_string())
                )));
            }
        };
        self.leave();
        Ok(frame)
    }

    fn walk_select(&mut self, s: &mut Select) -> Result<Vec<Rel>> {
        if s.into.is_some() {
            return Err(Error::denied(
                "`SELECT … INTO` writes a table and is not allowed; queries through lakegate are \
                 read-only",
            ));
        }
        let extra = [
            (!s.lateral_views.is_empty(), "`LATERAL VIEW`"),
            (s.prewhere.is_some(), "`PREWHERE`"),
            (!s.connect_by.is_empty(), "`CONNECT BY`"),
            (!s.cluster_by.is_empty(), "`CLUSTER BY`"),
            (!s.distribute_by.is_empty(), "`DISTRIBUTE BY`"),
            (!s.sort_by.is_empty(), "`SORT BY`"),
            (
                s.value_table_mode.is_some(),
                "`SELECT AS STRUCT`/`AS VALUE`",
            ),
            (s.select_modifiers.is_some(), "MySQL select modifiers"),
            (!s.optimizer_hints.is_empty(), "optimizer hints"),
        ];
        if let Some((_, what)) = extra.iter().find(|(present, _)| *present) {
            return Err(unsupported(what));
        }
        self.rels.push(Vec::new());
        for twj in &mut s.from {
            self.walk_table_with_joins(twj)?;
        }
        for item in &mut s.projection {
            if let SelectItem::QualifiedWildcard(
                SelectItemQualifiedWildcardKind::ObjectName(n),
                _,
            ) = item
            {
                self.requalify_name(n);
            }
        }
        self.exprs(&mut s.distinct)?;
        self.exprs(&mut s.top)?;
        self.exprs(&mut s.projection)?;
        self.exprs(&mut s.selection)?;
        self.exprs(&mut s.group_by)?;
        self.exprs(&mut s.having)?;
        self.exprs(&mut s.named_window)?;
        self.exprs(&mut s.qualify)?;
        Ok(self.rels.pop().unwrap_or_default())
    }

    fn walk_table_with_joins(&mut self, twj: &mut TableWithJoins) -> Result<()> {
        self.walk_factor(&mut twj.relation)?;
        for join in &mut twj.joins {
            self.walk_factor(&mut join.relation)?;
            let constraint = match &mut join.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::CrossJoin(c)
                | JoinOperator::Semi(c)
                | JoinOperator::LeftSemi(c)
                | JoinOperator::RightSemi(c)
                | JoinOperator::Anti(c)
                | JoinOperator::LeftAnti(c)
                | JoinOperator::RightAnti(c)
                | JoinOperator::StraightJoin(c) => Some(c),
                JoinOperator::AsOf {
                    match_condition,
                    constraint,
                } => {
                    self.exprs(match_condition)?;
                    Some(constraint)
                }
                JoinOperator::CrossApply | JoinOperator::OuterApply => None,
                JoinOperator::ArrayJoin
                | JoinOperator::LeftArrayJoin
                | JoinOperator::InnerArrayJoin => return Err(unsupported("`ARRAY JOIN`")),
            };
            if let Some(JoinConstraint::On(e)) = constraint {
                self.exprs(e)?;
            }
        }
        Ok(())
    }

    fn push_rel(&mut self, rel: Rel) {
        if let Some(frame) = self.rels.last_mut() {
            frame.push(rel);
        }
    }

    fn alias_rel(&mut self, alias: &Option<TableAlias>) {
        if let Some(a) = alias {
            self.push_rel(Rel {
                name: norm(&a.name),
                table: None,
                implicit_alias: false,
            });
        }
    }

    fn walk_factor(&mut self, tf: &mut TableFactor) -> Result<()> {
        self.enter()?;
        let replacement = match tf {
            TableFactor::Table {
                name,
                alias,
                args,
                with_hints,
                version,
                with_ordinality,
                partitions,
                json_path,
                sample,
                index_hints,
            } => {
                if args.is_some() {
                    return Err(Error::denied(format!(
                        "table function `{}` is not allowed; query catalog tables as `DB.TABLE`",
                        clip(&name.to_string())
                    )));
                }
                let modifiers = [
                    (
                        !with_hints.is_empty() || !index_hints.is_empty(),
                        "table hints",
                    ),
                    (
                        version.is_some(),
                        "time travel (`FOR SYSTEM_TIME`/`AT`/`BEFORE`)",
                    ),
                    (*with_ordinality, "`WITH ORDINALITY`"),
                    (!partitions.is_empty(), "`PARTITION (…)` selection"),
                    (json_path.is_some(), "JSON paths on tables"),
                    (sample.is_some(), "`TABLESAMPLE`"),
                ];
                if let Some((_, what)) = modifiers.iter().find(|(present, _)| *present) {
                    return Err(unsupported(&format!(
                        "{what} on `{}`",
                        clip(&name.to_string())
                    )));
                }
                match self.classify(name)? {
                    Named::Cte(cte) => {
                        let (rel_name, implicit) = match alias {
                            Some(a) => (norm(&a.name), false),
                            None => (cte, true),
                        };
                        self.push_rel(Rel {
                            name: rel_name,
                            table: None,
                            implicit_alias: implicit,
                        });
                        None
                    }
                    Named::Table(referenced) => {
                        let idx = self.resolve(referenced)?;
                        let implicit_alias = alias.is_none();
                        let Some(entry) = self.tables.get_mut(idx) else {
                            return Err(Error::internal("resolved table index out of range"));
                        };
                        let alias = alias.take().unwrap_or_else(|| TableAlias {
                            explicit: true,
                            name: quoted(&entry.referenced.table),
                            columns: Vec::new(),
                            at: None,
                        });
                        let rel_name = norm(&alias.name);
                        if !entry.aliases.contains(&alias.name.value) {
                            entry.aliases.push(alias.name.value.clone());
                        }
                        let subquery = match &entry.template {
                            Some(t) => t.clone(),
                            None => derived::derived_query(
                                &entry.access,
                                derived::object_name(&[&entry.physical]),
                                false,
                                0,
                            )?,
                        };
                        self.push_rel(Rel {
                            name: rel_name,
                            table: Some(idx),
                            implicit_alias,
                        });
                        Some(TableFactor::Derived {
                            lateral: false,
                            subquery,
                            alias: Some(alias),
                            sample: None,
                        })
                    }
                }
            }
            TableFactor::Derived {
                subquery,
                alias,
                sample,
                ..
            } => {
                if sample.is_some() {
                    return Err(unsupported("`TABLESAMPLE`"));
                }
                self.walk_query(subquery)?;
                self.alias_rel(alias);
                None
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                self.walk_table_with_joins(table_with_joins)?;
                self.alias_rel(alias);
                None
            }
            TableFactor::UNNEST {
                alias, array_exprs, ..
            } => {
                self.exprs(array_exprs)?;
                self.alias_rel(alias);
                None
            }
            TableFactor::Function { name, .. } => {
                return Err(Error::denied(format!(
                    "table function `{}` is not allowed; query catalog tables as `DB.TABLE`",
                    clip(&name.to_string())
                )));
            }
            TableFactor::TableFunction { .. } => {
                return Err(Error::denied(
                    "table functions (`TABLE(…)`) are not allowed; query catalog tables as \
                     `DB.TABLE`",
                ));
            }
            TableFactor::JsonTable { .. } | TableFactor::OpenJsonTable { .. } => {
                return Err(unsupported("`JSON_TABLE`/`OPENJSON`"));
            }
            TableFactor::XmlTable { .. } => return Err(unsupported("`XMLTABLE`")),
            TableFactor::Pivot { .. } => return Err(unsupported("`PIVOT`")),
            TableFactor::Unpivot { .. } => return Err(unsupported("`UNPIVOT`")),
            TableFactor::MatchRecognize { .. } => return Err(unsupported("`MATCH_RECOGNIZE`")),
            TableFactor::SemanticView { .. } => return Err(unsupported("`SEMANTIC_VIEW`")),
        };
        if let Some(r) = replacement {
            *tf = r;
        }
        self.leave();
        Ok(())
    }

    /// Decides what a table name in FROM refers to.
    fn classify(&self, name: &ObjectName) -> Result<Named> {
        let mut idents = Vec::with_capacity(name.0.len());
        for part in &name.0 {
            match part {
                ObjectNamePart::Identifier(i) => idents.push(i),
                ObjectNamePart::Function(_) => {
                    return Err(unsupported(&format!(
                        "the computed table name `{}`",
                        clip(&name.to_string())
                    )));
                }
            }
        }
        if idents.iter().any(|i| i.quote_style == Some('\'')) {
            return Err(Error::denied(format!(
                "reading files by path (`{}`) is not allowed; query catalog tables as `DB.TABLE`",
                clip(&name.to_string())
            )));
        }
        let parts: Vec<String> = idents.iter().map(|i| norm(i)).collect();
        if parts
            .iter()
            .any(|p| SYSTEM_SCHEMAS.contains(&p.to_ascii_lowercase().as_str()))
        {
            return Err(Error::denied(format!(
                "`{}` is not available through lakegate; list what you may see with Flight SQL \
                 GetTables or `lakegate permissions list`",
                clip(&name.to_string())
            )));
        }
        let table = match parts.as_slice() {
            [t] => {
                if self.ctes.iter().rev().any(|c| c == t) {
                    return Ok(Named::Cte(t.clone()));
                }
                match &self.opts.default_database {
                    Some(db) => TableName {
                        database: db.clone(),
                        table: t.clone(),
                    },
                    None => {
                        return Err(Error::invalid(format!(
                            "table `{}` is not qualified; write it as `DB.TABLE`, naming its \
                             database",
                            clip(&name.to_string()),
                        )));
                    }
                }
            }
            [db, t] => TableName {
                database: db.clone(),
                table: t.clone(),
            },
            [account, db, t] => {
                let name = TableName {
                    database: db.clone(),
                    table: t.clone(),
                };
                if account != self.opts.account.as_str() {
                    return Err(table_not_found(&TableName {
                        database: format!("{account}.{db}"),
                        table: t.clone(),
                    }));
                }
                name
            }
            _ => {
                return Err(table_not_found(&TableName {
                    database: parts
                        .iter()
                        .take(parts.len().saturating_sub(1))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("."),
                    table: parts.last().cloned().unwrap_or_default(),
                }));
            }
        };
        if !is_catalog_ident(&table.database) || !is_catalog_ident(&table.table) {
            return Err(table_not_found(&table));
        }
        Ok(Named::Table(table))
    }

    /// The index of the distinct table, resolving and building it on first use.
    fn resolve(&mut self, referenced: TableName) -> Result<usize> {
        if let Some(i) = self.tables.iter().position(|t| t.referenced == referenced) {
            return Ok(i);
        }
        let access = self.resolver.access(&referenced)?;
        if access.columns.is_empty() {
            return Err(Error::denied(format!(
                "no column of table `{referenced}` is visible to you; ask a data lake admin to \
                 grant SELECT"
            )));
        }
        let idx = self.tables.len();
        let (physical, template) = match self.opts.placement {
            Placement::Secured => (format!("{SECURED_TABLE_PREFIX}{idx}"), None),
            Placement::Inline => {
                let from = derived::object_name(&[
                    access.account.as_str(),
                    &access.table.database,
                    &access.table.table,
                ]);
                let physical = from.to_string();
                let template = derived::derived_query(
                    &access,
                    from,
                    true,
                    self.opts.max_depth.min(super::MAX_PARSER_DEPTH),
                )?;
                (physical, Some(template))
            }
        };
        self.tables.push(Resolved {
            referenced,
            physical,
            access,
            aliases: Vec::new(),
            template,
        });
        Ok(idx)
    }

    /// Runs the expression pass over any node.
    fn exprs<T: VisitMut>(&mut self, node: &mut T) -> Result<()> {
        let mut pass = ExprPass {
            walker: self,
            parked: Vec::new(),
        };
        match node.visit(&mut pass) {
            ControlFlow::Break(e) => Err(e),
            ControlFlow::Continue(()) => Ok(()),
        }
    }

    /// The alias a `db.t` / `account.db.t` prefix of `parts` stands for, and
    /// how many parts it covers.
    fn qualifier(&self, parts: &[String]) -> Option<(Ident, usize)> {
        let first = parts.first()?;
        if self
            .rels
            .iter()
            .any(|frame| frame.iter().any(|r| &r.name == first))
        {
            return None;
        }
        for frame in self.rels.iter().rev() {
            for rel in frame.iter().rev() {
                let (Some(idx), true) = (rel.table, rel.implicit_alias) else {
                    continue;
                };
                let Some(t) = self.tables.get(idx) else {
                    continue;
                };
                let db = &t.referenced.database;
                let table = &t.referenced.table;
                match parts {
                    [a, d, n, ..] if a == self.opts.account.as_str() && d == db && n == table => {
                        return Some((quoted(&rel.name), 3));
                    }
                    [d, n, ..] if d == db && n == table => return Some((quoted(&rel.name), 2)),
                    _ => {}
                }
            }
        }
        None
    }

    /// Rewrites `db.t.col` / `account.db.t.col` (at least one part after the
    /// table) to `alias.col`.
    fn requalify_idents(&self, idents: &mut Vec<Ident>) {
        if idents.len() < 3 {
            return;
        }
        let parts: Vec<String> = idents.iter().take(4).map(norm).collect();
        if let Some((alias, n)) = self.qualifier(&parts)
            && idents.len() > n
        {
            idents.splice(0..n, std::iter::once(alias));
        }
    }

    /// Rewrites the qualifier of `db.t.*` / `account.db.t.*` to `alias`.
    fn requalify_name(&self, name: &mut ObjectName) {
        if name.0.len() < 2 || name.0.len() > 3 {
            return;
        }
        let Some(parts) = name
            .0
            .iter()
            .map(|p| p.as_ident().map(norm))
            .collect::<Option<Vec<_>>>()
        else {
            return;
        };
        if let Some((alias, n)) = self.qualifier(&parts)
            && n == name.0.len()
        {
            *name = ObjectName::from(vec![alias]);
        }
    }
}

/// The expression pass: rewrites qualified column references, refuses file
/// functions, and hands every subquery to the walk.
///
/// The visitor would then descend into the subquery it just handed over;
/// instead, `pre_visit_query` swaps the walked query out for an empty
/// placeholder and `post_visit_query` swaps it back, so each node is visited
/// once and the visitor's recursion stays within one query level.
struct ExprPass<'w, 'a> {
    walker: &'w mut Walker<'a>,
    /// Walked subqueries, swapped out while the visitor passes their place.
    parked: Vec<Query>,
}

impl VisitorMut for ExprPass<'_, '_> {
    type Break = Error;

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<Error> {
        if let Err(e) = self.walker.walk_query(q) {
            return ControlFlow::Break(e);
        }
        self.parked
            .push(std::mem::replace(q, derived::placeholder()));
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<Error> {
        match self.parked.pop() {
            Some(walked) => {
                *q = walked;
                ControlFlow::Continue(())
            }
            None => ControlFlow::Break(Error::internal("subquery stack out of balance")),
        }
    }

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<Error> {
        if let Err(err) = self.walker.enter() {
            return ControlFlow::Break(err);
        }
        match e {
            Expr::CompoundIdentifier(idents) => self.walker.requalify_idents(idents),
            Expr::QualifiedWildcard(name, _) => self.walker.requalify_name(name),
            Expr::Function(f) => {
                if let Some(err) = denied_function(&f.name) {
                    return ControlFlow::Break(err);
                }
                if let FunctionArguments::List(list) = &mut f.args {
                    for arg in &mut list.args {
                        match arg {
                            FunctionArg::Unnamed(FunctionArgExpr::QualifiedWildcard(n))
                            | FunctionArg::Named {
                                arg: FunctionArgExpr::QualifiedWildcard(n),
                                ..
                            }
                            | FunctionArg::ExprNamed {
                                arg: FunctionArgExpr::QualifiedWildcard(n),
                                ..
                            } => self.walker.requalify_name(n),
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &mut Expr) -> ControlFlow<Error> {
        self.walker.leave();
        ControlFlow::Continue(())
    }

    // Anything that names a table must be inside a query we walked (and
    // walked queries are parked), so meeting one here means a construct we
    // do not understand.
    fn pre_visit_select(&mut self, _: &mut Select) -> ControlFlow<Error> {
        ControlFlow::Break(unsupported("a SELECT outside a subquery"))
    }

    fn pre_visit_table_factor(&mut self, _: &mut TableFactor) -> ControlFlow<Error> {
        ControlFlow::Break(unsupported("a table reference inside an expression"))
    }

    fn pre_visit_relation(&mut self, _: &mut ObjectName) -> ControlFlow<Error> {
        ControlFlow::Break(unsupported("a table reference inside an expression"))
    }

    fn pre_visit_statement(&mut self, _: &mut Statement) -> ControlFlow<Error> {
        ControlFlow::Break(unsupported("a statement inside an expression"))
    }
}
