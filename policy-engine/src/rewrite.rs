//! The statement classifier and scan rewriter of the Flight SQL proxy
//! (DESIGN §4 "Fail closed" and "Rewrite").
//!
//! ```text
//!  SQL text ──size, empty──▶ tokens ──nesting estimate──▶ sqlparser (GenericDialect,
//!                                                       recursion limit = max_depth)
//!      ──▶ exactly one Statement::Query (everything else is denied with what to do)
//!      ──walk (CTE scopes, FROM scopes)──▶ every catalog table reference becomes
//!            (SELECT visible columns FROM physical [WHERE visible rows]) AS alias
//!      ──▶ Rewritten { statement (the AST, for the embedded engine),
//!                      sql (Inline: printed, parsed again, must be the same AST),
//!                      tables, source_len }
//! ```
//!
//! Key items: [`rewrite`], [`RewriteOptions`], [`Placement`], [`TableResolver`],
//! [`Rewritten`], [`RewrittenTable`].
//!
//! Decisions we made:
//! - We accept only `Statement::Query`, and inside it only the constructs we
//!   understand (SELECT, set operations, VALUES, WITH, joins, derived tables,
//!   LATERAL, UNNEST, subqueries in expressions); anything else is denied,
//!   because a construct we do not walk could reference a table we did not
//!   rewrite.
//! - We walk queries, set operations, selects and FROM items ourselves, and
//!   use sqlparser's derived `VisitorMut` only inside expressions, because CTE
//!   visibility (earlier siblings, plus itself under `RECURSIVE`) and which
//!   FROM items qualify a column depend on an order the generic visitor does
//!   not give (it visits the projection before FROM). A subquery met inside an
//!   expression is handed back to our walk with the current scopes, then
//!   parked (swapped for an empty placeholder) while the expression visitor
//!   passes its place, so every node is visited once.
//! - We estimate nesting on the token stream before parsing, because the
//!   parser's recursion limit does not bound left-deep operator chains
//!   (`1+1+…`, `… UNION …`), whose trees would otherwise overflow the stack
//!   when visited, printed or dropped. Set-operation chains are walked with
//!   an explicit stack, and the parser's recursion limit is capped at
//!   [`MAX_PARSER_DEPTH`], so the deepest accepted statement fits a 2 MiB
//!   thread stack.
//! - An unqualified name is a CTE if a CTE of that name is in scope, else a
//!   table of the default database (or an error); qualified names are never
//!   CTEs. Names are compared the way DataFusion normalises them: unquoted
//!   identifiers fold to lower case, quoted ones are exact.
//! - Each distinct table is resolved once per statement and its derived table
//!   built once, then cloned for every reference, so a self-join costs one
//!   access decision.
//! - The original text is never forwarded. The embedded engine plans the
//!   rewritten AST itself; an upstream gets the AST printed, and only if
//!   parsing that text again gives the same AST (module `roundtrip`), because
//!   sqlparser's printer does not round-trip every literal. Everything we add
//!   (projections, masks, predicates) is built as typed AST nodes: row
//!   predicates arrive as [`crate::predicate::RowExpr`] with principal
//!   attributes as literal nodes; mask expressions are parsed as single
//!   expressions, checked to contain no subquery or table, never spliced as
//!   text.

mod derived;
mod nesting;
mod roundtrip;
mod statement;
mod walk;

use std::fmt;

use sqlparser::ast::Statement;
use sqlparser::dialect::GenericDialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Word};

use crate::access::TableAccess;
use crate::error::{Error, Result};
use crate::model::{AccountId, TableName, clip};
use crate::parse_budget::{self, Budgeted};

/// Default for [`RewriteOptions::max_sql_bytes`]: 256 KiB.
pub const DEFAULT_MAX_SQL_BYTES: usize = 256 * 1024;
/// Default for [`RewriteOptions::max_depth`], the parser's recursion limit;
/// the same as DataFusion's `sql_parser.recursion_limit`.
pub const DEFAULT_MAX_DEPTH: usize = 50;
/// Cap on [`RewriteOptions::max_depth`]: deeper query nesting (each level a
/// derived table or subquery) would not fit a 2 MiB thread stack when walked,
/// printed and dropped in a debug build.
pub const MAX_PARSER_DEPTH: usize = 100;
/// Most nesting the rewriter accepts, as estimated from the tokens: operator
/// chains, set-operation chains and brackets all count. Chosen so that
/// walking, printing and dropping the deepest accepted tree fits in a 2 MiB
/// thread stack (tokio's default) in a debug build.
pub const MAX_NESTING: usize = 2000;
/// How deep joins in parentheses whose first table is itself in parentheses
/// may nest (`((…) AS a JOIN b)`): sqlparser parses each such level twice,
/// so the cost is 2 to this power (see `nesting::parenthesised_joins`).
pub const MAX_PARENTHESISED_JOINS: usize = 3;
/// Prefix of the physical table names of [`Placement::Secured`]
/// (`__lg_t0`, `__lg_t1`, ...). CTE names starting with `__lg_` are refused.
pub const SECURED_TABLE_PREFIX: &str = "__lg_t";
/// The scalar UDF the `hash` mask calls: `lakegate_mask_hash(VARCHAR) -> VARCHAR`,
/// keyed SHA-256 in lower-case hex (DESIGN §3 rule 8). The engine registers it.
pub const MASK_HASH_UDF: &str = "lakegate_mask_hash";

