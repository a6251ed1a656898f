//! Filing an inbound WhatsApp message: the sender's phone-only login (shared with the
//! signed `/session/login`, without a token: the webhook has no client to give one to)
//! and the message appended to that session's chat, once however often Meta delivers it.

use chrono::Utc;

use crate::AppState;
use crate::channel::Channel;
use crate::identity::{self, WhatsappSender};
use crate::model::{Author, ChatMessage};
use crate::phone::PhoneNumber;
use crate::sessions::{self, Found, SessionError};
use crate::store::{Applied, Claim, Dedupe, SessionChanges};

/// How long a delivered message's id is remembered (Meta retries for about a day).
const DEDUPE_DAYS: i64 = 7;

/// What became of a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Filed {
    Stored,
    /// Filed before (a redelivery): nothing changed.
    Duplicate,
}

/// Why a message was not filed (the provider then retries it).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The sender's sessions kept ending under the write.
    #[error("the sender's session kept ending")]
    Contended,
    /// The delivery names neither a phone nor a user id.
    #[error("the message names no sender")]
    NoSender,
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<crate::store::StoreError> for FileError {
    fn from(err: crate::store::StoreError) -> Self {
        FileError::Session(err.into())
    }
}

/// Files `chat` from `sender` (their phone, their WhatsApp user id, or both: see
/// `identity`), Meta's `message_id`.
pub async fn file_message(
    state: &AppState,
    sender: &WhatsappSender,
    message_id: &str,
    chat: ChatMessage,
) -> Result<Filed, FileError> {
    let dedupe = Dedupe {
        key: format!("whatsapp#{message_id}"),
        // A message id is the whole identity of a delivery (no body to compare), so every
        // fingerprint is empty and any seen id, however written, is a duplicate.
        fingerprint: String::new(),
        ttl: chrono::Duration::days(DEDUPE_DAYS),
    };
    let now = Utc::now();
    // One round trip: claiming the message id (the dedupe check: a redelivery must not
    // log the phone in again, or start a session after a logout) beside the lookup of
    // the phone's session and of what the customers table says of the user id.
    let (claim, found, records) = tokio::join!(
        state.store.claim(&dedupe, now),
        async {
            match &sender.phone {
                Some(phone) => sessions::find(state, phone).await.map(Some),
                None => Ok(None),
            }
        },
        async {
            match &sender.user {
                Some(user) => state.store.whatsapp_user(user).await.map(Some),
                None => Ok(None),
            }
        },
    );
    if let Claim::Seen { .. } = claim? {
        return Ok(Filed::Duplicate);
    }
    let filed = async {
        let key = identity::settle(state, sender, records?)
            .await?
            .ok_or(FileError::NoSender)?;
        // A sender known by user id alone: their session is looked up now.
        let found = match (found?, sender.phone.as_ref() == Some(&key)) {
            (Some(found), true) => found,
            _ => sessions::find(state, &key).await?,
        };
        let name = sender.name.as_deref();
        file_claimed(state, &key, name, chat, Ok(found), now).await
    }
    .await;
    if filed.is_err() {
        // Not filed: the provider's retry must find the id free.
        state.store.release(&dedupe, now).await;
    }
    filed.map(|()| Filed::Stored)
}

/// Files a claimed message.
async fn file_claimed(
    state: &AppState,
    phone: &PhoneNumber,
    name: Option<&str>,
    chat: ChatMessage,
    found: Result<Found, SessionError>,
    now: chrono::DateTime<Utc>,
) -> Result<(), FileError> {
    let mut changes = SessionChanges {
        messages: vec![chat],
        by: Author::Customer(Channel::Whatsapp),
        joins: Some(Channel::Whatsapp),
        ..Default::default()
    };
    // Usually the phone's live session takes the message in one write, which also
    // records WhatsApp among its channels.
    if let Some((sid, max_expires_at)) = found?.live() {
        let expires_at = sessions::next_expiry(state, now, max_expires_at);
        let applied = state
            .store
            .write_changes(&sid, None, &changes, now, expires_at)
            .await?;
        if let Applied::Done(_) = applied {
            return Ok(());
        }
    }
    // None is live (or it ended a moment ago): the phone-only login starts or joins one.
    // Twice at most: a session that ends between the login and the write is replaced.
    changes.joins = None;
    for _ in 0..2 {
        let session = sessions::phone_session(state, phone, name).await?;
        let expires_at = sessions::next_expiry(state, now, session.max_expires_at);
        let applied = state
            .store
            .write_changes(session.id(), None, &changes, now, expires_at)
            .await?;
        if let Applied::Done(_) = applied {
            return Ok(());
        }
    }
    Err(FileError::Contended)
}
