//! Account events: what happened to a customer's account and its logins (a login, a
//! logout, a login ended from another device, a password change or reset, a merge, an
//! export, an erasure, a number change), when, on which channel and, for a kiosk, which
//! kiosk and store. Never a secret: no token, password, code or hash goes in.
//!
//! Kept 90 days ([`RETENTION_DAYS`], the messages table's TTL), read back in time order by
//! [`crate::store::Store::account_events`] (the export shows them).
//!
//! Recording is best effort: a failed record is logged and the request carries on, since
//! refusing a logout (or a login) because its record could not be written would lock the
//! customer in (or out) over bookkeeping.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::channel::Channel;
use crate::logins::{Group, LoginMark};

/// How long an event is kept.
pub const RETENTION_DAYS: i64 = 90;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A login was issued (a password, a code, a kiosk, WhatsApp, a QR handoff).
    Login,
    /// A login ended itself (`/auth/logout`, a local `/session/end`).
    Logout,
    /// A login was ended from another login of the session (`DELETE /auth/sessions/{id}`),
    /// or by the operator revoking the kiosk that made it (`kiosk`, and no channel).
    Revocation,
    /// Every login ended at once (`/auth/logout-all`, a global `/session/end`).
    LogoutAll,
    PasswordChange,
    /// A password set with a `reset` code.
    PasswordReset,
    /// Another customer record of the same person folded into this one.
    Merge,
    Export,
    Erasure,
    NumberChange,
}

/// One event, as recorded and as [`crate::store::Store::account_events`] returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEvent {
    /// RFC 3339 UTC.
    pub at: String,
    pub kind: EventKind,
    /// The channel of the login that did it (or was made), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// The kiosk's id, for a kiosk login (events recorded before the kiosk registry hold
    /// the fingerprint of the kiosk's key instead; never the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kiosk: Option<String>,
    /// That kiosk's store, for a login made at a kiosk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// The login concerned (its token id, as `GET /auth/sessions` shows it; never the
    /// token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_id: Option<String>,
}

impl AccountEvent {
    /// An event of `kind` now, with no channel yet.
    pub fn new(kind: EventKind) -> Self {
        Self::at(kind, Utc::now())
    }

    pub fn at(kind: EventKind, at: DateTime<Utc>) -> Self {
        Self {
            at: crate::model::rfc3339(at),
            kind,
            channel: None,
            kiosk: None,
            store: None,
            login_id: None,
        }
    }

    pub fn on(mut self, channel: Channel) -> Self {
        self.channel = Some(channel);
        self
    }

    /// Made at `kiosk` (by its key, or handed over to it by QR code).
    pub fn at_kiosk(mut self, kiosk: &crate::kiosks::Kiosk) -> Self {
        self.kiosk = Some(kiosk.id.clone());
        self.store = Some(kiosk.store.clone());
        self
    }

    /// The login concerned, and its kiosk when a kiosk made it.
    pub fn of_login(mut self, login_id: &str, mark: Option<&LoginMark>) -> Self {
        self.login_id = Some(login_id.to_string());
        if let Some(LoginMark {
            group: Group::Kiosk(key),
            ..
        }) = mark
            && !key.is_empty()
        {
            self.kiosk = Some(key.clone());
        }
        self
    }
}

/// A merge: a customer known only by a WhatsApp user id folded into the phone's.
pub fn merged() -> AccountEvent {
    AccountEvent::new(EventKind::Merge).on(Channel::Whatsapp)
}

/// A password set with a `reset` code, by a login on `channel`.
pub fn reset(channel: Channel) -> AccountEvent {
    AccountEvent::new(EventKind::PasswordReset).on(channel)
}

/// Records `event` for `customer_id`. Never fails the request: a failure is logged (the
/// kind and the error, nothing secret) and the caller goes on.
pub async fn record(state: &AppState, customer_id: &str, event: AccountEvent) {
    record_in(&state.store, customer_id, event).await
}

/// [`record`], for a caller holding a store alone (an operator's command).
pub async fn record_in(store: &crate::store::Store, customer_id: &str, event: AccountEvent) {
    if let Err(err) = store.put_event(customer_id, &event).await {
        tracing::warn!(kind = ?event.kind, error = %err, "an account event was not recorded");
    }
}
