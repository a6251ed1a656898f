//! Writing to a live session, for every writer: the customer's `/session/update`, the
//! agent's summary, recommendations and messages, a filed WhatsApp message. One sequence:
//! the next expiry, the store's write (see `store::Store::apply_changes`), its outcome.

use chrono::Utc;

use crate::AppState;
use crate::sessions;
use crate::store::{Applied, SessionChanges, SessionItem, StoreError, StoredLogin};

/// Why a write was not made.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The writing login was signed out, or its session ended, since it was checked.
    #[error("the writing login is no longer valid")]
    LoginGone,
    /// The session ended or expired (a write without a login: the agent's).
    #[error("the session ended")]
    SessionGone,
    /// The `Idempotency-Key` was used before for another request.
    #[error("the dedupe key was used for another write")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A write made (or found made before).
pub struct Written {
    /// The session afterwards; for a replay, as the request read it (the first write is
    /// in it already).
    pub session: SessionItem,
    pub replayed: bool,
    /// For a replay: when the first write was made, where known.
    pub first_at: Option<String>,
}

/// Applies `changes` to `session`, as `writer` (a customer's login, or `None` for the
/// agent), sliding its expiry.
pub async fn write(
    state: &AppState,
    session: &SessionItem,
    writer: Option<(&str, &StoredLogin)>,
    changes: &SessionChanges,
) -> Result<Written, WriteError> {
    let now = Utc::now();
    let expires_at = sessions::next_expiry(state, now, session.max_expires_at);
    let applied = state
        .store
        .apply_changes(session, writer, changes, now, expires_at)
        .await?;
    match applied {
        Applied::Done(after) => {
            sessions::trim(state, &after).await;
            Ok(Written {
                session: *after,
                replayed: false,
                first_at: None,
            })
        }
        Applied::Replayed(first_at) => Ok(Written {
            session: session.clone(),
            replayed: true,
            first_at,
        }),
        Applied::Gone if writer.is_some() => Err(WriteError::LoginGone),
        Applied::Gone => Err(WriteError::SessionGone),
        Applied::KeyReused => Err(WriteError::KeyReused),
    }
}
