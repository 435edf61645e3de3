//! Which source tables a blueprint loads (DESIGN §7 `include`/`exclude`):
//! patterns with `%` (any run of characters) and `_` (one character) as in
//! SQL LIKE, matched against `SCHEMA.TABLE` (or `TABLE` for sources without
//! schemas, such as SQLite), case-sensitively. An empty `include` selects
//! every table; `exclude` wins over `include`.

/// Whether `name` matches the LIKE `pattern` (no escape character).
pub fn like(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with backtracking to the last `%`: O(|p|·|n|).
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        match p.get(i) {
            Some('%') => {
                star = Some((i, j));
                i += 1;
            }
            Some(c) if *c == '_' || Some(c) == n.get(j) => {
                i += 1;
                j += 1;
            }
            _ => match star {
                Some((si, sj)) => {
                    i = si + 1;
                    j = sj + 1;
                    star = Some((si, sj + 1));
                }
                None => return false,
            },
        }
    }
    p.get(i..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '%'))
}

/// Whether a blueprint with these patterns loads table `name`.
pub fn selects(include: &[String], exclude: &[String], name: &str) -> bool {
    (include.is_empty() || include.iter().any(|p| like(p, name)))
        && !exclude.iter().any(|p| like(p, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_as_sql_does() {
        assert!(like("public.orders", "public.orders"));
        assert!(like("public.cust%", "public.customers"));
        assert!(like("public.cust%", "public.cust"));
        assert!(!like("public.cust%", "public.acust"));
        assert!(like("public.%_tmp", "public.orders_tmp"));
        assert!(like("public.%_tmp", "public._tmp"), "`_` is a wildcard");
        assert!(!like("public.%_tmp", "public.tmp"));
        assert!(like("%", ""));
        assert!(like("a%b%c", "aXXbYYc"));
        assert!(!like("a%b%c", "aXXbYY"));
        assert!(like("o_ders", "orders"));
        assert!(!like("Orders", "orders"), "case-sensitive");
        // Many `%` on a long name stays fast (no exponential backtracking).
        let long = "a".repeat(10_000);
        assert!(!like("%a%a%a%a%a%a%b", &long));
    }

    #[test]
    fn exclude_wins_and_empty_include_takes_all() {
        let inc = vec!["public.%".to_string()];
        let exc = vec!["public.%_tmp".to_string()];
        assert!(selects(&inc, &exc, "public.orders"));
        assert!(!selects(&inc, &exc, "public.orders_tmp"));
        assert!(!selects(&inc, &exc, "audit.orders"));
        assert!(selects(&[], &[], "anything"));
        assert!(!selects(&[], &exc, "public.x_tmp"));
    }
}
