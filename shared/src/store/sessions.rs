//! Sessions: the session items, the per-phone lock, and the `phone-index` GSI.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};

use super::messages::{put_message, sort_key};
use super::schema::PHONE_INDEX;
use super::{
    Store, StoreResult, backoff, classify, if_condition_held, number, retry_conflicts, unexpected,
};
use crate::channel::Channel;
use crate::logins::{self, Maker};
use crate::model::{Author, CartItem, ChatMessage, Sku, limits};
use crate::token::Level;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn lock_key(phone: &str) -> AttributeValue {
    s(format!("phone#{phone}"))
}

/// One login's entry in its session: only the token's hash is kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenEntry {
    pub hash: String,
    pub channel: Channel,
    pub level: Level,
    pub issued_at: String,
    /// Who made the login (see `logins`); absent on logins stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Maker>,
    /// The direct login a minted login stands on; absent for a direct login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Written at most once per touch interval, like the session's expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

/// A session as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionItem {
    /// The session id.
    pub pk: String,
    pub phone: String,
    pub customer_id: String,
    /// Channel name → when it first joined.
    pub channels: HashMap<String, String>,
    /// Token id → the login it belongs to.
    pub tokens: HashMap<String, TokenEntry>,
    /// The latest chat messages (the full history is in the messages table).
    pub recent: Vec<ChatMessage>,
    pub message_count: u64,
    pub summary: String,
    /// Who wrote the summary; absent on sessions stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_by: Option<Author>,
    /// SKU → when and by whom it was recommended.
    pub skus: HashMap<String, SkuMark>,
    pub cart: Vec<CartItem>,
    pub created_at: String,
    pub updated_at: String,
    /// Epoch seconds; the table's TTL attribute. Slides with activity.
    pub expires_at: i64,
    /// Epoch seconds; the absolute cap that `expires_at` never passes.
    pub max_expires_at: i64,
    /// The customer's password version when the password last changed (or the session
    /// started): a password login checked against an older password cannot join.
    #[serde(default)]
    pub password_version: i64,
}

impl SessionItem {
    pub fn id(&self) -> &str {
        &self.pk
    }

    /// Channels in the order they joined.
    pub fn channels(&self) -> Vec<Channel> {
        let mut joined: Vec<(&String, Channel)> = self
            .channels
            .iter()
            .filter_map(|(name, at)| Channel::try_from(name.clone()).ok().map(|c| (at, c)))
            .collect();
        joined.sort();
        joined.into_iter().map(|(_, c)| c).collect()
    }

    /// Recommended SKUs, oldest first, newest last: the newest
    /// [`limits::RECOMMENDED_SKUS`], whether or not a trim has run yet.
    pub fn recommended_skus(&self) -> Vec<String> {
        let mut skus = self.all_skus();
        skus.drain(..skus.len().saturating_sub(limits::RECOMMENDED_SKUS));
        skus
    }

    fn all_skus(&self) -> Vec<String> {
        let mut skus: Vec<(i64, &String)> = self.skus.iter().map(|(k, v)| (v.rank, k)).collect();
        skus.sort();
        skus.into_iter().map(|(_, k)| k.clone()).collect()
    }

    /// Who recommended each SKU of [`SessionItem::recommended_skus`].
    pub fn sku_authors(&self) -> std::collections::BTreeMap<String, Author> {
        self.recommended_skus()
            .into_iter()
            .map(|sku| {
                let by = self.skus.get(&sku).and_then(|m| m.by).unwrap_or_default();
                (sku, by)
            })
            .collect()
    }
}

/// When a SKU was recommended (a higher rank is later) and by whom. Stored as
/// `"<rank> <author>"`; sessions written before authors were recorded hold the bare rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkuMark {
    pub rank: i64,
    pub by: Option<Author>,
}

impl Serialize for SkuMark {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.by {
            None => serializer.serialize_i64(self.rank),
            Some(by) => serializer.serialize_str(&format!("{} {by}", self.rank)),
        }
    }
}

impl<'de> Deserialize<'de> for SkuMark {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Rank(i64),
            Marked(String),
        }
        match Stored::deserialize(deserializer)? {
            Stored::Rank(rank) => Ok(SkuMark { rank, by: None }),
            Stored::Marked(text) => {
                let (rank, by) = text
                    .split_once(' ')
                    .ok_or_else(|| serde::de::Error::custom("a SKU mark is \"<rank> <author>\""))?;
                Ok(SkuMark {
                    rank: rank.parse().map_err(serde::de::Error::custom)?,
                    by: Some(Author::try_from(by.to_string()).map_err(serde::de::Error::custom)?),
                })
            }
        }
    }
}

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
    /// Makes the write happen at most once: a second write with the same key (a
    /// redelivered WhatsApp message, a client's retry) changes nothing.
    pub dedupe: Option<Dedupe>,
}

