//! Empty: scripts/install-ballista builds the binaries of this package's
//! dependencies, not this one.
fn main() {}
