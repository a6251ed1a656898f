//! Finding and deleting everything stored about one customer (`service::erasure`), and
//! reading their history page by page (`service::export`).
//!
//! Most items are found by key: the customer's record and id claim, the phone's lock, code
//! and send records, its sessions (through the `phone-index` GSI), their logins and
//! messages. A few short-lived items are keyed by something we cannot rebuild (an
//! `Idempotency-Key`'s hash, a caller's address fingerprint, a revoked login's token id,
//! a link id): [`Store::items_naming`] finds those with a filtered `Scan`.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use futures::{StreamExt, TryStreamExt, stream};

use super::query_all;
use super::schema::PHONE_INDEX;
use super::{Item, Store, StoreError, StoreResult, classify, decode, if_condition_held, s};
use crate::model::ChatMessage;

/// Tries of a batch whose items DynamoDB left unprocessed.
const BATCH_ATTEMPTS: u32 = 6;
/// `BatchWriteItem` calls in flight at once: 5 000 messages are 200 batches.
const PARALLEL_BATCHES: usize = 16;

/// Which table an item is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Customers,
    Sessions,
    Messages,
}

/// A message's key, and the WhatsApp message id it came with (whose `seen#` claim names
/// it).
pub struct MessageKey {
    pub sort_key: String,
    pub wamid: Option<String>,
}

/// What identifies a customer in stored items: any item whose key contains one of these,
/// or whose attributes name one of them, is theirs.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Needles {
    pub phone: String,
    pub customer_id: String,
    pub session_ids: Vec<String>,
    /// WhatsApp user ids (BSUIDs) linked to the customer.
    pub user_ids: Vec<String>,
}

impl Store {
    fn table_name(&self, table: Table) -> &str {
        match table {
            Table::Customers => &self.tables.customers,
            Table::Sessions => &self.tables.sessions,
            Table::Messages => &self.tables.messages,
        }
    }

    /// Every session id stored under `phone` in the phone index, live or expired (the
    /// index is eventually consistent: the lock names the live one for sure).
    pub async fn session_ids_by_phone(&self, phone: &str) -> StoreResult<Vec<String>> {
        let query = self
            .db
            .query()
            .table_name(&self.tables.sessions)
            .index_name(PHONE_INDEX)
            .key_condition_expression("phone = :p")
            .expression_attribute_values(":p", s(phone));
        Ok(query_all(query)
            .await?
            .iter()
            .filter_map(|item| item.get("pk")?.as_s().ok().cloned())
            .collect())
    }

    /// The keys of every message of a session (and their WhatsApp ids), read consistently.
    pub async fn message_keys(&self, session_id: &str) -> StoreResult<Vec<MessageKey>> {
        let query = self
            .session_messages(session_id)
            .projection_expression("sk, wamid");
        Ok(query_all(query)
            .await?
            .iter()
            .filter_map(|item| {
                Some(MessageKey {
                    sort_key: item.get("sk")?.as_s().ok()?.clone(),
                    wamid: item.get("wamid").and_then(|v| v.as_s().ok()).cloned(),
                })
            })
            .collect())
    }

