//! Writing to a live session: `/session/update`, the agent's writes and filed WhatsApp
//! messages. Messages go to the messages table; the session item takes the rest.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::messages::sort_key;
use super::{
    SessionItem, SkuMark, Store, StoreResult, StoredLogin, classify, decode, if_condition_held, n,
    retry_conflicts, s, unexpected,
};
use crate::model::{Author, CartItem, ChatMessage, Sku};

/// What `/session/update` asks to change. Every change commutes with a concurrent one:
/// messages are appended, SKUs are set key by key, the cart and summary are replaced.
#[derive(Debug, Default)]
pub struct SessionChanges {
    pub messages: Vec<ChatMessage>,
    pub cart: Option<Vec<CartItem>>,
    pub skus: Vec<Sku>,
    pub summary: Option<String>,
    /// Who writes the summary and SKUs (messages carry their own author).
    pub by: Author,
    /// A channel that joins the session with this write (a WhatsApp delivery, which has
    /// no login of its own), recorded as a login's channel is.
    pub joins: Option<crate::channel::Channel>,
    /// Makes the write happen at most once: a second write with the same key (a
    /// redelivered WhatsApp message, a client's retry) changes nothing.
    pub dedupe: Option<Dedupe>,
    /// Replaces the cart only while it is still this one (a WhatsApp order merged into
    /// the cart as read a moment ago): a cart replaced meanwhile makes the write
    /// [`Applied::Gone`], and the caller reads it again.
    pub cart_was: Option<Vec<CartItem>>,
    /// The WhatsApp message id of the (one) message and the sort key it is stored under
    /// (chosen before the write, and recorded on the id's claim: see
    /// [`Dedupe::sort_key`]), so that the customer's later edit or deletion finds it.
    pub whatsapp: Option<WhatsappMessage>,
}

/// A filed WhatsApp message's id and sort key, for [`SessionChanges::whatsapp`].
#[derive(Clone, Debug)]
pub struct WhatsappMessage {
    pub id: String,
    pub sort_key: String,
}

/// A write's identity for [`SessionChanges::dedupe`], remembered in a `seen#<key>` item
/// claimed before the change is written.
#[derive(Clone, Debug)]
pub struct Dedupe {
    /// Unique per logical write: `whatsapp#<message id>`, `idem#<scope>#<key hash>`.
    pub key: String,
    /// What the first write was (a hash of its request): a second write with the same
    /// key and another fingerprint is [`Applied::KeyReused`], not a replay.
    pub fingerprint: String,
    /// How long the key is remembered; after that the same key writes again.
    pub ttl: chrono::Duration,
    /// Where the claimed write's message will be stored in its session's history (a
    /// WhatsApp message's sort key, chosen before the write): kept on the claim, so that
    /// a later edit or deletion of the message finds it without an index or a second
    /// write. The claim holds no session id or phone: the edit's sender names the session.
    pub sort_key: Option<String>,
}

/// The outcome of [`Store::apply_changes`].
#[derive(Debug)]
pub enum Applied {
    /// Written; the session as it is afterwards.
    Done(Box<SessionItem>),
    /// The session ended or expired, or the writing token was revoked.
    Gone,
    /// The same dedupe key and fingerprint were written before: nothing changed. When the
    /// first write was made (unknown for keys claimed before it was recorded).
    Replayed(Option<String>),
    /// The dedupe key was written before by a different request: nothing changed.
    KeyReused,
}

/// What claiming a dedupe key found.
pub enum Claim {
    Claimed,
    Seen {
        fingerprint: String,
        at: Option<String>,
    },
}

impl Store {
    /// Applies a write to a live session, made only while the session is live and the
    /// writing token (`None` for the sales agent's service key and the webhook) is still
    /// valid. No transaction, so that an append costs what its items weigh:
    /// 1. with a dedupe key, the key is claimed first (a conditional `PutItem`): a key
    ///    already claimed is a replay and changes nothing;
    /// 2. one conditional `UpdateItem` of the session item (expiry, counters, cart,
    ///    summary, SKUs) returns the session as it is afterwards, so nothing is re-read;
    /// 3. the messages are put in the messages table, only once the session's condition
    ///    has held (a revoked token's message never lands).
    ///
    /// When a step after the claim fails, the claim is released so that a retry writes.
    /// Between steps 2 and 3 a crash leaves `message_count` ahead of the history (the
    /// retry appends; the count is a statistic, the history is what is kept).
    pub async fn apply_changes(
        &self,
        session: &SessionItem,
        token: Option<(&str, &StoredLogin)>,
        changes: &SessionChanges,
        now: chrono::DateTime<chrono::Utc>,
        expires_at: i64,
    ) -> StoreResult<Applied> {
        if let Some(dedupe) = &changes.dedupe {
            match self.claim(dedupe, now).await? {
                Claim::Claimed => {}
                Claim::Seen { fingerprint, at } => {
                    return Ok(if fingerprint == dedupe.fingerprint {
                        Applied::Replayed(at)
                    } else {
                        Applied::KeyReused
                    });
                }
            }
        }
        let result = self
            .write_changes(session.id(), token, changes, now, expires_at)
            .await;
        if let (Some(dedupe), Err(_) | Ok(Applied::Gone)) = (&changes.dedupe, &result) {
            self.release(dedupe, now).await;
        }
        result
    }

