//! Text sent to an upstream engine must mean what was checked (DESIGN §4).
//!
//! sqlparser's printer is not faithful for every literal: it leaves a quote
//! that follows a backslash, or a doubled quote, as it is, so the value
//! `x\'` prints as `'x\'` and the engine reading it back sees a string that
//! swallows the rest of the statement. We therefore
//! 1. print string literals that hold a quote or a backslash as escaped
//!    literals (`E'…'`), whose printer escapes both and which the generic
//!    dialect (DataFusion's default) reads back exactly, and
//! 2. parse the printed text again with the same dialect and settings, and
//!    refuse the statement unless that yields the very same AST.
//!
//! Step 2 is the guarantee; step 1 only keeps ordinary statements (a regex
//! with `\d`, a name with an apostrophe) from being refused.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Statement, Value, ValueWithSpan, VisitMut, VisitorMut};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::{Parser, ParserError};

use crate::error::{Error, Result};
use crate::parse_budget::{Budgeted, too_complex};

/// How much deeper than the client's statement the rewritten one may be:
/// derived tables and the policy's predicates add nesting.
const EXTRA_DEPTH: usize = 80;
/// Printed statements longer than this are parsed back and compared on a
/// stack of their own (see [`deep_stack_bytes`]): comparing and dropping a
/// tree recurses once per level, and a long statement may be a deep one (a
/// chain of 2,000 `UNION`s or `+`s) that would overflow a 2 MiB worker
/// stack. (Escaping and printing walk the tree as the rewrite's own walk
/// does, so they run where it ran.)
const SHALLOW_BYTES: usize = 1024;
/// Bounds of that stack (reserved, not touched unless used).
const MIN_DEEP_STACK: usize = 4 << 20;
const MAX_DEEP_STACK: usize = 256 << 20;

/// Stack for checking a printed statement of `len` bytes: a tree cannot be
/// deeper than its text is long, and 4 KiB per byte of text is far more
/// than any level's frames take.
fn deep_stack_bytes(len: usize) -> usize {
    len.saturating_mul(4096)
        .clamp(MIN_DEEP_STACK, MAX_DEEP_STACK)
}

/// Prints `statement` for an upstream engine (once) and checks that the
/// text parses back to the same statement.
///
/// Errors: [`Error::PermissionDenied`] when the printed text would mean
/// something else (never sent); [`Error::InvalidArgument`] when it is too
/// deep to check.
pub(crate) fn print_checked(statement: &mut Statement, max_depth: usize) -> Result<String> {
    let _ = statement.visit(&mut EscapeLiterals);
    let text = statement.to_string();
    if text.len() <= SHALLOW_BYTES {
        return parses_back(statement, text, max_depth);
    }
    // A fresh stack on this thread (no thread to start and join): mapped
    // once, touched only as deep as the check goes.
    stacker::grow(deep_stack_bytes(text.len()), || {
        parses_back(statement, text, max_depth)
    })
}

/// `text` if it parses to exactly `statement`.
fn parses_back(statement: &Statement, text: String, max_depth: usize) -> Result<String> {
    let dialect = GenericDialect {};
    let tokens = super::tokenize(&dialect, &text).map_err(|_| changed())?;
    let limit = max_depth.saturating_add(EXTRA_DEPTH);
    let budget = Budgeted::for_len(text.len());
    let mut parser = Parser::new(&budget)
        .with_recursion_limit(limit)
        .with_tokens_with_locations(tokens);
    let again = match parser.parse_statements() {
        Ok(again) => again,
        Err(_) if budget.exhausted() => return Err(too_complex("the rewritten statement")),
        Err(ParserError::RecursionLimitExceeded) => return Err(super::too_deep(max_depth)),
        Err(_) => return Err(changed()),
    };
    match again.as_slice() {
        [one] if one == statement => Ok(text),
        _ => Err(changed()),
    }
}

fn changed() -> Error {
    Error::denied(
        "the statement cannot be forwarded to the upstream engine: printed back as SQL it \
         would not mean what was checked (a quoted identifier holding `\"` after `\\` or a \
         doubled `\"`, or a literal the printer does not round-trip); rename or rewrite that \
         part of the statement"
            .to_string(),
    )
}

/// Turns `'…'` literals holding `'` or `\` into `E'…'` literals.
struct EscapeLiterals;

impl VisitorMut for EscapeLiterals {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<Self::Break> {
        if let Expr::Value(ValueWithSpan { value, .. }) = e
            && let Value::SingleQuotedString(s) = value
            && s.contains(['\'', '\\'])
        {
            *value = Value::EscapedStringLiteral(std::mem::take(s));
        }
        ControlFlow::Continue(())
    }
}
