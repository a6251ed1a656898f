//! Filing an inbound WhatsApp message: the sender's phone-only login (shared with the
//! signed `/session/login`, without a token: the webhook has no client to give one to)
//! and the message appended to that session's chat, once however often Meta delivers it.
//! A catalog order also adds its items to the session's cart, in the same write; an
//! edit or a deletion changes the customer's earlier message where it is stored.

mod cart;

use chrono::Utc;

use crate::AppState;
use crate::channel::Channel;
use crate::identity::{self, WhatsappSender};
use crate::model::{Author, CartItem, ChatMessage};
use crate::phone::PhoneNumber;
use crate::sessions::{self, Found, SessionError};
use crate::store::{
    Applied, Claim, Dedupe, MessageLocation, Revision, SessionChanges, WhatsappMessage, sort_key,
    whatsapp_claim_key,
};

pub use cart::add_order;

/// How long a delivered message's id is remembered (Meta retries for about a day; a
/// customer may delete a message for 2 days, and its deletion finds it through this).
const DEDUPE_DAYS: i64 = 7;

/// What filing a message does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A new message in the chat; a catalog order's items also go to the cart.
    New { order: Vec<CartItem> },
    /// The customer edited their message `original`: its stored content becomes this
    /// message's.
    Edit { original: String },
    /// The customer deleted their message `original`: its stored content becomes this
    /// message's (a placeholder), so the agent no longer reads what they took back.
    Delete { original: String },
}

/// What became of a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Filed {
    Stored,
    /// Filed before (a redelivery): nothing changed.
    Duplicate,
    /// An edit or deletion changed the stored message.
    Revised,
    /// An edit or deletion of a message that is not filed (never was: a click-to-verify
    /// text, or its claim is forgotten), or an edit older than the change already made:
    /// acknowledged, nothing changed.
    Unmatched,
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
/// `identity`), Meta's `message_id`, doing what `action` says.
pub async fn file_message(
    state: &AppState,
    sender: &WhatsappSender,
    message_id: &str,
    chat: ChatMessage,
    action: Action,
) -> Result<Filed, FileError> {
    let now = Utc::now();
    // The provider's time: history sorts by when it was said, and revisions delivered
    // out of order are told apart by it.
    let said = chrono::DateTime::parse_from_rfc3339(&chat.at)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now);
    // A new message's place in the history is chosen now, so that its claim records it.
    // The provider's time has whole seconds only: a message delivered within its second
    // (the usual case) is placed by our clock's milliseconds, so that two said in one
    // second keep their order; one delivered late (a retry) goes back to its time.
    let placed_at = if now - said < chrono::Duration::seconds(2) {
        now
    } else {
        said
    };
    let place = matches!(action, Action::New { .. }).then(|| sort_key(placed_at, 0));
    let dedupe = Dedupe {
        key: whatsapp_claim_key(message_id),
        // A message id is the whole identity of a delivery (no body to compare), so every
        // fingerprint is empty and any seen id, however written, is a duplicate.
        fingerprint: String::new(),
        ttl: chrono::Duration::days(DEDUPE_DAYS),
        sort_key: place.clone(),
    };
    let name = sender.name.as_deref();
    let filed = match action {
        Action::New { order } => {
            // One round trip: claiming the message id (the dedupe check: a redelivery
            // must not log the phone in again, or start a session after a logout) beside
            // the lookup of the phone's session and of what the customers table says of
            // the sender's user id.
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
            let new = New {
                whatsapp: WhatsappMessage {
                    id: message_id.to_string(),
                    sort_key: place.unwrap_or_else(|| sort_key(said, 0)),
                },
                order: &order,
                now,
            };
            async {
                let key = identity::settle(state, sender, records?)
                    .await?
                    .ok_or(FileError::NoSender)?;
                // A sender known by user id alone: their session is looked up now.
                let found = match (found?, sender.phone.as_ref() == Some(&key)) {
                    (Some(found), true) => found,
                    _ => sessions::find(state, &key).await?,
                };
                file_claimed(state, &key, name, chat, Ok(found), new).await
            }
            .await
            .map(|()| Filed::Stored)
        }
        Action::Edit { original } => {
            let revision = Revise {
                original: &original,
                kind: Revision::Edit,
                said: said.timestamp(),
                now,
            };
            revise(state, sender, &dedupe, &chat, revision).await
        }
        Action::Delete { original } => {
            let revision = Revise {
                original: &original,
                kind: Revision::Delete,
                said: said.timestamp(),
                now,
            };
            revise(state, sender, &dedupe, &chat, revision).await
        }
    };
    if filed.is_err() {
        // Not filed: the provider's retry must find the id free.
        state.store.release(&dedupe, now).await;
    }
    filed
}