    /// Up to `limit` messages of a session after the sort key `after`, oldest first, with
    /// the sort key of the last one when more may follow.
    pub async fn messages_page(
        &self,
        session_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<ChatMessage>, Option<String>)> {
        let start = after.map(|sk| {
            HashMap::from([("pk".to_string(), s(session_id)), ("sk".to_string(), s(sk))])
        });
        let page = self
            .session_messages(session_id)
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        let next = page
            .last_evaluated_key
            .as_ref()
            .and_then(|key| key.get("sk")?.as_s().ok().cloned());
        let messages = page
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| serde_dynamo::from_item(item).map_err(super::unexpected))
            .collect::<StoreResult<Vec<ChatMessage>>>()?;
        Ok((messages, next))
    }

    /// Items of `table` by `pk` (any number; 100 to a `BatchGetItem`), read consistently.
    pub async fn items_by_pk(&self, table: Table, keys: &[String]) -> StoreResult<Vec<Item>> {
        let name = self.table_name(table).to_string();
        let mut keys = keys.to_vec();
        // A batch refuses the same key twice.
        keys.sort();
        keys.dedup();
        let mut found = Vec::new();
        for chunk in keys.chunks(100) {
            let pks: Vec<(&str, AttributeValue)> =
                chunk.iter().map(|k| (name.as_str(), s(k))).collect();
            let mut batch = self.get_batch(&pks).await?;
            found.extend(pks.iter().filter_map(|(t, pk)| batch.take(t, pk)));
        }
        Ok(found)
    }

    /// Deletes items by key (`pk`, and `sk` for messages), 25 to a `BatchWriteItem`,
    /// [`PARALLEL_BATCHES`] at once; items already gone are no error.
    pub async fn delete_items(&self, table: Table, keys: Vec<Item>) -> StoreResult<usize> {
        let count = keys.len();
        let name = self.table_name(table).to_string();
        let batches: Vec<Vec<WriteRequest>> = keys
            .chunks(25)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|key| {
                        let delete = DeleteRequest::builder()
                            .set_key(Some(key.clone()))
                            .build()
                            .map_err(super::unexpected)?;
                        Ok(WriteRequest::builder().delete_request(delete).build())
                    })
                    .collect::<StoreResult<Vec<_>>>()
            })
            .collect::<StoreResult<_>>()?;
        stream::iter(batches)
            .map(|batch| self.write_batch(&name, batch))
            .buffer_unordered(PARALLEL_BATCHES)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(count)
    }

    async fn write_batch(&self, table: &str, mut pending: Vec<WriteRequest>) -> StoreResult<()> {
        for attempt in 0..BATCH_ATTEMPTS {
            let out = self
                .db
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(classify)?;
            pending = out
                .unprocessed_items
                .and_then(|mut left| left.remove(table))
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
            // Throttled: back off before sending what is left.
            tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
        }
        Err(StoreError::Unavailable(
            "BatchWriteItem kept items unprocessed".into(),
        ))
    }

    /// The keys of every item of `table` that names the customer (see [`Needles`]): a
    /// filtered `Scan` in parallel segments. It reads the whole table, so it is kept for
    /// what cannot be found by key, and the caller bounds it in time.
    pub async fn items_naming(&self, table: Table, needles: &Needles) -> StoreResult<Vec<Item>> {
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        let mut terms = Vec::new();
        let mut add = |value: &str, attributes: &[&str]| {
            if value.is_empty() {
                return;
            }
            let name = format!(":v{}", values.len());
            values.insert(name.clone(), s(value));
            terms.push(format!("contains(pk, {name})"));
            for attribute in attributes {
                terms.push(format!("{attribute} = {name}"));
            }
        };
        add(
            &needles.phone,
            &["phone", "phone_number", "sender", "owner_phone"],
        );
        add(&needles.customer_id, &["customer_id"]);
        for sid in &needles.session_ids {
            add(sid, &["session_id", "step_session"]);
        }
        for user in &needles.user_ids {
            add(user, &["whatsapp_user_id"]);
        }
        let filter = terms.join(" OR ");
        let key_attributes = if table == Table::Messages {
            "pk, sk"
        } else {
            "pk"
        };
        self.scan_filtered(self.table_name(table), &filter, values, key_attributes)
            .await
    }

    /// The logins standing in `session`, each with its own item (where it was issued: this
    /// session, or one merged into it), by token id.
    pub async fn logins_of(
        &self,
        session: &super::SessionItem,
    ) -> StoreResult<Vec<(String, super::TokenEntry)>> {
        let mut homes = vec![session.id().to_string()];
        homes.extend(session.merged_from.iter().cloned());
        let mut keys = Vec::new();
        for token_id in session.tokens.keys() {
            for home in &homes {
                keys.push(super::tokens::login_key(home, token_id));
            }
        }
        let mut found: HashMap<String, super::TokenEntry> = HashMap::new();
        for item in self.items_by_pk(Table::Sessions, &keys).await? {
            let Some(pk) = item.get("pk").and_then(|v| v.as_s().ok()).cloned() else {
                continue;
            };
            let Some(token_id) = pk.rsplit('#').next().map(str::to_string) else {
                continue;
            };
            if let Some(entry) = decode::<super::TokenEntry>(Some(item))? {
                found.insert(token_id, entry);
            }
        }
        Ok(session
            .tokens
            .iter()
            .filter_map(|(token_id, stored)| {
                let entry = match stored {
                    super::StoredLogin::Whole(entry) => entry.clone(),
                    super::StoredLogin::Mark(_) => found.get(token_id)?.clone(),
                };
                Some((token_id.clone(), entry))
            })
            .collect())
    }

    /// Records what an erasure is about to delete (`erase#<phone>`, in the sessions table),
    /// before it deletes anything: a run cut short is finished from it by the operator's
    /// `erase`, even once the session that named the rest has gone.
    pub async fn put_erasure(&self, needles: &Needles) -> StoreResult<()> {
        let mut item: Item = serde_dynamo::to_item(needles).map_err(super::unexpected)?;
        item.insert("pk".into(), erasure_key(&needles.phone));
        self.db
            .put_item()
            .table_name(&self.tables.sessions)
            .set_item(Some(item))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// An erasure of `phone` recorded and not finished.
    pub async fn erasure(&self, phone: &str) -> StoreResult<Option<Needles>> {
        let table = &self.tables.sessions;
        let mut found = self.get_batch(&[(table, erasure_key(phone))]).await?;
        decode(found.take(table, &erasure_key(phone)))
    }

    /// Deletes the session item and the phone's lock (if it still names the session) at
    /// once: every token of it is refused from here on, and every write's condition
    /// (the session exists) fails.
    pub async fn delete_session_now(&self, session_id: &str, phone: &str) -> StoreResult<()> {
        let session = self
            .db
            .delete_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_id))
            .send();
        let lock = self
            .db
            .delete_item()
            .table_name(&self.tables.sessions)
            .key("pk", super::lock_key(phone))
            .condition_expression("session_id = :sid")
            .expression_attribute_values(":sid", s(session_id))
            .send();
        let (session, lock) = tokio::join!(session, lock);
        session.map_err(classify)?;
        if_condition_held(lock)?;
        Ok(())
    }
}

