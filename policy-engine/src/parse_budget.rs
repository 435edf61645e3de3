//! A bound on how much work parsing one piece of SQL may take.
//!
//! sqlparser backtracks: where a construct may be read two ways it tries
//! one, and on failure rewinds and tries the other. Nested, that is
//! exponential. `SELECT a.b[~s.o&a.b[~s.o&…` (found by the `rewrite` fuzz
//! target) makes the field access after each `.` first parse the rest of
//! the statement as an expression, fail at its unclosed `[`, and parse it
//! again as an identifier followed by a subscript: each repetition doubles
//! the time, and 30 of them (270 bytes) would hold a worker for hours,
//! before anything is authorized. The parser's recursion limit does not
//! help: the recursion is shallow, the breadth is not.
//!
//! [`Budgeted`] is the generic dialect, the one DataFusion parses with,
//! that counts the parser's calls for the next expression and the next
//! operator, and stops the parse when a statement has used
//! [`STEPS_PER_BYTE`] per byte of its text. It stops it with
//! `RecursionLimitExceeded`, the one error sqlparser's backtracking passes
//! on rather than swallows, and [`Budgeted::exhausted`] tells that apart
//! from a real recursion limit. An ordinary statement takes about one step
//! per byte, so the bound only ever stops a statement whose parse has gone
//! non-linear.
//!
//! The wrapper must parse exactly as [`GenericDialect`] does: it reports
//! that dialect's type (sqlparser checks the dialect's type in places) and
//! forwards every method [`GenericDialect`] overrides (the list below is
//! that of sqlparser 0.62; the test `budgeted_parses_as_generic` compares
//! the two on the rewriter's corpus).

use std::any::TypeId;
use std::cell::Cell;

use sqlparser::ast::Expr;
use sqlparser::dialect::{Dialect, GenericDialect};
use sqlparser::parser::{Parser, ParserError};

use crate::error::Error;

/// Parser steps (calls for the next expression or operator) a text may
/// take per byte.
pub const STEPS_PER_BYTE: u64 = 16;
/// Steps every text may take, however short.
const BASE_STEPS: u64 = 4096;

/// [`GenericDialect`] with a bound on the parser's work.
#[derive(Debug)]
pub(crate) struct Budgeted {
    left: Cell<u64>,
    exhausted: Cell<bool>,
}

impl Budgeted {
    /// A budget for parsing `text_len` bytes.
    pub(crate) fn for_len(text_len: usize) -> Self {
        let bytes = u64::try_from(text_len).unwrap_or(u64::MAX);
        Self {
            left: Cell::new(
                bytes
                    .saturating_mul(STEPS_PER_BYTE)
                    .saturating_add(BASE_STEPS),
            ),
            exhausted: Cell::new(false),
        }
    }

    /// Whether the parse was stopped for using up its budget (the
    /// `RecursionLimitExceeded` it returned is then ours).
    pub(crate) fn exhausted(&self) -> bool {
        self.exhausted.get()
    }

    /// Steps taken so far.
    #[cfg(test)]
    fn used(&self, text_len: usize) -> u64 {
        Self::for_len(text_len).left.get() - self.left.get()
    }

    /// Takes one step; an error once the budget is used up.
    fn step<T>(&self) -> Option<Result<T, ParserError>> {
        match self.left.get().checked_sub(1) {
            Some(left) => {
                self.left.set(left);
                None
            }
            None => {
                self.exhausted.set(true);
                Some(Err(ParserError::RecursionLimitExceeded))
            }
        }
    }
}

/// The error for a text whose parse ran out of budget.
pub(crate) fn too_complex(what: &str) -> Error {
    Error::invalid(format!(
        "{what} is too costly to parse (more than {STEPS_PER_BYTE} parser steps per byte; \
         nested field access and subscripts such as `a.b[c.d[…` are read more than once); \
         simplify it, e.g. close each `[` and `(` where it belongs"
    ))
}

macro_rules! forward {
    ($($name:ident)*) => {
        $(fn $name(&self) -> bool {
            GenericDialect.$name()
        })*
    };
}

impl Dialect for Budgeted {
    fn dialect(&self) -> TypeId {
        TypeId::of::<GenericDialect>()
    }

    fn parse_prefix(&self, _parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        self.step()
    }

    fn get_next_precedence(&self, _parser: &Parser) -> Option<Result<u8, ParserError>> {
        self.step()
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        GenericDialect.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        GenericDialect.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        GenericDialect.is_identifier_part(ch)
    }

