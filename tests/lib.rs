//! Test support shared by the test binaries: see `api/` for the tests themselves.

pub mod scope;
pub mod server;
