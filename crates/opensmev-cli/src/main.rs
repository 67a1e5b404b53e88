//! The opensmev binary.
fn main() {}
