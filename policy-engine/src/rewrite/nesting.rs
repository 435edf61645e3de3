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
//!
//! A second pass bounds a shape that is shallow but costly to parse: joins
//! in parentheses whose first table is itself parenthesised, which sqlparser
//! reads twice per level (see [`parenthesised_joins`]).

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::{Error, Result};

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

/// Fails with [`super::too_deep`] when the estimated nesting exceeds `limit`,
/// or when parenthesised joins nest more than
/// [`super::MAX_PARENTHESISED_JOINS`] deep (see [`parenthesised_joins`]):
/// the bounds every parse of policy-relevant SQL takes first.
pub(crate) fn check(tokens: &[TokenWithSpan], limit: usize) -> Result<()> {
    depth(tokens, limit)?;
    parenthesised_joins(tokens, super::MAX_PARENTHESISED_JOINS)
}

/// The nesting estimate of the module notes.
fn depth(tokens: &[TokenWithSpan], limit: usize) -> Result<()> {
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

/// Fails when parenthesised joins whose first table is itself in
/// parentheses nest more than `limit` deep.
///
/// After `FROM`, `JOIN` or a comma of a FROM list, sqlparser reads a `(` first
/// as a derived table and, when that fails, again as a nested join. In
/// `((SELECT * FROM L) AS a CROSS JOIN b)` the first reading fails only at
/// `AS`, after parsing `L` whole, so both readings parse `L`: each such level
/// doubles the work (15 levels, 576 bytes, took 0.65 s in a debug build),
/// and none of it passes through the expression parser that the parse
/// budget counts. We count, on the tokens, how many table-position `(` that
/// open with another `(` enclose each point, across subqueries. The count
/// may be too high (refusing a statement that would have parsed fast), never
/// too low.
fn parenthesised_joins(tokens: &[TokenWithSpan], limit: usize) -> Result<()> {
    /// One open bracket: the table-position `((` levels around it, and
    /// whether its own text is in a FROM list.
    struct Open {
        depth: usize,
        in_from: bool,
    }
    let mut stack = vec![Open {
        depth: 0,
        in_from: false,
    }];
    let mut prev: Option<&Token> = None;
    // Whether the previous token is a `(` in table position.
    let mut prev_table_paren = false;
    for t in tokens {
        let token = &t.token;
        if matches!(token, Token::Whitespace(_)) {
            continue;
        }
        let open = stack.len();
        let Some(top) = stack.last_mut() else {
            return Ok(());
        };
        let mut table_paren = false;
        match token {
            Token::LParen | Token::LBracket | Token::LBrace => {
                table_paren = matches!(token, Token::LParen)
                    && match prev {
                        Some(Token::Word(w)) => matches!(
                            w.keyword,
                            Keyword::FROM
                                | Keyword::JOIN
                                | Keyword::LATERAL
                                | Keyword::APPLY
                                | Keyword::USING
                                | Keyword::UPDATE
                                | Keyword::INTO
                                | Keyword::TABLE
                        ),
                        Some(Token::Comma) => top.in_from,
                        Some(Token::LParen) => prev_table_paren,
                        _ => false,
                    };
                let mut depth = top.depth;
                if table_paren && prev_table_paren {
                    depth = depth.saturating_add(1);
                    if depth > limit {
                        return Err(Error::invalid(format!(
                            "the statement nests joins in parentheses more than {limit} deep \
                             with a parenthesised first table (`((… ) AS a JOIN …)`); such \
                             nesting is parsed twice per level, so it is refused: drop the \
                             extra parentheses, or name the inner joins in a WITH clause"
                        )));
                    }
                }
                stack.push(Open {
                    depth,
                    // A nested join's text is a table position too.
                    in_from: table_paren,
                });
            }
            Token::RParen | Token::RBracket | Token::RBrace if open > 1 => {
                stack.pop();
            }
            Token::Word(w) => match w.keyword {
                Keyword::FROM | Keyword::JOIN | Keyword::APPLY => top.in_from = true,
                Keyword::WHERE
                | Keyword::GROUP
                | Keyword::HAVING
                | Keyword::ORDER
                | Keyword::LIMIT
                | Keyword::OFFSET
                | Keyword::QUALIFY
                | Keyword::WINDOW
                | Keyword::UNION
                | Keyword::EXCEPT
                | Keyword::INTERSECT
                | Keyword::SELECT => top.in_from = false,
                _ => {}
            },
            _ => {}
        }
        prev = Some(token);
        prev_table_paren = table_paren;
    }
    Ok(())
}
