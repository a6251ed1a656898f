//! Who a WhatsApp sender is. A delivery carries the sender's business-scoped user id
//! (BSUID) and, when Meta's rules allow, their phone. The customer is found by the phone
//! when there is one, otherwise by the user id: a user id linked to a phone leads to that
//! phone's customer, an unknown one makes a customer known only by it (its key is
//! `u:<BSUID>`, `PhoneNumber::of_whatsapp_user`).
//!
//! When a user-id-only customer turns out to have a phone (a delivery carrying both, the
//! answer to our contact request), the two become one: the user id is pointed at the
//! phone first (new deliveries go there at once), then the user id's session is merged
//! into the phone's (history, cart, SKUs, summary, logins) or, if the phone has none,
//! simply moved to it; the `u:` record is deleted last. Every step can run again, so a
//! merge cut short anywhere is finished by the next delivery that finds the record still
//! there, and two deliveries merging at once end the same.

use chrono::Utc;

use crate::AppState;
use crate::metrics::{self, Counter};
use crate::model::{limits, rfc3339};
use crate::phone::{PhoneNumber, WhatsappUserId};
use crate::sessions::{self, SessionError};
use crate::store::{
    CreateCustomer, CustomerItem, Fold, Rekeyed, SessionItem, StoreError, UserRecords,
};

/// A sender as a delivery (or the signed `/session/login`) names them.
#[derive(Clone, Debug, Default)]
pub struct WhatsappSender {
    pub phone: Option<PhoneNumber>,
    pub user: Option<WhatsappUserId>,
    /// The parent BSUID, where Meta sends one: a user id linked through it counts too.
    pub parent: Option<WhatsappUserId>,
    pub name: Option<String>,
    pub username: Option<String>,
}

/// Tries of a merge step that raced another writer.
const ATTEMPTS: usize = 6;

/// The key of the sender's customer (their phone, or `u:<BSUID>`), after linking a user id
/// that arrived with a phone and finishing any merge that is due. `None` when the
/// delivery names neither. `records` is what the customers table held for the user id,
/// when the caller read it beside its other reads.
pub async fn settle(
    state: &AppState,
    sender: &WhatsappSender,
    records: Option<UserRecords>,
) -> Result<Option<PhoneNumber>, SessionError> {
    let Some(user) = &sender.user else {
        return Ok(sender.phone.clone());
    };
    let records = match records {
        Some(records) => records,
        None => state.store.whatsapp_user(user).await?,
    };
    match (&sender.phone, records) {
        // Linked to this phone, nothing left to merge: the usual case, no write.
        (
            Some(phone),
            UserRecords {
                linked_phone: Some(linked),
                unlinked: None,
            },
        ) if linked == *phone => Ok(Some(phone.clone())),
        (Some(phone), _) => {
            link(state, user, phone, sender).await?;
            Ok(Some(phone.clone()))
        }
        (
            None,
            UserRecords {
                linked_phone: Some(phone),
                unlinked,
            },
        ) => {
            if unlinked.is_some() {
                link(state, user, &phone, sender).await?;
            }
            Ok(Some(phone))
        }
        (
            None,
            UserRecords {
                linked_phone: None,
                unlinked: Some(_),
            },
        ) => Ok(Some(PhoneNumber::of_whatsapp_user(user))),
        (
            None,
            UserRecords {
                linked_phone: None,
                unlinked: None,
            },
        ) => first_contact(state, sender, user).await.map(Some),
    }
}

/// A user id never seen: through its parent id if that one is linked, otherwise a new
/// customer known only by it (named from the profile).
async fn first_contact(
    state: &AppState,
    sender: &WhatsappSender,
    user: &WhatsappUserId,
) -> Result<PhoneNumber, SessionError> {
    if let Some(parent) = &sender.parent
        && let Some(phone) = state.store.whatsapp_user(parent).await?.linked_phone
    {
        link(state, user, &phone, sender).await?;
        return Ok(phone);
    }
    let key = PhoneNumber::of_whatsapp_user(user);
    let now = rfc3339(Utc::now());
    let name = sender.name.clone().unwrap_or_else(|| "Guest".into());
    loop {
        let mut customer = CustomerItem::new(CustomerItem::generate_id(), &key, name.clone(), &now);
        customer.whatsapp_user_id = Some(user.as_str().to_string());
        customer.whatsapp_username = sender.username.clone();
        match state.store.create_customer(&customer).await? {
            // Made now, or by a delivery of the same id a moment ago: one customer.
            CreateCustomer::Created | CreateCustomer::PhoneTaken => return Ok(key),
            CreateCustomer::IdTaken => continue,
        }
    }
}

/// Links `user` to `phone`'s customer (made if new; proven, since Meta vouches for
/// both) and merges the customer known only by `user` into it, if there is one.
pub async fn link(
    state: &AppState,
    user: &WhatsappUserId,
    phone: &PhoneNumber,
    sender: &WhatsappSender,
) -> Result<(), SessionError> {
    let name = sender.name.as_deref();
    let into = sessions::customer_for_phone(state, phone, name, None).await?;
    let into = sessions::prove(state, into, name).await?;
    // The pointers first: from here on, deliveries by the user id (or its parent id)
    // alone go to the phone.
    let now = rfc3339(Utc::now());
    state.store.link_whatsapp_user(user, phone, &now).await?;
    if let Some(parent) = &sender.parent {
        state.store.link_whatsapp_user(parent, phone, &now).await?;
    }
    merge_user(state, user, &into).await
}

