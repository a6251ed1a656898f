//! Empty: this crate only unifies dependency features across the workspace's host builds
//! (see its Cargo.toml).
