//! Erasing a customer and everything that names them (`POST /auth/me/delete`, and the
//! operator's `omnisession-admin erase`).
//!
//! Everything is deleted before the answer: a Lambda function does nothing once it has
//! answered, and 5 000 messages take well under a second in parallel batches. The order:
//! 1. what is about to go is recorded (`erase#<phone>`), so that a run cut short (a
//!    timeout, throttling) is finished by the operator's `erase` from the record, even
//!    once the sessions that named the rest have gone;
//! 2. each session and the phone's lock: from here every token is refused, the agent's
//!    routes answer 404, and every write's condition (the session exists) fails;
//! 3. the logins, messages (with their WhatsApp `seen#` claims), codes, sends, buckets and
//!    identifier records found by key;
//! 4. a sweep (filtered `Scan` of the customers and sessions tables) for the short-lived
//!    items keyed by what cannot be rebuilt: `Idempotency-Key` claims, other addresses'
//!    guessing buckets, revoked logins, QR codes, click-to-verify links, hourly counts;
//! 5. the messages once more after a pause: a write whose session update landed before
//!    step 2 puts its messages after it (a straggler);
//! 6. the customer record and id claim (until now a signup of the phone is a 409), and
//!    the record of step 1.

use std::time::Duration;

use crate::AppState;
use crate::codes::{Code, Purpose};
use crate::guard::{self, GuardError};
use crate::passwords::Password;
use crate::phone::PhoneNumber;
use crate::service::proof;
use crate::sessions::Authenticated;
use crate::store::{
    Item, LastItems, Needles, SessionItem, Store, StoreError, Table, login_item, message_key,
    phone_items, user_items, whatsapp_claim_item,
};

/// How long a write that passed its session check may still be putting its messages.
pub const STRAGGLER_PAUSE: Duration = Duration::from_millis(1500);

