//! The use cases: one function per operation a client asks for, between the handlers
//! (which parse a request, make one call here and render the answer) and the rules and
//! the store below. Each has an error enum of its own that says what went wrong in the
//! domain's words; `error::ApiError` turns each into an HTTP answer with one `From`, so
//! statuses are chosen at the edge only.
//!
//! - [`account`]: signup, a password change, ending one login, every login, the session;
//! - [`devices`]: listing the logins of my session, ending one of them;
//! - [`login`]: a password login, a QR code and its handoff to a kiosk, a token opening
//!   another channel;
//! - [`write`]: every write to a live session (the customer's update, the agent's writes);
//! - [`whatsapp`]: filing an inbound WhatsApp message, once;
//! - [`proof`]: proving a phone with a code (a login, a password reset, a step-up);
//! - [`walink`]: proving a phone with WhatsApp click-to-verify (a login, a step-up);
//! - [`export`]: a copy of everything stored about the customer;
//! - [`erasure`]: erasing the customer and everything that names them.
//!
//! Logins by phone alone (a kiosk's start, the signed `/session/login`) are one call into
//! `sessions::phone_login` already.

pub mod account;
pub mod devices;
pub mod erasure;
pub mod export;
pub mod login;
pub mod proof;
pub mod renumber;
pub mod walink;
pub mod whatsapp;
pub mod write;
