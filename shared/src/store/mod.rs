//! The DynamoDB store: item shapes, keys and conditional writes. Nothing above this
//! module builds an attribute map or an expression.
//!
//! Four tables (declared in template.yaml, created locally from it):
//! - customers: `phone#<e164>` holds the customer record (one phone, one customer);
//!   `customer#<id>` claims the id so that two phones cannot share it.
//! - sessions: `<session id>` holds a session with its logins' token hashes and its
//!   memory (summary, SKUs, cart); `phone#<e164>` is the lock that makes one live session per
//!   phone. The `phone-index` GSI finds a phone's session across channels. `qr#<hash>`
//!   holds a QR handoff code; `lockout#…` counts failed attempts (`guard`'s buckets);
//!   `rate#…` counts events in a fixed window (logins minted per hour); `seen#…`
//!   remembers delivered WhatsApp message ids (and each one's sort key, for its edits)
//!   and `Idempotency-Key`s; `code#…` and
//!   `sends#…` hold verification codes and their sends, `walink#<id>` click-to-verify
//!   links.
//! - messages: every chat message, keyed by session id and a time-ordered sort key: the
//!   only copy of the history, so a session item's size does not grow with it; and each
//!   customer's account events (`events#<customer id>`, 90 days; see `events`).
//! - kiosks: the kiosk registry, one item per kiosk keyed by `kiosk_id` (its key's hash,
//!   store, label; see `crate::kiosks`). Nothing personal: erasures never look there.

mod changes;
mod codes;
mod customers;
mod erasure;
mod events;
mod identities;
mod join;
mod kiosks;
mod lockout;
mod merge;
mod messages;
mod qr;
mod renumber;
mod revisions;
mod scan;
pub mod schema;
mod session_item;
mod tokens;
mod transaction;
mod walinks;

use std::collections::HashMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

pub use changes::{Applied, Claim, Dedupe, SessionChanges, WhatsappMessage};
pub use codes::CodeTry;
pub use customers::{CreateCustomer, CustomerItem, ImportOutcome};
pub use erasure::{
    LastItems, MessageKey, Needles, Table, login_item, message_key, phone_items, pk_key,
    user_items, whatsapp_claim_item,
};
pub use identities::UserRecords;
pub use join::{CreateSession, Entering, JoinTerms, Joined};
pub use merge::{Fold, Rekeyed};
pub(crate) use messages::sort_key;
pub use qr::QrGrant;
pub use renumber::Renumbered;
pub use revisions::{MessageLocation, Revision, whatsapp_claim_key};
pub use session_item::{SessionItem, SkuMark, StoredLogin, TokenEntry};
pub use walinks::{NewLink, StoredLink};

use crate::config::{Config, Tables};

#[derive(Clone, Debug)]
pub struct Store {
    db: Client,
    tables: Tables,
}

/// `Clone`: the kiosk registry's cache hands one failed read's error to every request
/// that waited for that read.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttled, timed out or unreachable after the SDK's retries: the client should
    /// retry later (503).
    #[error("DynamoDB unavailable: {0}")]
    Unavailable(String),
    #[error("DynamoDB error: {0}")]
    Unexpected(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl Store {
    /// Builds the client from the environment (region, credentials) with the SDK's
    /// standard retry mode and timeouts that fit inside the function's own timeout, and
    /// the interceptor that counts throttles and retries (`metrics`).
    pub async fn connect(config: &Config) -> Self {
        let sdk = Self::sdk_config(config).load().await;
        Self::on_sdk(&sdk, config.tables.clone())
    }

    /// The store on SDK settings already loaded (from [`Store::sdk_config`]): its client
    /// counts the throttles and retries of the request it serves (`metrics`).
    pub fn on_sdk(sdk: &aws_config::SdkConfig, tables: Tables) -> Self {
        let dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(crate::metrics::DynamoDbCalls)
            .build();
        Self::new(Client::from_conf(dynamodb), tables)
    }

    /// The SDK settings of [`Store::connect`], for tools that build their own client
    /// the same way (the benchmark adds an interceptor).
    pub fn sdk_config(config: &Config) -> aws_config::ConfigLoader {
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(1))
                    .operation_attempt_timeout(Duration::from_secs(2))
                    .operation_timeout(Duration::from_secs(5))
                    .build(),
            );
        match &config.dynamodb_endpoint {
            Some(endpoint) => loader.endpoint_url(endpoint),
            None => loader,
        }
    }

    pub fn new(db: Client, tables: Tables) -> Self {
        Self { db, tables }
    }

    pub fn client(&self) -> &Client {
        &self.db
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The key of a phone's lock: the item that makes one live session per phone.
pub(crate) fn lock_key(phone: &str) -> AttributeValue {
    s(format!("phone#{phone}"))
}

/// An item as DynamoDB returns it.
pub(crate) type Item = HashMap<String, AttributeValue>;

/// What a [`Store::get_batch`] found, by table and key.
pub(crate) struct Batch(HashMap<String, Vec<Item>>);

/// An item, if any, as the type it stores.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(item: Option<Item>) -> StoreResult<Option<T>> {
    item.map(|item| serde_dynamo::from_item(item).map_err(unexpected))
        .transpose()
}

