//! Runs every conformance case against the policy-engine library.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "test code: a panic is a failed test, and test items are not API"
)]

use std::path::Path;

#[test]
fn every_case_holds_through_the_library() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let cases = conformance::load_cases(&dir).unwrap();
    assert!(cases.len() >= 10, "corpus too small: {}", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let run =
            conformance::LibraryTarget::new(c).and_then(|mut t| conformance::run_case(c, &mut t));
        if let Err(e) = run {
            failures.push(format!("{}: {e:#}", c.path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}
