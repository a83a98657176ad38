// A test file of its own (tests/NAME.rs) still finds the shared helpers
// here; new tests belong in tests/it/ as a module of the one test crate.
#[path = "../it/common/mod.rs"]
mod common_impl;
pub use common_impl::*;