    /// Steps 2 and 3 of [`Store::apply_changes`], for a caller that claimed the dedupe key
    /// itself (with [`Store::claim`], beside its other reads) and gives it back with
    /// [`Store::release`] when this fails.
    pub async fn write_changes(
        &self,
        session_id: &str,
        token: Option<(&str, &StoredLogin)>,
        changes: &SessionChanges,
        now: chrono::DateTime<chrono::Utc>,
        expires_at: i64,
    ) -> StoreResult<Applied> {
        let Some(after) = self
            .update_session_item(session_id, token, changes, now, expires_at)
            .await?
        else {
            return Ok(Applied::Gone);
        };
        // One request's messages in parallel: their sort keys keep their order.
        let whatsapp = changes.whatsapp.as_ref();
        let puts = changes.messages.iter().enumerate().map(|(i, message)| {
            let key = match whatsapp {
                Some(w) if i == 0 => w.sort_key.clone(),
                _ => sort_key(message_time(message).unwrap_or(now), i),
            };
            self.put_message(
                session_id,
                key,
                message,
                whatsapp.map(|w| w.id.as_str()),
                after.max_expires_at,
            )
        });
        futures::future::try_join_all(puts).await?;
        Ok(Applied::Done(Box::new(after)))
    }

    /// The session item's part of a write; the item afterwards, or `None` when the
    /// session or the writing token is gone.
    async fn update_session_item(
        &self,
        session_id: &str,
        token: Option<(&str, &StoredLogin)>,
        changes: &SessionChanges,
        now: chrono::DateTime<chrono::Utc>,
        expires_at: i64,
    ) -> StoreResult<Option<SessionItem>> {
        let mut sets = vec![
            "updated_at = :now".to_string(),
            "expires_at = :exp".to_string(),
        ];
        let mut names: HashMap<String, String> = HashMap::new();
        // A session merged into another takes no more writes: they go to that one.
        let mut condition =
            "attribute_exists(pk) AND expires_at > :epoch AND attribute_not_exists(merged_into)"
                .to_string();
        let mut values: HashMap<String, AttributeValue> = HashMap::from([
            (":now".into(), s(crate::model::rfc3339(now))),
            (":exp".into(), n(expires_at)),
            (":epoch".into(), n(now.timestamp())),
        ]);
        if changes.joins.is_some() {
            // A channel joining by this write has proven the phone (a WhatsApp delivery):
            // it never files into an unproven account's session (the login path ends that
            // session first).
            condition.push_str(" AND attribute_not_exists(unproven)");
        }
        if let Some((token_id, login)) = token {
            names.insert("#tid".into(), token_id.into());
            condition.push_str(" AND attribute_exists(tokens.#tid)");
            // The item is written anyway: recording the use costs nothing more.
            sets.push("tokens.#tid = :login".into());
            values.insert(
                ":login".into(),
                serde_dynamo::to_attribute_value(login.used_at(now)).map_err(unexpected)?,
            );
        }
        if !changes.messages.is_empty() {
            sets.push("message_count = message_count + :count".into());
            values.insert(":count".into(), n(changes.messages.len()));
        }
        // Where the conversation is: the agent answers there by default.
        if let Some(channel) = changes.joins {
            sets.push("channels.#ch = if_not_exists(channels.#ch, :now)".into());
            names.insert("#ch".into(), channel.as_str().into());
        }
        if let Some(channel) = changes.messages.last().map(|m| m.channel) {
            sets.push("last_channel = :ch".into());
            values.insert(":ch".into(), s(channel.as_str()));
        }
        if let Some(was) = &changes.cart_was {
            condition.push_str(" AND cart = :cart_was");
            values.insert(
                ":cart_was".into(),
                serde_dynamo::to_attribute_value(was).map_err(unexpected)?,
            );
        }
        if let Some(cart) = &changes.cart {
            sets.push("cart = :cart".into());
            values.insert(
                ":cart".into(),
                serde_dynamo::to_attribute_value(cart).map_err(unexpected)?,
            );
        }
        if let Some(summary) = &changes.summary {
            sets.push("summary = :summary".into());
            sets.push("summary_by = :by".into());
            values.insert(":summary".into(), s(summary));
            values.insert(":by".into(), s(changes.by.to_string()));
        }
        // Later SKUs of one request rank after earlier ones; a repeated SKU moves to the end.
        let base = now.timestamp_micros() * 64;
        for (i, sku) in changes.skus.iter().enumerate() {
            sets.push(format!("skus.#sku{i} = :sku{i}"));
            names.insert(format!("#sku{i}"), sku.as_str().to_string());
            let mark = SkuMark {
                rank: base + i as i64,
                by: Some(changes.by),
            };
            values.insert(
                format!(":sku{i}"),
                serde_dynamo::to_attribute_value(mark).map_err(unexpected)?,
            );
        }
        // Items stored before the history moved out carry a chat window: dropped by the
        // first write, so the item shrinks to its new size.
        let request = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_id))
            .update_expression(format!("SET {} REMOVE recent", sets.join(", ")))
            .condition_expression(condition)
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew);
        let result = retry_conflicts(|| request.clone().send()).await;
        match if_condition_held(result)? {
            Some(out) => decode(out.attributes),
            None => Ok(None),
        }
    }

    /// Claims a dedupe key: `Claimed` when no live claim held it, else what the first
    /// claim recorded.
    pub async fn claim(
        &self,
        dedupe: &Dedupe,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Claim> {
        let mut request = self
            .db
            .put_item()
            .table_name(&self.tables.sessions)
            .item("pk", s(format!("seen#{}", dedupe.key)))
            .item("fingerprint", s(&dedupe.fingerprint))
            .item("at", s(crate::model::rfc3339(now)))
            .item("expires_at", n((now + dedupe.ttl).timestamp()))
            // TTL deletes lazily (within days): an expired key is free again.
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :epoch")
            .expression_attribute_values(":epoch", n(now.timestamp()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(key) = &dedupe.sort_key {
            request = request.item("sk", s(key));
        }
        let result = request.send().await;
        let old = match result {
            Ok(_) => return Ok(Claim::Claimed),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(e)) => {
                    e.item.clone().unwrap_or_default()
                }
                _ => return Err(classify(err)),
            },
        };
        let text = |name: &str| old.get(name).and_then(|v| v.as_s().ok()).cloned();
        Ok(Claim::Seen {
            fingerprint: text("fingerprint").unwrap_or_default(),
            at: text("at"),
        })
    }

    /// Gives a claimed key back after the write failed, so that a retry writes: the claim
    /// is marked expired (which frees it), only if it is still ours (same fingerprint
    /// and time). Best effort: a claim left behind answers the retry as a replay.
    pub async fn release(&self, dedupe: &Dedupe, now: chrono::DateTime<chrono::Utc>) {
        let result = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(format!("seen#{}", dedupe.key)))
            .update_expression("SET expires_at = :gone")
            .condition_expression("fingerprint = :fp AND #at = :at")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":gone", n(0))
            .expression_attribute_values(":fp", s(&dedupe.fingerprint))
            .expression_attribute_values(":at", s(crate::model::rfc3339(now)))
            .send()
            .await;
        if let Err(err) = if_condition_held(result) {
            tracing::warn!(error = %err, "could not release a dedupe claim; a retry is answered as a replay");
        }
    }

    /// Removes SKUs and logins from a session (`sessions::trim` decides which). Each SKU
    /// only if it was not recommended again meanwhile (its mark is still `mark`). Best
    /// effort: when another writer got there first, or the write fails, the next write's
    /// trim removes them; the caller's own write has already succeeded.
    pub(crate) async fn remove_from_session(
        &self,
        item: &SessionItem,
        skus: &[(String, SkuMark)],
        logins: &[String],
    ) {
        let mut removes = Vec::new();
        let mut conditions = vec!["attribute_exists(pk)".to_string()];
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        for (i, (sku, mark)) in skus.iter().enumerate() {
            let Ok(mark) = serde_dynamo::to_attribute_value(mark) else {
                continue;
            };
            removes.push(format!("skus.#old{i}"));
            conditions.push(format!("skus.#old{i} = :old{i}"));
            names.insert(format!("#old{i}"), sku.clone());
            values.insert(format!(":old{i}"), mark);
        }
        for (i, id) in logins.iter().enumerate() {
            removes.push(format!("tokens.#tok{i}"));
            names.insert(format!("#tok{i}"), id.clone());
        }
        if removes.is_empty() {
            return;
        }
        let request = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(item.id()))
            .update_expression(format!("REMOVE {}", removes.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values));
        self.best_effort_trim(item, request).await;
    }

    async fn best_effort_trim(
        &self,
        item: &SessionItem,
        request: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) {
        let result = retry_conflicts(|| request.clone().send()).await;
        if let Err(err) = if_condition_held(result) {
            tracing::warn!(session_id = item.id(), error = %err, "trim failed; the next write retries it");
        }
    }
}

/// A message's own time (the provider's, for WhatsApp), so history sorts by when it was
/// said, not when it arrived.
fn message_time(message: &ChatMessage) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(&message.at)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}