/// Merges the customer known only by `user` into `into`, if it is still there.
async fn merge_user(
    state: &AppState,
    user: &WhatsappUserId,
    into: &CustomerItem,
) -> Result<(), SessionError> {
    let from_key = PhoneNumber::of_whatsapp_user(user);
    let into_key = into.phone();
    let now = Utc::now().timestamp();
    for _ in 0..ATTEMPTS {
        let Some(from_id) = state.store.locked_session(from_key.as_str()).await? else {
            // No session left under the user id: the record goes, and the merge is done.
            state.store.delete_customer_record(&from_key).await?;
            return Ok(());
        };
        let from = state.store.session_in_batch(&from_id).await?;
        let Some(from) = from.filter(|s| s.expires_at > now || s.merged_into.is_some()) else {
            state.store.release_lock(&from_key, &from_id).await?;
            continue;
        };
        let target = match &from.merged_into {
            // Cut short earlier: finish it into the same session.
            Some(target) => target.clone(),
            None => match held_session(state, &into_key, now).await? {
                Held::Live(target) => target,
                Held::Ended(ended) => match state
                    .store
                    .rekey_session(&from, &into_key, &into.customer_id, ended.as_deref())
                    .await?
                {
                    // The phone had no session: this one simply becomes the phone's.
                    Rekeyed::Moved => {
                        metrics::count(Counter::Merges);
                        continue;
                    }
                    Rekeyed::Held(target) => target,
                    Rekeyed::Retry => continue,
                },
            },
        };
        if target != from.id() {
            merge_sessions(state, &from, &target).await?;
            crate::events::record(state, &into.customer_id, crate::events::merged()).await;
        }
        state.store.release_lock(&from_key, &from_id).await?;
    }
    Err(SessionError::Contended)
}

/// What holds a key's lock.
enum Held {
    Live(String),
    /// No live session: none at all, or this ended one (whose lock may be taken).
    Ended(Option<String>),
}

async fn held_session(state: &AppState, key: &PhoneNumber, now: i64) -> Result<Held, SessionError> {
    let Some(id) = state.store.locked_session(key.as_str()).await? else {
        return Ok(Held::Ended(None));
    };
    let live = state
        .store
        .session_in_batch(&id)
        .await?
        .is_some_and(|s| s.expires_at > now && s.merged_into.is_none());
    Ok(if live {
        Held::Live(id)
    } else {
        Held::Ended(Some(id))
    })
}

/// Merges session `from` into `into_id`: marks it (it takes no more writes), copies its
/// history, then folds its memory and logins in, once.
async fn merge_sessions(
    state: &AppState,
    from: &SessionItem,
    into_id: &str,
) -> Result<(), SessionError> {
    let Some(marked) = state.store.mark_merged(from.id(), into_id).await? else {
        return Ok(());
    };
    // A write counted in the session just before the mark puts its messages right after:
    // wait briefly until the history holds what the count says.
    let mut items = state.store.message_items(marked.id()).await?;
    for _ in 0..10 {
        if items.len() as u64 >= marked.message_count {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        items = state.store.message_items(marked.id()).await?;
    }
    let into = state
        .store
        .session_in_batch(into_id)
        .await?
        .filter(|s| s.expires_at > Utc::now().timestamp())
        .ok_or(SessionError::Contended)?;
    state
        .store
        .copy_messages(items, into_id, into.max_expires_at)
        .await?;
    for _ in 0..ATTEMPTS {
        let into = state
            .store
            .session_in_batch(into_id)
            .await?
            .ok_or(SessionError::Contended)?;
        if into.merged_from.iter().any(|id| id == marked.id()) {
            return Ok(());
        }
        if state
            .store
            .fold_session(&into, &fold(&into, &marked))
            .await?
        {
            metrics::count(Counter::Merges);
            return Ok(());
        }
    }
    Err(StoreError::Unavailable("the merged session kept changing".into()).into())
}

/// What `into` takes from `from`: every login, the SKUs it lacks, the channels, both
/// summaries (its own first), and the newer cart (an empty cart never replaces items).
fn fold<'a>(into: &SessionItem, from: &'a SessionItem) -> Fold<'a> {
    let summary = match (into.summary.is_empty(), from.summary.is_empty()) {
        (_, true) => None,
        (true, false) => Some(from.summary.clone()),
        (false, false) => Some(cap_summary(format!("{}\n\n{}", into.summary, from.summary))),
    };
    let newer = from.updated_at > into.updated_at;
    Fold {
        from,
        logins: &from.tokens,
        skus: from
            .skus
            .iter()
            .filter(|(sku, _)| !into.skus.contains_key(*sku))
            .map(|(sku, mark)| (sku.as_str(), *mark))
            .collect(),
        summary,
        cart: (newer && !from.cart.is_empty()).then_some(from.cart.as_slice()),
        channels: from
            .channels
            .iter()
            .filter(|(channel, _)| !into.channels.contains_key(*channel))
            .map(|(channel, since)| (channel.as_str(), since.as_str()))
            .collect(),
    }
}

/// Two summaries together may pass the limit: the oldest part goes, visibly.
fn cap_summary(summary: String) -> String {
    if summary.len() <= limits::SUMMARY_BYTES {
        return summary;
    }
    const MARK: &str = "[…] ";
    let mut start = summary.len() - (limits::SUMMARY_BYTES - MARK.len());
    while !summary.is_char_boundary(start) {
        start += 1;
    }
    format!("{MARK}{}", &summary[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_summaries_keep_the_newest_text_within_the_limit() {
        let long = "é".repeat(limits::SUMMARY_BYTES);
        let capped = cap_summary(format!("old {long}\n\nnew"));
        assert!(capped.len() <= limits::SUMMARY_BYTES);
        assert!(capped.starts_with("[…] ") && capped.ends_with("\n\nnew"));
        assert_eq!(cap_summary("a\n\nb".into()), "a\n\nb");
    }
}