/// A write's identity for [`SessionChanges::dedupe`], remembered in a `seen#<key>` item
/// written in the same transaction as the change.
#[derive(Clone, Debug)]
pub struct Dedupe {
    /// Unique per logical write: `whatsapp#<message id>`, `idem#<scope>#<key hash>`.
    pub key: String,
    /// What the first write was (a hash of its request): a second write with the same
    /// key and another fingerprint is [`Applied::KeyReused`], not a replay.
    pub fingerprint: String,
    /// How long the key is remembered; after that the same key writes again.
    pub ttl: chrono::Duration,
}

/// The outcome of [`Store::apply_changes`].
#[derive(Debug)]
pub enum Applied {
    /// Written; the session as it is afterwards.
    Done(Box<SessionItem>),
    /// The session ended or expired, or the writing token was revoked.
    Gone,
    /// The same dedupe key and fingerprint were written before: nothing changed; the
    /// session as it is now.
    /// `None` when the session has ended since.
    Replayed(Option<Box<SessionItem>>),
    /// The dedupe key was written before by a different request: nothing changed.
    KeyReused,
}

/// What must still hold for a login to join a session, checked in the same write.
#[derive(Clone, Copy, Debug, Default)]
pub struct JoinTerms<'a> {
    /// (minting login, its root): a minted login is written only while both stand, so a
    /// revocation racing with the mint wins.
    pub minted_by: Option<(&'a str, &'a str)>,
    /// The password version a password login was checked against: no password change
    /// may have happened since.
    pub password_version: Option<i64>,
}

/// The outcome of [`Store::join_session`].
#[derive(Debug)]
pub enum Joined {
    Joined(Box<SessionItem>),
    /// The session has ended or expired.
    Gone,
    /// The session is live but the terms failed: the minting login was signed out, or the
    /// password changed.
    Refused,
}

/// The outcome of trying to start a new session for a phone.
pub enum CreateSession {
    Created,
    /// Another session holds the phone's lock: join that one instead.
    Held {
        session_id: String,
        max_expires_at: i64,
    },
    /// A concurrent transaction touched the same items; try again.
    Contended,
}

