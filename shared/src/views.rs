//! What clients see of stored items: the API's session and customer, and the derived
//! lists (channels in joining order, the newest SKUs). The store holds items; this is
//! where they become answers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::channel::Channel;
use crate::config::KioskHistory;
use crate::model::{Author, ChatMessage, Customer, Session, SessionMetadata, limits, rfc3339};
use crate::store::{CustomerItem, SessionItem, TokenEntry};
use crate::token::Level;

/// The API's view of a session, for `login`; `chat` is the end of its history, oldest
/// first (the view shows the last [`limits::CHAT_WINDOW`]). With
/// `KIOSK_PHONE_HISTORY=after_proof`, a kiosk login by typed phone sees nothing from
/// before it was made: the phone is only asserted.
pub fn session(
    item: &SessionItem,
    chat: &[ChatMessage],
    login: &TokenEntry,
    history: KioskHistory,
) -> Session {
    let full = session_for(item, chat, login.channel);
    if sees_history(login, history) {
        return full;
    }
    // Messages are stamped with the same format as the login's issue time.
    let since = login.issued_at.as_str();
    Session {
        chat_context: full
            .chat_context
            .into_iter()
            .filter(|m| m.at.as_str() >= since)
            .collect(),
        conversation_summary: String::new(),
        last_recommended_skus: Vec::new(),
        cart: Vec::new(),
        ..full
    }
}

/// Whether `login` sees what its session held before it was made: not a kiosk login by
/// typed phone (only asserted) under `KIOSK_PHONE_HISTORY=after_proof`.
pub fn sees_history(login: &TokenEntry, history: KioskHistory) -> bool {
    let asserted = login.channel == Channel::Kiosk && login.level < Level::Password;
    history == KioskHistory::Full || !asserted
}

/// The whole view of a session for a token of `channel`.
fn session_for(item: &SessionItem, chat: &[ChatMessage], channel: Channel) -> Session {
    let window = chat.len().saturating_sub(limits::CHAT_WINDOW);
    let expires = DateTime::<Utc>::from_timestamp(item.expires_at, 0).unwrap_or_default();
    Session {
        session_id: item.pk.clone(),
        phone: shown_phone(&item.phone),
        customer_id: item.customer_id.clone(),
        channel,
        metadata: SessionMetadata {
            channels: channels(item),
        },
        chat_context: chat[window..].to_vec(),
        conversation_summary: item.summary.clone(),
        last_recommended_skus: recommended_skus(item),
        cart: item.cart.clone(),
        created_at: item.created_at.clone(),
        updated_at: item.updated_at.clone(),
        expires_at: rfc3339(expires),
    }
}

/// A session as stored, for the customer's own export (no login to see it through: the
/// channel shown is where the customer spoke last); the history is exported whole beside it.
pub fn stored_session(item: &SessionItem) -> Session {
    session_for(item, &[], item.last_channel.unwrap_or(Channel::Web))
}

/// The customer as a login of `level` may see them: never the password hash, and the
/// personal fields (age, gender, address…) only at `password` level, so that typing
/// someone's phone number into a kiosk does not reveal where they live.
pub fn customer(item: &CustomerItem, level: Level) -> Customer {
    let personal = level >= Level::Password;
    let private = |v: &Option<String>| v.clone().filter(|_| personal);
    Customer {
        customer_id: item.customer_id.clone(),
        name: item.name.clone(),
        phone_number: shown_phone(&item.phone_number),
        age: item.age.filter(|_| personal),
        gender: private(&item.gender),
        city: private(&item.city),
        building_name: private(&item.building_name),
        address_landmark: private(&item.address_landmark),
        created_at: item.created_at.clone(),
    }
}

/// A session's channels in the order they joined.
pub fn channels(item: &SessionItem) -> Vec<Channel> {
    let mut joined: Vec<(&String, Channel)> = item
        .channels
        .iter()
        .filter_map(|(name, at)| Channel::try_from(name.clone()).ok().map(|c| (at, c)))
        .collect();
    joined.sort();
    joined.into_iter().map(|(_, c)| c).collect()
}

/// The stores of the kiosks the customer logged in at during the session, sorted, each
/// once (the sales agent's context).
pub fn stores_visited(item: &SessionItem) -> Vec<String> {
    item.stores.iter().cloned().collect()
}

/// Every recommended SKU, oldest first (by rank: a higher rank is later).
pub fn skus_by_rank(item: &SessionItem) -> Vec<String> {
    let mut skus: Vec<(i64, &String)> = item.skus.iter().map(|(k, v)| (v.rank, k)).collect();
    skus.sort();
    skus.into_iter().map(|(_, k)| k.clone()).collect()
}

/// Recommended SKUs, oldest first, newest last: the newest
/// [`limits::RECOMMENDED_SKUS`], whether or not a trim has run yet.
pub fn recommended_skus(item: &SessionItem) -> Vec<String> {
    let mut skus = skus_by_rank(item);
    skus.drain(..skus.len().saturating_sub(limits::RECOMMENDED_SKUS));
    skus
}

/// Who recommended each SKU of [`recommended_skus`].
pub fn sku_authors(item: &SessionItem) -> BTreeMap<String, Author> {
    recommended_skus(item)
        .into_iter()
        .map(|sku| {
            let by = item.skus.get(&sku).and_then(|m| m.by).unwrap_or_default();
            (sku, by)
        })
        .collect()
}

/// The phone as clients see it: empty for a customer known only by a WhatsApp user id,
/// whose key is not a phone number.
fn shown_phone(key: &str) -> String {
    let key = crate::phone::PhoneNumber::from_stored(key.to_string());
    if key.is_phone() {
        key.as_str().to_string()
    } else {
        String::new()
    }
}
