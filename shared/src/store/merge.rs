//! Merging one customer's session into another's (a WhatsApp user id turned out to be a
//! phone customer's): each step is a conditional write that can run again, so that a
//! merge interrupted anywhere, or run twice at once, ends the same. The history is
//! copied item by item (no transaction, so no 100-item limit) under the same sort keys,
//! which keeps both histories in time order and makes a second copy overwrite the first.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnValue, Update, WriteRequest};

use super::query_all;
use super::transaction::{Outcome, Transaction};
use super::{
    Item, SessionItem, SkuMark, Store, StoreError, StoreResult, StoredLogin, classify, decode,
    if_condition_held, lock_key, n, s, unexpected,
};
use crate::model::CartItem;
use crate::phone::PhoneNumber;

/// What a session takes in from one merged into it, decided from both as read.
pub struct Fold<'a> {
    /// The merged session, as marked.
    pub from: &'a SessionItem,
    /// Its logins, which stand in this session from now on.
    pub logins: &'a HashMap<String, StoredLogin>,
    /// The SKUs this session does not have yet.
    pub skus: Vec<(&'a str, SkuMark)>,
    /// The summary both make together; `None` leaves it.
    pub summary: Option<String>,
    /// The cart to keep (the newer one's), when it is the merged session's.
    pub cart: Option<&'a [CartItem]>,
    /// Channels that joined the merged session and not this one.
    pub channels: Vec<(&'a str, &'a str)>,
}

/// The outcome of moving a session to another customer's key.
pub enum Rekeyed {
    Moved,
    /// The other customer has a live session already: merge into it.
    Held(String),
    /// A concurrent write touched the same items, or the session changed: read again.
    Retry,
}

/// Tries of a batch whose items DynamoDB left unprocessed.
const BATCH_ATTEMPTS: u32 = 5;

