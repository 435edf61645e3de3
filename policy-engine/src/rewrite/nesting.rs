//! A nesting estimate over the token stream, taken before parsing.
//!
//! sqlparser's recursion limit bounds prefix nesting (parentheses, `NOT`,
//! subqueries) but not left-deep chains: `1+1+1+…` or `… UNION … UNION …`
//! parse in a loop into a tree as deep as the chain is long, and visiting,
//! printing or dropping that tree recurses once per level. We bound the
//! depth from the tokens instead: every operator, keyword or bracket may add
//! one level (string literals too: some dialects chain adjacent literals), a
//! comma starts a new sibling (whose depth is a maximum, not a sum), and a
//! bracketed group adds one level plus its own depth to the enclosing element.
//! The estimate is an upper bound for the chains above and costs one pass.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::Result;

#[derive(Default)]
struct Level {
    /// Operators and keywords in the current comma-separated element.
    ops: usize,
    /// Set operators at this level (not reset by commas: `SELECT 1, 2 UNION …`).
    setops: usize,
    /// Deepest bracketed group in the current element.
    child: usize,
    /// Deepest finished element.
    best: usize,
}

impl Level {
    fn total(&self) -> usize {
        self.best
            .max(self.ops.saturating_add(self.child))
            .saturating_add(self.setops)
            .saturating_add(1)
    }
}

/// Fails with [`super::too_deep`] when the estimated nesting exceeds `limit`.
pub(crate) fn check(tokens: &[TokenWithSpan], limit: usize) -> Result<()> {
    let mut stack: Vec<Level> = vec![Level::default()];
    for t in tokens {
        match &t.token {
            Token::LParen | Token::LBracket | Token::LBrace => {
                // The group is an operand of whatever precedes it, which may
                // itself be a chain (`a[1][2]…`, `f(x)(y)…`): count the
                // opening bracket at the enclosing level too.
                if let Some(top) = stack.last_mut() {
                    top.ops = top.ops.saturating_add(1);
                }
                stack.push(Level::default());
                if stack.len() > limit {
                    return Err(super::too_deep(limit));
                }
                continue;
            }
            Token::RParen | Token::RBracket | Token::RBrace if stack.len() > 1 => {
                if let Some(done) = stack.pop() {
                    let depth = done.total();
                    if let Some(top) = stack.last_mut() {
                        top.child = top.child.max(depth);
                    }
                }
            }
            _ => {}
        }
        let Some(top) = stack.last_mut() else {
            return Ok(());
        };
        match &t.token {
            Token::Comma => {
                top.best = top.best.max(top.ops.saturating_add(top.child));
                top.ops = 0;
                top.child = 0;
            }
            Token::Whitespace(_)
            | Token::EOF
            | Token::SemiColon
            | Token::RParen
            | Token::RBracket
            | Token::RBrace
            | Token::Number(..) => {}
            Token::Word(w) if w.quote_style.is_some() || w.keyword == Keyword::NoKeyword => {}
            Token::Word(w)
                if matches!(
                    w.keyword,
                    Keyword::UNION | Keyword::INTERSECT | Keyword::EXCEPT | Keyword::MINUS
                ) =>
            {
                // `q1 UNION q2 UNION …` nests one level per operator, and each
                // branch is a sibling like a comma-separated element.
                top.best = top.best.max(top.ops.saturating_add(top.child));
                top.ops = 0;
                top.child = 0;
                top.setops = top.setops.saturating_add(1);
            }
            _ => top.ops = top.ops.saturating_add(1),
        }
        if top.total() > limit {
            return Err(super::too_deep(limit));
        }
    }
    let depth = stack.iter().rev().fold(0usize, |inner, l| {
        l.best
            .max(l.ops.saturating_add(l.child.max(inner)))
            .saturating_add(l.setops)
            .saturating_add(1)
    });
    if depth > limit {
        return Err(super::too_deep(limit));
    }
    Ok(())
}