/// What proves, beyond a password login, that the customer means it.
pub enum Consent<'a> {
    CurrentPassword(&'a Password),
    ResetCode(&'a Code),
}

#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    /// A wrong `current_password` (counted as a failed login).
    #[error("the current password does not match")]
    WrongPassword,
    /// A wrong, used or expired `reset` code.
    #[error("the code is wrong, expired or already used")]
    InvalidCode,
    /// No customer and no unfinished erasure for this phone (the operator's command).
    #[error("no customer has this phone number")]
    NoCustomer,
    #[error(transparent)]
    Guard(#[from] GuardError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an erasure deleted, counted.
#[derive(Debug, Default)]
pub struct Erased {
    pub sessions: usize,
    pub messages: usize,
    pub items: usize,
}

/// `POST /auth/me/delete`: the customer of `authed` proves it is them once more (their
/// password, under the same guessing limits as a login, or a fresh `reset` code), then
/// everything of theirs is erased.
pub async fn erase_me(
    state: &AppState,
    authed: &Authenticated,
    source: &str,
    consent: Consent<'_>,
) -> Result<Erased, EraseError> {
    let phone = PhoneNumber::from_stored(authed.session.phone.clone());
    match consent {
        Consent::CurrentPassword(password) => {
            guard::check_password(state, &phone, source, password)
                .await?
                .ok_or(EraseError::WrongPassword)?;
        }
        Consent::ResetCode(code) => {
            if !proof::redeem_code(state, Purpose::Reset, &phone, code).await? {
                return Err(EraseError::InvalidCode);
            }
        }
    }
    erase(&state.store, &phone, STRAGGLER_PAUSE).await
}

/// Erases `phone`'s customer and everything that names them (see the module's steps);
/// runs again safely, and finishes an erasure cut short.
pub async fn erase(
    store: &Store,
    phone: &PhoneNumber,
    pause: Duration,
) -> Result<Erased, EraseError> {
    let needles = gather(store, phone).await?.ok_or(EraseError::NoCustomer)?;
    store.put_erasure(&needles).await?;
    let mut erased = Erased::default();

    // 2. Unreachable at once. The sessions are read first: their logins name items.
    let sessions = store
        .items_by_pk(Table::Sessions, &needles.session_ids)
        .await?;
    let sessions: Vec<SessionItem> = sessions
        .into_iter()
        .filter_map(|item| serde_dynamo::from_item(item).ok())
        .collect();
    for sid in &needles.session_ids {
        store.delete_session_now(sid, phone.as_str()).await?;
    }
    erased.sessions = needles.session_ids.len();

    // 3. By key.
    let mut session_keys: Vec<Item> = Vec::new();
    for session in &sessions {
        for (token_id, _) in store.logins_of(session).await? {
            session_keys.push(login_item(session.id(), &token_id));
        }
    }
    session_keys.extend(phone_items(phone.as_str()));
    erased.messages = erase_messages(store, &needles, &mut session_keys).await?;
    erased.items += store.delete_items(Table::Sessions, session_keys).await?;
    erased.items += store
        .delete_items(Table::Customers, user_items(&needles.user_ids))
        .await?;

    // 4. The sweep; the record and claim, and the erasure's own record, go last.
    let last = LastItems::of(phone.as_str(), &needles.customer_id);
    for table in [Table::Sessions, Table::Customers] {
        let found: Vec<Item> = store
            .items_naming(table, &needles)
            .await?
            .into_iter()
            .filter(|item| !last.holds(item))
            .collect();
        erased.items += store.delete_items(table, found).await?;
    }

    // 5. Stragglers.
    tokio::time::sleep(pause).await;
    let mut claims = Vec::new();
    erased.messages += erase_messages(store, &needles, &mut claims).await?;
    store.delete_items(Table::Sessions, claims).await?;

    // The account's events (in the messages table, under the customer id), after the
    // stragglers: nothing records an event for an account being erased after this.
    let events_pk = format!("events#{}", needles.customer_id);
    let events = store
        .message_keys(&events_pk)
        .await?
        .iter()
        .map(|key| message_key(&events_pk, &key.sort_key))
        .collect();
    erased.items += store.delete_items(Table::Messages, events).await?;

    // 6. The phone is free.
    erased.items += store.delete_items(Table::Customers, last.customers).await?;
    erased.items += store.delete_items(Table::Sessions, last.sessions).await?;
    Ok(erased)
}

/// Deletes every message of the customer's sessions; the `seen#` claims of their WhatsApp
/// ids are added to `claims`.
async fn erase_messages(
    store: &Store,
    needles: &Needles,
    claims: &mut Vec<Item>,
) -> Result<usize, StoreError> {
    let mut count = 0;
    for sid in &needles.session_ids {
        let keys = store.message_keys(sid).await?;
        claims.extend(
            keys.iter()
                .filter_map(|key| key.wamid.as_deref().map(whatsapp_claim_item)),
        );
        let keys = keys
            .iter()
            .map(|key| message_key(sid, &key.sort_key))
            .collect();
        count += store.delete_items(Table::Messages, keys).await?;
    }
    Ok(count)
}

/// Who `phone`'s customer is and which sessions are theirs: the live one (its lock), any
/// other the phone index still lists, and those merged into them; an unfinished
/// erasure's record adds what it named.
async fn gather(store: &Store, phone: &PhoneNumber) -> Result<Option<Needles>, StoreError> {
    let (customer, locked, indexed, unfinished) = tokio::try_join!(
        store.customer_by_phone(phone),
        store.locked_session(phone.as_str()),
        store.session_ids_by_phone(phone.as_str()),
        store.erasure(phone.as_str()),
    )?;
    if customer.is_none() && unfinished.is_none() {
        return Ok(None);
    }
    let mut needles = unfinished.unwrap_or_else(|| Needles {
        phone: phone.as_str().to_string(),
        ..Needles::default()
    });
    if let Some(customer) = &customer {
        needles.customer_id = customer.customer_id.clone();
        needles.user_ids.extend(customer.whatsapp_user_id.clone());
    }
    needles.session_ids.extend(locked);
    needles.session_ids.extend(indexed);
    // A batch read refuses a key twice: the lock and the index name the live session both.
    needles.session_ids.sort();
    needles.session_ids.dedup();
    let sessions = store
        .items_by_pk(Table::Sessions, &needles.session_ids)
        .await?;
    for item in sessions {
        if let Ok(session) = serde_dynamo::from_item::<_, SessionItem>(item) {
            needles.session_ids.extend(session.merged_from);
        }
    }
    needles.session_ids.sort();
    needles.session_ids.dedup();
    needles.user_ids.sort();
    needles.user_ids.dedup();
    Ok(Some(needles))
}
