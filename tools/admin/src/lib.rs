//! Operator commands, as a library so that tests run exactly what operators run.

pub mod import;
pub mod kiosk;
pub mod tables;