    forward! {
        supports_unicode_string_literal supports_partition_by_after_order_by
        supports_array_join_syntax supports_group_by_expr supports_group_by_with_modifier
        supports_left_associative_joins_without_parens supports_connect_by
        supports_match_recognize supports_pipe_operator supports_start_transaction_modifier
        supports_window_function_null_treatment_arg supports_dictionary_syntax
        supports_window_clause_named_window_reference supports_parenthesized_set_variables
        supports_select_wildcard_except support_map_literal_syntax allow_extract_custom
        allow_extract_single_quotes supports_extract_comma_syntax
        supports_create_view_comment_syntax supports_parens_around_table_factor
        supports_values_as_table_factor supports_create_index_with_clause
        supports_explain_with_utility_options supports_limit_comma supports_update_order_by
        supports_from_first_select supports_projection_trailing_commas
        supports_asc_desc_in_column_definition supports_try_convert
        supports_bitwise_shift_operators supports_comment_on supports_load_extension
        supports_named_fn_args_with_assignment_operator supports_struct_literal
        supports_empty_projections supports_nested_comments supports_multiline_comment_hints
        supports_user_host_grantee supports_string_escape_constant
        supports_array_typedef_with_brackets supports_match_against supports_set_names
        supports_comma_separated_set_assignments supports_filter_during_aggregation
        supports_select_wildcard_exclude supports_data_type_signed_suffix
        supports_interval_options supports_quote_delimited_string
        supports_select_wildcard_replace supports_select_wildcard_ilike
        supports_select_wildcard_rename supports_optimize_table supports_install
        supports_detach supports_prewhere supports_with_fill supports_limit_by
        supports_interpolate supports_settings supports_select_format
        supports_comment_optimizer_hint supports_constraint_keyword_without_name
        supports_key_column_option supports_comma_separated_trim supports_cte_without_as
        supports_select_item_multi_column_alias supports_xml_expressions
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        reason = "test code: a panic is a failed test"
    )]
    use super::*;

    /// Statements, named: the rewriter fuzz target's checked-in seeds and a
    /// few large ordinary ones.
    fn corpus() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/rewrite");
        let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("seed-"))
            })
            .filter_map(|p| {
                let sql = String::from_utf8(std::fs::read(&p).ok()?).ok()?;
                Some((p.file_name()?.to_str()?.to_string(), sql))
            })
            .collect();
        assert!(out.len() >= 10, "the seed corpus is missing");
        let list: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
        out.push((
            "in-list".into(),
            format!(
                "SELECT id FROM sales.orders WHERE id IN ({})",
                list.join(", ")
            ),
        ));
        let terms: Vec<String> = (0..2000).map(|i| format!("c{i} * 2 + {i}")).collect();
        out.push((
            "terms".into(),
            format!("SELECT {} FROM t", terms.join(", ")),
        ));
        out.push((
            "cases".into(),
            format!(
                "SELECT {} FROM t",
                "CASE WHEN a.b[1].c = 'x' THEN f(a, b.c[2:3]) ELSE g(1) END, ".repeat(200) + "1"
            ),
        ));
        out
    }

    fn parse(dialect: &dyn Dialect, sql: &str) -> Result<Vec<sqlparser::ast::Statement>, ()> {
        Parser::new(dialect)
            .with_recursion_limit(50)
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_statements())
            .map_err(|_| ())
    }

    #[test]
    fn budgeted_parses_as_generic() {
        let mut max_per_byte = 0.0f64;
        for (name, sql) in corpus() {
            let budget = Budgeted::for_len(sql.len());
            let ours = parse(&budget, &sql);
            if name.starts_with("seed-exponential") {
                // Known costly: stopped, and not parsed the slow way here.
                assert!(budget.exhausted(), "{name}");
                continue;
            }
            assert!(!budget.exhausted(), "{name} went over the budget: {sql}");
            assert_eq!(ours, parse(&GenericDialect, &sql), "{name}: {sql}");
            if sql.len() > 200 {
                let per_byte = budget.used(sql.len()) as f64 / sql.len() as f64;
                max_per_byte = max_per_byte.max(per_byte);
            }
        }
        // Ordinary statements stay far below the bound.
        assert!(max_per_byte < STEPS_PER_BYTE as f64 / 4.0, "{max_per_byte}");
    }

    /// The input the fuzzer found (8.6 s to a syntax error in a debug
    /// build without the budget), and its class: each nested `.x[` is
    /// parsed twice. Without the budget this test does not end.
    #[test]
    fn nested_backtracking_is_stopped_at_the_budget() {
        let found = "SELECT $111111s011.L.o55.sale55salesswm.o111111sa111.L.o55.sale5salses5.\
                     rdez11.sal[~s.o&rda011.L.o55.sale55salesswm.o111111sa111.L.o55.sale5salses5.\
                     rdez11.sal[~s.o&rderswm.ordez11.sal[s.o&rders";
        let budget = Budgeted::for_len(found.len());
        assert_eq!(parse(&budget, found), Err(()));
        assert!(budget.exhausted());
        for pattern in ["a.b[~s.o&", "x.y.z[~a.b.c&", "a.b[-c.d+", "f(a.b[~c.d&"] {
            for n in [12, 16, 24, 48, 400] {
                let sql = format!("SELECT {}", pattern.repeat(n));
                let budget = Budgeted::for_len(sql.len());
                assert_eq!(parse(&budget, &sql), Err(()), "{sql}");
                // Below the recursion limit, it is the budget that stops it.
                if pattern == "a.b[~s.o&" && n <= 12 {
                    assert!(budget.exhausted(), "{sql}");
                }
            }
        }
        // Short, it is only a syntax error.
        let sql = format!("SELECT {}", "a.b[~s.o&".repeat(3));
        let budget = Budgeted::for_len(sql.len());
        assert_eq!(parse(&budget, &sql), Err(()));
        assert!(!budget.exhausted());
    }
}