/// Tells the rewriter what the caller may read of a table.
pub trait TableResolver {
    /// Effective access of the caller on `DB.TABLE` of its own account.
    ///
    /// Errors: [`Error::InvalidArgument`] for missing or hidden tables (the
    /// same message for both, DESIGN §3 rule 12); [`Error::PermissionDenied`]
    /// when the caller may describe the table but not select from it.
    fn access(&self, table: &TableName) -> Result<TableAccess>;
}

impl<F> TableResolver for F
where
    F: Fn(&TableName) -> Result<TableAccess>,
{
    fn access(&self, table: &TableName) -> Result<TableAccess> {
        self(table)
    }
}

/// Where row filters, cell rules and masks are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// In the SQL itself, for external upstream engines: the derived table is
    /// `(SELECT <visible columns, masked> FROM "ACCOUNT"."DB"."TABLE" WHERE <rows>) AS alias`.
    Inline,
    /// In the embedded engine's scan, below every user expression: the
    /// derived table is `(SELECT "c1", "c2", ... FROM "__lg_tN") AS alias`,
    /// and [`Rewritten::tables`] says what each `__lg_tN` must apply.
    Secured,
}

/// How to rewrite a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewriteOptions {
    /// The caller's account: `ACCOUNT.DB.TABLE` must name it.
    pub account: AccountId,
    /// Database of unqualified table names; `None` makes them an error.
    pub default_database: Option<String>,
    /// Where rows, cells and masks are applied.
    pub placement: Placement,
    /// Longest statement accepted, in bytes.
    pub max_sql_bytes: usize,
    /// The parser's recursion limit, capped at [`MAX_PARSER_DEPTH`].
    pub max_depth: usize,
    /// Whether to print [`Rewritten::sql`] for [`Placement::Secured`]. The
    /// embedded engine plans the AST, so the text is only for people; the
    /// proxy turns this off and prints it in its audit writer, off the
    /// request path. ([`Placement::Inline`] always prints: the text is what
    /// the upstream runs.)
    pub print_secured: bool,
}

impl RewriteOptions {
    /// Options for `account` with no default database, [`Placement::Secured`]
    /// and the default limits.
    pub fn new(account: AccountId) -> Self {
        Self {
            account,
            default_database: None,
            placement: Placement::Secured,
            max_sql_bytes: DEFAULT_MAX_SQL_BYTES,
            max_depth: DEFAULT_MAX_DEPTH,
            print_secured: true,
        }
    }
}

/// One distinct table the statement reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewrittenTable {
    /// The aliases its derived tables carry in the output, in order of first
    /// use (the table name itself when the query gave no alias). A table
    /// referenced several times (self-join) has several.
    pub aliases: Vec<String>,
    /// The name used in the output SQL for the physical table:
    /// `"ACCOUNT"."DB"."TABLE"` for [`Placement::Inline`], `__lg_tN` for
    /// [`Placement::Secured`] (one per distinct table).
    pub physical: String,
    /// What the caller may read of it (account and name of the physical
    /// table, visible columns, rows, masks).
    pub access: TableAccess,
}

/// A rewritten statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewritten {
    /// The rewritten statement: what the embedded engine plans (it is handed
    /// the AST, never text).
    pub statement: Statement,
    /// The rewritten statement as SQL. For [`Placement::Inline`] this is the
    /// text an upstream runs, and it was checked to parse back to
    /// [`Rewritten::statement`]; for [`Placement::Secured`] it is for people
    /// (audit, explain), and empty unless [`RewriteOptions::print_secured`].
    pub sql: String,
    /// The distinct tables it reads, in order of first reference.
    pub tables: Vec<RewrittenTable>,
    /// Length in bytes of the statement as the client sent it.
    pub source_len: usize,
}

impl fmt::Display for Rewritten {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql)
    }
}

