//! One integration-test binary (fast to link), one module per concern. Everything runs
//! against DynamoDB Local; `make test` starts it and the HTTP stack for `e2e`.

mod attacks;
mod auth;
mod budgets;
mod channels;
mod codes;
mod courier;
mod drift;
mod dynamodb_local;
mod e2e;
mod erasure;
mod events;
mod export;
mod fault_proxy;
mod faults;
mod fuzz;
mod helpers;
mod iam;
mod identities;
mod import;
mod lifecycle;
mod load;
mod logs;
mod memory;
mod openapi;
mod qr;
mod readme;
mod retries;
mod sam_local;
mod schemathesis;
mod security;
mod upgrade;
mod validation;
mod walink;
mod whatsapp;
mod whatsapp_kinds;
