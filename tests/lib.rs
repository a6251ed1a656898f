//! Test support shared by the test binaries: see `api/` for the tests themselves.

pub mod server;