impl Store {
    /// A live session of the phone, found through the `phone-index` GSI. The index is
    /// eventually consistent: a miss here is settled by the lock in [`Store::create_session`].
    pub async fn live_session_by_phone(
        &self,
        phone: &str,
        now: i64,
    ) -> StoreResult<Option<(String, i64)>> {
        let out = self
            .db
            .query()
            .table_name(&self.tables.sessions)
            .index_name(PHONE_INDEX)
            .key_condition_expression("phone = :p")
            .expression_attribute_values(":p", s(phone))
            .scan_index_forward(false)
            .limit(3)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.items().iter().find_map(|item| {
            let sid = item.get("pk")?.as_s().ok()?.clone();
            let expires = number(item, "expires_at")?;
            let max = number(item, "max_expires_at")?;
            (expires > now).then_some((sid, max))
        }))
    }

    pub async fn session(&self, session_id: &str) -> StoreResult<Option<SessionItem>> {
        let out = self
            .db
            .get_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        out.item
            .map(|item| serde_dynamo::from_item(item).map_err(unexpected))
            .transpose()
    }

    /// Adds a login to a live session: its channel, its token (the webhook's logins have
    /// none), a slid expiry, in one write that holds only while `terms` do.
    pub async fn join_session(
        &self,
        session_id: &str,
        channel: Channel,
        token: Option<(&str, &TokenEntry)>,
        terms: &JoinTerms<'_>,
        now: chrono::DateTime<chrono::Utc>,
        expires_at: i64,
    ) -> StoreResult<Joined> {
        let mut sets = "SET channels.#ch = if_not_exists(channels.#ch, :now), \
                        updated_at = :now, expires_at = :exp"
            .to_string();
        let mut request = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_id))
            .expression_attribute_names("#ch", channel.as_str())
            .expression_attribute_values(":now", s(crate::model::rfc3339(now)))
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":epoch", n(now.timestamp()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some((token_id, entry)) = token {
            sets.push_str(", tokens.#tid = :tok");
            request = request
                .expression_attribute_names("#tid", token_id)
                .expression_attribute_values(
                    ":tok",
                    serde_dynamo::to_attribute_value(entry).map_err(unexpected)?,
                );
        }
        let mut condition = "attribute_exists(pk) AND expires_at > :epoch".to_string();
        if let Some((minter, root)) = terms.minted_by {
            condition.push_str(
                " AND attribute_exists(tokens.#minter) AND attribute_exists(tokens.#root)",
            );
            request = request
                .expression_attribute_names("#minter", minter)
                .expression_attribute_names("#root", root);
        }
        if let Some(version) = terms.password_version {
            condition.push_str(
                " AND (attribute_not_exists(password_version) OR password_version <= :pv)",
            );
            request = request.expression_attribute_values(":pv", n(version));
        }
        let request = request
            .update_expression(sets)
            .condition_expression(condition);
        let result = retry_conflicts(|| request.clone().send()).await;
        let failed = match result {
            Ok(out) => {
                return out
                    .attributes
                    .map(|item| serde_dynamo::from_item(item).map_err(unexpected))
                    .transpose()?
                    .map_or(Ok(Joined::Gone), |item| Ok(Joined::Joined(Box::new(item))));
            }
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(e)) => e.item.clone(),
                _ => return Err(classify(err)),
            },
        };
        // The session is still live: what failed is one of the terms.
        let live = failed
            .as_ref()
            .and_then(|item| number(item, "expires_at"))
            .is_some_and(|at| at > now.timestamp());
        Ok(if live { Joined::Refused } else { Joined::Gone })
    }

    /// Starts a session and takes the phone's lock in one transaction. The lock, not the
    /// GSI, is what keeps one live session per phone. `replacing` names a dead session
    /// whose lock may be taken over; the same transaction deletes that session, so a login
    /// that read it as live a moment ago cannot revive it beside the new one.
    pub async fn create_session(
        &self,
        item: &SessionItem,
        replacing: Option<&str>,
        now_epoch: i64,
    ) -> StoreResult<CreateSession> {
        let mut lock = Put::builder()
            .table_name(&self.tables.sessions)
            .item("pk", lock_key(&item.phone))
            .item("session_id", s(&item.pk))
            .item("expires_at", n(item.max_expires_at))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        lock = match replacing {
            Some(stale) => lock
                .condition_expression("attribute_not_exists(pk) OR session_id = :stale")
                .expression_attribute_values(":stale", s(stale)),
            None => lock.condition_expression("attribute_not_exists(pk)"),
        };
        let session = Put::builder()
            .table_name(&self.tables.sessions)
            .set_item(Some(serde_dynamo::to_item(item).map_err(unexpected)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unexpected)?;
        let mut items = vec![
            TransactWriteItem::builder()
                .put(lock.build().map_err(unexpected)?)
                .build(),
            TransactWriteItem::builder().put(session).build(),
        ];
        if let Some(stale) = replacing {
            let delete_stale = Delete::builder()
                .table_name(&self.tables.sessions)
                .key("pk", s(stale))
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :epoch")
                .expression_attribute_values(":epoch", n(now_epoch))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(unexpected)?;
            items.push(TransactWriteItem::builder().delete(delete_stale).build());
        }
        let result = self
            .db
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(CreateSession::Created),
            Err(err) => err,
        };
        if let Some(TransactWriteItemsError::TransactionCanceledException(e)) =
            err.as_service_error()
        {
            let reasons = e.cancellation_reasons();
            // A number of the item a cancellation reason returned (ALL_OLD), if any.
            let old_number = |item: Option<&HashMap<String, AttributeValue>>, name: &str| {
                item.and_then(|i| number(i, name))
            };
            let failed = |i: usize| {
                reasons
                    .get(i)
                    .filter(|r| r.code() == Some("ConditionalCheckFailed"))
            };
            // The lock belongs to a session other than the one we may replace.
            if let Some(reason) = failed(0) {
                let sid = reason
                    .item()
                    .and_then(|i| i.get("session_id"))
                    .and_then(|v| v.as_s().ok());
                if let (Some(sid), Some(max)) = (sid, old_number(reason.item(), "expires_at")) {
                    return Ok(CreateSession::Held {
                        session_id: sid.clone(),
                        max_expires_at: max,
                    });
                }
            }
            // The session we took for dead was extended meanwhile: it is still the one.
            if let (Some(reason), Some(stale)) = (failed(2), replacing)
                && let Some(max) = old_number(reason.item(), "max_expires_at")
            {
                return Ok(CreateSession::Held {
                    session_id: stale.to_string(),
                    max_expires_at: max,
                });
            }
            if reasons
                .iter()
                .any(|r| r.code() == Some("TransactionConflict"))
            {
                return Ok(CreateSession::Contended);
            }
        }
        Err(classify(err))
    }

    /// Whether a write with this dedupe key has been made and is still remembered (a
    /// cheap early check; the transaction in [`Store::apply_changes`] is the real guard).
    pub async fn already_applied(&self, dedupe_key: &str) -> StoreResult<bool> {
        let out = self
            .db
            .get_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(format!("seen#{dedupe_key}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        let now = chrono::Utc::now().timestamp();
        // TTL deletes lazily (within days): an expired key no longer counts.
        Ok(out
            .item
            .is_some_and(|item| number(&item, "expires_at").is_some_and(|at| at > now)))
    }

    /// Slides the expiry of a live session and records that one of its logins was used
    /// (a pure read does this at most once per touch interval).
    pub async fn touch_session(
        &self,
        session_id: &str,
        token_id: &str,
        now: chrono::DateTime<chrono::Utc>,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let request = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_id))
            .update_expression("SET expires_at = :exp, tokens.#tid.last_used_at = :now")
            .condition_expression(
                "attribute_exists(pk) AND expires_at > :epoch AND attribute_exists(tokens.#tid)",
            )
            .expression_attribute_names("#tid", token_id)
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":now", s(crate::model::rfc3339(now)))
            .expression_attribute_values(":epoch", n(now.timestamp()));
        let result = retry_conflicts(|| request.clone().send()).await;
        Ok(if_condition_held(result)?.is_some())
    }

    /// Applies `/session/update` as one atomic write, made only while the session is live
    /// and the writing token (`None` for the sales agent's service key) is still valid.
    /// Returns the session afterwards, or `None` when the session or the token is gone.
    pub async fn apply_changes(
        &self,
        session: &SessionItem,
        token_id: Option<&str>,
        changes: &SessionChanges,
        now: chrono::DateTime<chrono::Utc>,
        expires_at: i64,
    ) -> StoreResult<Applied> {
        let now_text = crate::model::rfc3339(now);
        let mut sets = vec![
            "updated_at = :now".to_string(),
            "expires_at = :exp".to_string(),
        ];
        let mut names: HashMap<String, String> = HashMap::new();
        let mut condition = "attribute_exists(pk) AND expires_at > :epoch".to_string();
        if let Some(token_id) = token_id {
            names.insert("#tid".into(), token_id.into());
            condition.push_str(" AND attribute_exists(tokens.#tid)");
            // The item is written anyway: recording the use costs nothing more.
            sets.push("tokens.#tid.last_used_at = :now".into());
        }
        let mut values: HashMap<String, AttributeValue> = HashMap::from([
            (":now".into(), s(&now_text)),
            (":exp".into(), n(expires_at)),
            (":epoch".into(), n(now.timestamp())),
        ]);
        if !changes.messages.is_empty() {
            // Keeps the item far below 400 KB even when trims lag behind concurrent writers;
            // a write that would pass the cap trims first and tries again.
            condition.push_str(" AND size(recent) <= :room");
            values.insert(
                ":room".into(),
                n(MAX_RECENT.saturating_sub(changes.messages.len())),
            );
            sets.push("recent = list_append(recent, :msgs)".into());
            sets.push("message_count = message_count + :count".into());
            values.insert(
                ":msgs".into(),
                serde_dynamo::to_attribute_value(&changes.messages).map_err(unexpected)?,
            );
            values.insert(":count".into(), n(changes.messages.len()));
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
        let update = Update::builder()
            .table_name(&self.tables.sessions)
            .key("pk", s(session.id()))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(condition)
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(unexpected)?;

        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        if let Some(dedupe) = &changes.dedupe {
            let seen = Put::builder()
                .table_name(&self.tables.sessions)
                .item("pk", s(format!("seen#{}", dedupe.key)))
                .item("fingerprint", s(&dedupe.fingerprint))
                .item("expires_at", n((now + dedupe.ttl).timestamp()))
                // TTL deletes lazily (within days): an expired key is free again.
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :epoch")
                .expression_attribute_values(":epoch", n(now.timestamp()))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(unexpected)?;
            items.push(TransactWriteItem::builder().put(seen).build());
        }
        for (i, message) in changes.messages.iter().enumerate() {
            let put = put_message(
                &self.tables.messages,
                session.id(),
                sort_key(message_time(message).unwrap_or(now), i),
                message,
                session.max_expires_at,
            )?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        // Concurrent writers to one session (web, kiosk, agent) can collide inside
        // DynamoDB's transaction protocol; their changes commute, so try again.
        let mut attempt = 0;
        loop {
            // One token per logical attempt: an SDK retry of a transaction that did commit
            // (a timeout after success) is then a no-op instead of a failed condition.
            let result = self
                .db
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(hex::encode(rand::random::<[u8; 16]>()))
                .send()
                .await;
            let Err(err) = result else { break };
            let reasons = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    e.cancellation_reasons().to_vec()
                }
                _ => Vec::new(),
            };
            let failed =
                |i: usize| reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
            attempt += 1;
            // Checked first: a write made before is a replay, whatever else failed now.
            if let Some(dedupe) = changes.dedupe.as_ref().filter(|_| failed(1)) {
                let first = reasons[1]
                    .item()
                    .and_then(|item| item.get("fingerprint"))
                    .and_then(|v| v.as_s().ok());
                if first != Some(&dedupe.fingerprint) {
                    return Ok(Applied::KeyReused);
                }
                let current = self.session(session.id()).await?;
                let live = current.filter(|c| c.expires_at > now.timestamp());
                return Ok(Applied::Replayed(live.map(Box::new)));
            }
            if failed(0) {
                // Gone, or only the chat window is full: then trim and try again.
                let current = self.session(session.id()).await?;
                let still_valid = current.as_ref().is_some_and(|c| {
                    c.expires_at > now.timestamp()
                        && token_id.is_none_or(|t| c.tokens.contains_key(t))
                });
                match current {
                    Some(current) if still_valid && attempt < TRANSACTION_ATTEMPTS => {
                        self.trim(&current).await;
                        continue;
                    }
                    _ => return Ok(Applied::Gone),
                }
            }
            // DynamoDB cancels a throttled transaction too, and the SDK does not retry it.
            let conflict = reasons.iter().any(|r| {
                matches!(
                    r.code(),
                    Some(
                        "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                    )
                )
            });
            if !conflict || attempt >= TRANSACTION_ATTEMPTS {
                return Err(classify(err));
            }
            backoff(attempt).await;
        }
        let Some(after) = self.session(session.id()).await? else {
            return Ok(Applied::Gone);
        };
        self.trim(&after).await;
        Ok(Applied::Done(Box::new(after)))
    }

    /// Keeps the session item small: drops chat messages older than the window (they stay
    /// in the messages table), SKUs beyond the newest [`limits::RECOMMENDED_SKUS`], and
    /// the logins `logins::to_evict` names (fallen with their root, or beyond their
    /// group's quota). Best effort: the write is
    /// conditioned on what it read, and when another writer got there first, or the trim
    /// fails, the next write trims instead; the caller's own write has already succeeded.
    pub(crate) async fn trim(&self, item: &SessionItem) {
        // The chat window, in batches: only once the item holds [`TRIM_RECENT_AT`]
        // messages, down to the window, so the trim (a rewrite of the whole item) runs once
        // per twenty messages appended rather than after every message write. Only while no one has appended
        // meanwhile, since removal is by position.
        let extra_messages = if item.recent.len() >= TRIM_RECENT_AT {
            item.recent.len() - limits::CHAT_WINDOW
        } else {
            0
        };
        if extra_messages > 0 {
            let removes: Vec<String> = (0..extra_messages)
                .map(|i| format!("recent[{i}]"))
                .collect();
            let request = self
                .db
                .update_item()
                .table_name(&self.tables.sessions)
                .key("pk", s(item.id()))
                .update_expression(format!("REMOVE {}", removes.join(", ")))
                .condition_expression("attribute_exists(pk) AND size(recent) = :len")
                .expression_attribute_values(":len", n(item.recent.len()));
            self.best_effort_trim(item, request).await;
        }

        // SKUs and logins: by name, each SKU only if not recommended again meanwhile.
        let mut removes = Vec::new();
        let mut conditions = vec!["attribute_exists(pk)".to_string()];
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let skus = item.all_skus();
        for (i, sku) in skus
            .iter()
            .take(skus.len().saturating_sub(limits::RECOMMENDED_SKUS))
            .enumerate()
        {
            removes.push(format!("skus.#old{i}"));
            conditions.push(format!("skus.#old{i} = :old{i}"));
            names.insert(format!("#old{i}"), sku.clone());
            let Ok(mark) = serde_dynamo::to_attribute_value(item.skus[sku]) else {
                continue;
            };
            values.insert(format!(":old{i}"), mark);
        }
        for (i, id) in logins::to_evict(&item.tokens).into_iter().enumerate() {
            removes.push(format!("tokens.#tok{i}"));
            names.insert(format!("#tok{i}"), id);
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

    /// Ends one login: its token stops working at once. `false` if it was already gone.
    pub async fn revoke_token(&self, session_id: &str, token_id: &str) -> StoreResult<bool> {
        let request = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_id))
            .update_expression("REMOVE tokens.#tid")
            .condition_expression("attribute_exists(tokens.#tid)")
            .expression_attribute_names("#tid", token_id);
        let result = retry_conflicts(|| request.clone().send()).await;
        Ok(if_condition_held(result)?.is_some())
    }

    /// Signs every login of the session out at once (logout-all, a password change). A
    /// password change also records the new `password_version`, so that a password login
    /// checked against the old password a moment ago cannot join afterwards.
    pub async fn revoke_all_tokens(
        &self,
        session_id: &str,
        password_version: Option<i64>,
    ) -> StoreResult<()> {
        let mut request = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_id))
            .update_expression("SET tokens = :none")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":none", AttributeValue::M(HashMap::new()));
        if let Some(version) = password_version {
            request = request
                .update_expression("SET tokens = :none, password_version = :pv")
                .expression_attribute_values(":pv", n(version));
        }
        let result = retry_conflicts(|| request.clone().send()).await;
        if_condition_held(result)?;
        Ok(())
    }

    /// Ends the session on every channel: deletes it and releases the phone's lock.
    /// Its messages expire with the session's absolute cap (the messages table's TTL).
    pub async fn end_session(&self, session: &SessionItem) -> StoreResult<()> {
        let delete_session = Delete::builder()
            .table_name(&self.tables.sessions)
            .key("pk", s(session.id()))
            .build()
            .map_err(unexpected)?;
        let release_lock = Delete::builder()
            .table_name(&self.tables.sessions)
            .key("pk", lock_key(&session.phone))
            .condition_expression("session_id = :sid")
            .expression_attribute_values(":sid", s(session.id()))
            .build()
            .map_err(unexpected)?;
        let result = self
            .db
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .delete(delete_session.clone())
                    .build(),
            )
            .transact_items(TransactWriteItem::builder().delete(release_lock).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The lock already points elsewhere: delete the session alone. Any other
            // cancellation (throttling, a conflict) must not leave the lock behind: 503.
            Err(err)
                if err.as_service_error().is_some_and(|e| {
                    matches!(e, TransactWriteItemsError::TransactionCanceledException(c)
                        if c.cancellation_reasons().get(1).and_then(|r| r.code())
                            == Some("ConditionalCheckFailed"))
                }) =>
            {
                self.db
                    .delete_item()
                    .table_name(&self.tables.sessions)
                    .key("pk", s(session.id()))
                    .send()
                    .await
                    .map_err(classify)?;
                Ok(())
            }
            Err(err) => Err(classify(err)),
        }
    }
}

/// Tries of a transaction that lost a race to a concurrent one on the same items.
const TRANSACTION_ATTEMPTS: u32 = super::CONFLICT_ATTEMPTS;

/// Messages the session item may hold before a write must wait for a trim: 60 messages
/// of at most 4 KB keep the item far below DynamoDB's 400 KB.
const MAX_RECENT: usize = 3 * limits::CHAT_WINDOW;

/// The chat window is trimmed once the item holds this many messages (views show only
/// the last [`limits::CHAT_WINDOW`]).
const TRIM_RECENT_AT: usize = 2 * limits::CHAT_WINDOW;
// A full update must fit below the hard cap whenever no trim is due.
const _: () = assert!(TRIM_RECENT_AT - 1 + limits::MESSAGES_PER_UPDATE <= MAX_RECENT);

/// A message's own time (the provider's, for WhatsApp), so history sorts by when it was
/// said, not when it arrived.
fn message_time(message: &ChatMessage) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(&message.at)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}