/// A new message's particulars, for [`file_claimed`].
struct New<'a> {
    whatsapp: WhatsappMessage,
    order: &'a [CartItem],
    now: chrono::DateTime<Utc>,
}

/// Files a claimed new message.
async fn file_claimed(
    state: &AppState,
    phone: &PhoneNumber,
    name: Option<&str>,
    chat: ChatMessage,
    found: Result<Found, SessionError>,
    new: New<'_>,
) -> Result<(), FileError> {
    let mut changes = SessionChanges {
        messages: vec![chat],
        by: Author::Customer(Channel::Whatsapp),
        joins: Some(Channel::Whatsapp),
        whatsapp: Some(new.whatsapp),
        ..Default::default()
    };
    // Usually the phone's live session takes the message in one write, which also
    // records WhatsApp among its channels. Otherwise (none is live, or it ended a moment
    // ago) the phone-only login starts or joins one. An order's cart is merged into the
    // cart as read, and the write holds only while the cart is still that one. Three
    // tries at most: a session that ends, or a cart replaced, between the read and the
    // write is read again.
    let mut live = found?.live().map(|(sid, cap)| (sid, cap, None));
    for _ in 0..3 {
        let (sid, max_expires_at, cart) = match live.take() {
            Some(found) => found,
            None => {
                changes.joins = None;
                let session = sessions::phone_session(state, phone, name).await?;
                (session.pk, session.max_expires_at, Some(session.cart))
            }
        };
        if !new.order.is_empty() {
            // The live session found by the index carries no cart: one read for it.
            let cart = match cart {
                Some(cart) => cart,
                None => match state.store.session(&sid).await? {
                    Some(item) => item.cart,
                    None => continue,
                },
            };
            changes.cart = Some(add_order(&cart, new.order));
            changes.cart_was = Some(cart);
        }
        let expires_at = sessions::next_expiry(state, new.now, max_expires_at);
        let applied = state
            .store
            .write_changes(&sid, None, &changes, new.now, expires_at)
            .await?;
        if let Applied::Done(_) = applied {
            return Ok(());
        }
    }
    Err(FileError::Contended)
}

/// An edit or deletion's particulars, for [`revise`].
struct Revise<'a> {
    original: &'a str,
    kind: Revision,
    /// When the customer made it (epoch seconds, the provider's time).
    said: i64,
    /// The claim's time: giving the claim back checks it.
    now: chrono::DateTime<Utc>,
}

/// Applies an edit or deletion (claimed as `dedupe`) to the stored message `original`
/// in the sender's live session: one round trip for the claim beside the original's
/// claim and the phone's session, one for the change. Replaying one is harmless, but
/// the claim keeps an old edit redelivered after a newer one from winning within the
/// same second.
async fn revise(
    state: &AppState,
    sender: &WhatsappSender,
    dedupe: &Dedupe,
    chat: &ChatMessage,
    revision: Revise<'_>,
) -> Result<Filed, FileError> {
    // Whose history: the phone's when the delivery names only that, otherwise the
    // customer the user id leads to (one more read).
    let phone = match (&sender.phone, &sender.user) {
        (Some(phone), None) => phone.clone(),
        _ => identity::settle(state, sender, None)
            .await?
            .ok_or(FileError::NoSender)?,
    };
    let phone = &phone;
    let (claim, sort_key, found) = tokio::join!(
        state.store.claim(dedupe, revision.now),
        state.store.whatsapp_sort_key(revision.original),
        sessions::find(state, phone)
    );
    if let Claim::Seen { .. } = claim? {
        return Ok(Filed::Duplicate);
    }
    // Not filed (or forgotten), or the sender has no live session: the message is in
    // no history the agent reads, so there is nothing to change.
    let (Some(sort_key), Some((session_id, _))) = (sort_key?, found?.live()) else {
        tracing::info!("an edit or deletion of a message that is not filed; nothing changed");
        return Ok(Filed::Unmatched);
    };
    let location = MessageLocation {
        session_id,
        sort_key,
    };
    let changed = state
        .store
        .revise_message(
            &location,
            revision.original,
            &chat.content,
            revision.kind,
            revision.said,
        )
        .await?;
    Ok(if changed {
        Filed::Revised
    } else {
        Filed::Unmatched
    })
}