/// Classifies `sql` and rewrites every catalog table reference into a
/// derived table that shows only what the caller may see.
///
/// Errors: [`Error::InvalidArgument`] for empty, oversize, too deeply nested
/// or malformed SQL, unqualified or unknown tables; [`Error::PermissionDenied`]
/// for anything but a single query, for table functions, file paths and
/// system catalogs, and when the resolver denies SELECT;
/// [`Error::FailedPrecondition`] when a policy's predicate or mask cannot be
/// applied. Never panics on input.
pub fn rewrite(
    sql: &str,
    opts: &RewriteOptions,
    resolver: &dyn TableResolver,
) -> Result<Rewritten> {
    if sql.len() > opts.max_sql_bytes {
        return Err(Error::invalid(format!(
            "the statement is {} bytes long, more than the limit of {} bytes; shorten it, \
             e.g. by filtering with a join instead of a long IN list",
            sql.len(),
            opts.max_sql_bytes
        )));
    }
    if sql.trim().is_empty() {
        return Err(empty());
    }
    let dialect = GenericDialect {};
    let mut tokens = tokenize(&dialect, sql).map_err(|e| syntax(sql, &e))?;
    nesting::check(&tokens, MAX_NESTING)?;
    split_account_prefix(&mut tokens, opts.account.as_str());
    let max_depth = opts.max_depth.min(MAX_PARSER_DEPTH);
    let budget = Budgeted::for_len(sql.len());
    let mut parser = Parser::new(&budget)
        .with_recursion_limit(max_depth)
        .with_tokens_with_locations(tokens);
    let mut statements = parser
        .parse_statements()
        .map_err(|e| match budget.exhausted() {
            true => parse_budget::too_complex("the statement"),
            false => parse_error(sql, e, max_depth),
        })?;
    if statements.len() > 1 {
        return Err(Error::denied(format!(
            "multi-statement batches are not allowed ({} statements in `{}`); send one query \
             per request",
            statements.len(),
            clip(sql)
        )));
    }
    let Some(statement) = statements.pop() else {
        return Err(empty());
    };
    let Statement::Query(mut query) = statement else {
        return Err(statement::deny(&statement));
    };
    let mut walker = walk::Walker::new(opts, resolver);
    walker.walk_query(&mut query)?;
    let mut statement = Statement::Query(query);
    let printed = match opts.placement {
        Placement::Inline => roundtrip::print_checked(&mut statement, max_depth)?,
        Placement::Secured if opts.print_secured => statement.to_string(),
        Placement::Secured => String::new(),
    };
    Ok(Rewritten {
        statement,
        source_len: sql.len(),
        sql: printed,
        tables: walker.into_tables(),
    })
}

fn empty() -> Error {
    Error::invalid("the statement is empty; send one SELECT query")
}

/// Tokenizes like `Parser::try_with_sql` does.
pub(crate) fn tokenize(
    dialect: &GenericDialect,
    text: &str,
) -> std::result::Result<Vec<TokenWithSpan>, String> {
    Tokenizer::new(dialect, text)
        .with_unescape(true)
        .tokenize_with_location()
        .map_err(|e| e.to_string())
}

/// Lets `ACCOUNT.DB.TABLE` be written without quoting the account.
///
/// The tokenizer reads `111111111111.sales` as the number `111111111111.`
/// followed by `sales`. When that number is exactly the caller's account
/// followed by `.`, and the word after it is followed by another `.`, the
/// statement could not have parsed (a number's alias is a single word), so we
/// split it into the quoted identifier `"111111111111"` and `.`: this turns
/// only syntax errors into names, never changes a valid statement.
fn split_account_prefix(tokens: &mut Vec<TokenWithSpan>, account: &str) {
    let mut at = Vec::new();
    for (i, w) in tokens.windows(3).enumerate() {
        if let [
            TokenWithSpan {
                token: Token::Number(n, false),
                ..
            },
            TokenWithSpan {
                token: Token::Word(_),
                ..
            },
            TokenWithSpan {
                token: Token::Period,
                ..
            },
        ] = w
            && n.strip_suffix('.') == Some(account)
        {
            at.push(i);
        }
    }
    if at.is_empty() {
        return;
    }
    let mut out = Vec::with_capacity(tokens.len() + at.len());
    let mut next = at.into_iter().peekable();
    for (i, t) in std::mem::take(tokens).into_iter().enumerate() {
        if next.next_if_eq(&i).is_some() {
            let span = t.span;
            out.push(TokenWithSpan::new(
                Token::Word(Word {
                    value: account.to_string(),
                    quote_style: Some('"'),
                    keyword: Keyword::NoKeyword,
                }),
                span,
            ));
            out.push(TokenWithSpan::new(Token::Period, span));
        } else {
            out.push(t);
        }
    }
    *tokens = out;
}

fn syntax(sql: &str, detail: &str) -> Error {
    Error::invalid(format!(
        "`{}` is not valid SQL: {detail}; fix the syntax and retry",
        clip(sql)
    ))
}

fn parse_error(sql: &str, e: ParserError, max_depth: usize) -> Error {
    match e {
        ParserError::RecursionLimitExceeded => too_deep(max_depth),
        ParserError::TokenizerError(m) | ParserError::ParserError(m) => syntax(sql, &m),
    }
}

/// The error for statements nested deeper than the limits.
pub(crate) fn too_deep(limit: usize) -> Error {
    Error::invalid(format!(
        "the statement is nested too deeply (more than {limit} levels); simplify it, e.g. by \
         moving subqueries into a WITH clause or long OR chains into an IN list"
    ))
}