fn erasure_key(phone: &str) -> AttributeValue {
    s(erasure_pk(phone))
}

fn erasure_pk(phone: &str) -> String {
    format!("erase#{phone}")
}

/// The sessions table's items keyed by the phone alone: its codes, sends and guessing
/// bucket (the lock goes with the session).
pub fn phone_items(phone: &str) -> Vec<Item> {
    let mut keys: Vec<String> = crate::codes::Purpose::ALL
        .iter()
        .map(|purpose| format!("code#{}#{phone}", purpose.as_str()))
        .collect();
    keys.push(format!("sends#{phone}"));
    keys.push(format!("lockout#login#{phone}"));
    keys.iter().map(|k| pk_key(k)).collect()
}

/// A login's own item.
pub fn login_item(session_id: &str, token_id: &str) -> Item {
    pk_key(&super::tokens::login_key(session_id, token_id))
}

/// A delivered WhatsApp message's `seen#` claim.
pub fn whatsapp_claim_item(message_id: &str) -> Item {
    pk_key(&format!(
        "seen#{}",
        super::revisions::whatsapp_claim_key(message_id)
    ))
}

/// The customers table's records of WhatsApp user ids: each one's pointer and the record
/// of a customer known by it alone.
pub fn user_items(user_ids: &[String]) -> Vec<Item> {
    user_ids
        .iter()
        .flat_map(|user| [format!("user#{user}"), format!("phone#u:{user}")])
        .map(|k| pk_key(&k))
        .collect()
}

/// The customer's record and id claim (customers table), and the erasure's own record
/// (sessions table): deleted last, so that until then the phone is taken and a run cut
/// short can be finished.
pub struct LastItems {
    pub customers: Vec<Item>,
    pub sessions: Vec<Item>,
}

impl LastItems {
    pub fn of(phone: &str, customer_id: &str) -> Self {
        Self {
            customers: vec![
                pk_key(&format!("phone#{phone}")),
                pk_key(&format!("customer#{customer_id}")),
            ],
            sessions: vec![pk_key(&erasure_pk(phone))],
        }
    }

    /// Whether `item` (a key) is one of these.
    pub fn holds(&self, item: &Item) -> bool {
        self.customers.contains(item) || self.sessions.contains(item)
    }
}

/// The key of an item of a table keyed by `pk` alone.
pub fn pk_key(pk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk))])
}

/// The key of a message.
pub fn message_key(session_id: &str, sort_key: &str) -> Item {
    HashMap::from([
        ("pk".to_string(), s(session_id)),
        ("sk".to_string(), s(sort_key)),
    ])
}