impl Store {
    /// Marks `from` as merged into `into`: from now on it takes no writes (their
    /// conditions require it unmerged). The session as it is afterwards; `None` if it
    /// has gone or was merged elsewhere.
    pub async fn mark_merged(&self, from: &str, into: &str) -> StoreResult<Option<SessionItem>> {
        let result = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(from))
            // Out of the phone index too: the key it was under no longer names it.
            .update_expression("SET merged_into = :into REMOVE phone")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(merged_into) OR merged_into = :into)",
            )
            .expression_attribute_values(":into", s(into))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match if_condition_held(result)? {
            Some(out) => decode(out.attributes),
            None => Ok(None),
        }
    }

    /// Every message item of a session, oldest first, as stored.
    pub async fn message_items(&self, session_id: &str) -> StoreResult<Vec<Item>> {
        query_all(self.session_messages(session_id)).await
    }

    /// Writes `items` (another session's messages) into session `into` under their own
    /// sort keys, 25 to a batch; a copy made before is overwritten, never doubled.
    pub async fn copy_messages(
        &self,
        items: Vec<Item>,
        into: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        let requests: Vec<WriteRequest> = items
            .into_iter()
            .map(|mut item| {
                item.insert("pk".into(), s(into));
                item.insert("expires_at".into(), n(expires_at));
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(unexpected)?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<StoreResult<_>>()?;
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            for attempt in 0..BATCH_ATTEMPTS {
                let out = self
                    .db
                    .batch_write_item()
                    .request_items(&self.tables.messages, pending)
                    .send()
                    .await
                    .map_err(classify)?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.tables.messages))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt + 1 == BATCH_ATTEMPTS {
                    return Err(StoreError::Unavailable(
                        "BatchWriteItem kept items unprocessed".into(),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }

    /// Folds `fold.from` into `into` (as read): its message count, logins, SKUs, channels,
    /// stores visited, and the summary and cart decided by the caller, once. `false` when `into` changed
    /// since it was read (read again and decide again), or has folded `from` already.
    pub async fn fold_session(&self, into: &SessionItem, fold: &Fold<'_>) -> StoreResult<bool> {
        let mut sets = vec![
            "message_count = message_count + :count".to_string(),
            "merged_from = list_append(if_not_exists(merged_from, :none), :from)".to_string(),
        ];
        let mut names: HashMap<String, String> = HashMap::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::from([
            (":count".into(), n(fold.from.message_count)),
            (":none".into(), AttributeValue::L(Vec::new())),
            (":from".into(), AttributeValue::L(vec![s(fold.from.id())])),
            (":from_id".into(), s(fold.from.id())),
            (":seen".into(), s(&into.updated_at)),
        ]);
        for (i, (token_id, login)) in fold.logins.iter().enumerate() {
            sets.push(format!("tokens.#t{i} = :t{i}"));
            names.insert(format!("#t{i}"), token_id.clone());
            values.insert(
                format!(":t{i}"),
                serde_dynamo::to_attribute_value(login).map_err(unexpected)?,
            );
        }
        for (i, (sku, mark)) in fold.skus.iter().enumerate() {
            sets.push(format!("skus.#s{i} = if_not_exists(skus.#s{i}, :s{i})"));
            names.insert(format!("#s{i}"), sku.to_string());
            values.insert(
                format!(":s{i}"),
                serde_dynamo::to_attribute_value(mark).map_err(unexpected)?,
            );
        }
        for (i, (channel, since)) in fold.channels.iter().enumerate() {
            sets.push(format!(
                "channels.#c{i} = if_not_exists(channels.#c{i}, :c{i})"
            ));
            names.insert(format!("#c{i}"), channel.to_string());
            values.insert(format!(":c{i}"), s(*since));
        }
        if let Some(summary) = &fold.summary {
            sets.push("summary = :summary".into());
            values.insert(":summary".into(), s(summary.as_str()));
        }
        if let Some(cart) = fold.cart {
            sets.push("cart = :cart".into());
            values.insert(
                ":cart".into(),
                serde_dynamo::to_attribute_value(cart).map_err(unexpected)?,
            );
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !fold.from.stores.is_empty() {
            expression.push_str(" ADD stores :stores");
            values.insert(
                ":stores".into(),
                AttributeValue::Ss(fold.from.stores.iter().cloned().collect()),
            );
        }
        let result = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(into.id()))
            .update_expression(expression)
            // Decided on `into` as read: a write since (a newer summary or cart) decides
            // again; a fold already done is not done twice.
            .condition_expression(
                "attribute_exists(pk) AND updated_at = :seen \
                 AND NOT contains(merged_from, :from_id)",
            )
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        Ok(if_condition_held(result)?.is_some())
    }

    /// Moves a live session to another customer's key (its lock and index entry), for a
    /// merge into a customer who has no live session: nothing to copy. `replacing` names
    /// the ended session whose lock the key may still hold.
    pub async fn rekey_session(
        &self,
        session: &SessionItem,
        to: &PhoneNumber,
        customer_id: &str,
        replacing: Option<&str>,
    ) -> StoreResult<Rekeyed> {
        let take_lock = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.tables.sessions)
            .item("pk", lock_key(to.as_str()))
            .item("session_id", s(session.id()))
            .item("expires_at", n(session.max_expires_at))
            // The lock of a session that has ended may be taken over.
            .condition_expression("attribute_not_exists(pk) OR session_id = :stale")
            .expression_attribute_values(":stale", s(replacing.unwrap_or_default()))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .build()
            .map_err(unexpected)?;
        let move_session = Update::builder()
            .table_name(&self.tables.sessions)
            .key("pk", s(session.id()))
            .update_expression("SET phone = :to, customer_id = :cid")
            .condition_expression("phone = :from AND attribute_not_exists(merged_into)")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":cid", s(customer_id))
            .expression_attribute_values(":from", s(&session.phone))
            .build()
            .map_err(unexpected)?;
        let release_lock = self.lock_release(&session.phone, session.id())?;
        let cancelled = match Transaction::default()
            .put(NEW_LOCK, take_lock)
            .update(SESSION, move_session)
            .delete(OLD_LOCK, release_lock)
            .send(&self.db)
            .await
        {
            Ok(()) => return Ok(Rekeyed::Moved),
            Err(Outcome::Failed(err)) => return Err(err),
            Err(Outcome::Cancelled(cancelled)) => cancelled,
        };
        if let Some(Some(lock)) = cancelled.failed(NEW_LOCK)
            && let Some(held) = lock.get("session_id").and_then(|v| v.as_s().ok())
        {
            return Ok(Rekeyed::Held(held.clone()));
        }
        if cancelled.contended()
            || cancelled.failed(SESSION).is_some()
            || cancelled.failed(OLD_LOCK).is_some()
        {
            return Ok(Rekeyed::Retry);
        }
        Err(cancelled.into_error())
    }

    /// Releases `key`'s lock if `session_id` still holds it.
    pub async fn release_lock(&self, key: &PhoneNumber, session_id: &str) -> StoreResult<()> {
        let result = self
            .db
            .delete_item()
            .table_name(&self.tables.sessions)
            .key("pk", lock_key(key.as_str()))
            .condition_expression("session_id = :sid")
            .expression_attribute_values(":sid", s(session_id))
            .send()
            .await;
        if_condition_held(result)?;
        Ok(())
    }
}

// The named items of the transaction above.
const NEW_LOCK: &str = "new lock";
const SESSION: &str = "session";
const OLD_LOCK: &str = "old lock";