impl Batch {
    /// The item of `table` whose `pk` is `pk`, if it was found.
    pub(crate) fn take(&mut self, table: &str, pk: &AttributeValue) -> Option<Item> {
        let items = self.0.get_mut(table)?;
        let at = items.iter().position(|item| item.get("pk") == Some(pk))?;
        Some(items.swap_remove(at))
    }
}

impl Store {
    /// Items by their `pk`, from one or more tables, in one strongly consistent
    /// `BatchGetItem` (one round trip).
    pub(crate) async fn get_batch(&self, keys: &[(&str, AttributeValue)]) -> StoreResult<Batch> {
        let mut by_table: HashMap<&str, Vec<Item>> = HashMap::new();
        for (table, pk) in keys {
            by_table
                .entry(table)
                .or_default()
                .push(HashMap::from([("pk".to_string(), pk.clone())]));
        }
        let mut request = self.db.batch_get_item();
        for (table, keys) in by_table {
            let keys = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(unexpected)?;
            request = request.request_items(table, keys);
        }
        let out = request.send().await.map_err(classify)?;
        // Throttled keys come back unprocessed: retry later (503), like a throttled read.
        if out.unprocessed_keys.as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(StoreError::Unavailable(
                "BatchGetItem left keys unprocessed".into(),
            ));
        }
        Ok(Batch(out.responses.unwrap_or_default()))
    }
}

/// A whole-number attribute of an item (expiries, counters), if present and a number.
pub(crate) fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// Sorts an SDK failure into "retry later" and "our fault".
/// Every item a query names, all its pages read (one request per page).
pub(crate) async fn query_all(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> StoreResult<Vec<Item>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = query
            .clone()
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(classify)?;
        items.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key.filter(|key| !key.is_empty());
        if start.is_none() {
            return Ok(items);
        }
    }
}

pub(crate) fn classify<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => {
            matches!(
                e.err().code(),
                Some(
                    "ProvisionedThroughputExceededException"
                        | "ThrottlingException"
                        | "RequestLimitExceeded"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                        | "TransactionInProgressException"
                )
            ) || transiently_cancelled(e.err())
        }
        _ => false,
    };
    let text = DisplayErrorContext(&err).to_string();
    // A write that collided with a concurrent transaction on the same item: the retry
    // the client is told to make (503 + Retry-After) will succeed.
    let transient = transient || text.contains("TransactionConflict");
    if transient {
        StoreError::Unavailable(text)
    } else {
        StoreError::Unexpected(text)
    }
}

/// A transaction cancelled for a reason that passes: DynamoDB reports a throttled or
/// colliding `TransactWriteItems` as a cancellation, not as a throttling error.
fn transiently_cancelled(err: &(dyn std::any::Any + 'static)) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match err.downcast_ref::<TransactWriteItemsError>() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
            e.cancellation_reasons().iter().any(|r| {
                matches!(
                    r.code(),
                    Some(
                        "ThrottlingError" | "ProvisionedThroughputExceeded" | "TransactionConflict"
                    )
                )
            })
        }
        _ => false,
    }
}

/// The outcome of a conditional single-item write (`PutItem`, `UpdateItem`, `DeleteItem`):
/// `Some` when the condition held and the write was made, `None` when it did not hold; any
/// other failure is classified.
pub(crate) fn if_condition_held<T, E, R>(
    result: Result<T, SdkError<E, R>>,
) -> StoreResult<Option<T>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.code() == Some("ConditionalCheckFailedException")) =>
        {
            Ok(None)
        }
        Err(e) => Err(classify(e)),
    }
}

/// Tries of a write that lost a race to a concurrent transaction on the same item.
pub(crate) const CONFLICT_ATTEMPTS: u32 = 6;

/// Sends a single-item write again when it collided with a transaction in flight on the
/// same item (`TransactionConflictException`, which the SDK's retry mode leaves to us).
pub(crate) async fn retry_conflicts<T, E, R, F, Fut>(mut send: F) -> Result<T, SdkError<E, R>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let mut attempt = 0;
    loop {
        let result = send().await;
        attempt += 1;
        match &result {
            Err(SdkError::ServiceError(e))
                if e.err().code() == Some("TransactionConflictException")
                    && attempt < CONFLICT_ATTEMPTS =>
            {
                backoff(attempt).await
            }
            _ => return result,
        }
    }
}

/// A short, growing, jittered pause before trying a contended write again.
pub(crate) async fn backoff(attempt: u32) {
    let millis = 10 * u64::from(attempt) + rand::random::<u64>() % 20;
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

pub(crate) fn unexpected(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unexpected(err.to_string())
}
