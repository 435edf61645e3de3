//! "Did you mean …?" for names the caller got wrong (DESIGN §3 rule 12:
//! suggestions come only from names the caller may see, so a suggestion
//! is the same whether the name asked for is hidden or does not exist).

/// The candidate closest to `wanted` by edit distance (optimal string
/// alignment: a swap of two neighbours counts once; case-insensitive),
/// if one is close enough to be a likely typo: at most a third of the
/// longer name's length, and at least one character. Ties go to the first
/// candidate in order, so the answer is stable.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w = wanted.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let lc = c.to_lowercase();
        if lc == w {
            return Some(c);
        }
        let limit = (w.chars().count().max(lc.chars().count()) / 3).max(1);
        let d = strsim::osa_distance(&w, &lc);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `; did you mean `NAME`?` for an error message, or nothing.
pub fn did_you_mean<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(wanted, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
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
        assert_eq!(
            did_you_mean("emial", ["id", "email"]),
            "; did you mean `email`?"
        );
        assert_eq!(did_you_mean("zzz", ["id", "email"]), "");
    }
}
