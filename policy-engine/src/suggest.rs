//! "Did you mean …?" for names the caller got wrong (DESIGN §3 rule 12:
//! suggestions come only from names the caller may see, so a suggestion
//! is the same whether the name asked for is hidden or does not exist).

/// How far `candidate` is from `wanted` (optimal string alignment distance:
/// a swap of two neighbours counts once; case-insensitive), if it is close
/// enough to be a likely typo: at most a third of the longer name's length,
/// and at least one character.
pub fn near(wanted: &str, candidate: &str) -> Option<usize> {
    let (w, c) = (wanted.to_lowercase(), candidate.to_lowercase());
    let limit = (w.chars().count().max(c.chars().count()) / 3).max(1);
    let d = strsim::osa_distance(&w, &c);
    (d <= limit).then_some(d)
}

/// The candidate [`near`]est to `wanted`, if any is near enough. Ties go to
/// the first candidate in order, so the answer is stable.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if let Some(d) = near(wanted, c)
            && best.is_none_or(|(bd, _)| d < bd)
        {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_suggested_and_strangers_are_not() {
        let names = ["sales.orders", "sales.customers", "hr.employees"];
        assert_eq!(closest("sales.ordrs", names), Some("sales.orders"));
        assert_eq!(closest("SALES.ORDERS", names), Some("sales.orders"));
        assert_eq!(closest("sales.customer", names), Some("sales.customers"));
        assert_eq!(closest("finance.ledger", names), None);
        assert_eq!(closest("x", ["y"]), Some("y"));
        assert_eq!(closest("ab", ["xy"]), None);
        assert_eq!(closest("emial", ["id", "email"]), Some("email"));
        assert_eq!(closest("zzz", ["id", "email"]), None);
    }
}
