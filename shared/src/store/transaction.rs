//! `TransactWriteItems` with named slots: each item of a transaction has a name, and a
//! cancellation is read by the names of the items whose condition failed, never by
//! position, so adding an item to a transaction cannot silently shift what a failure
//! means.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Delete, Put, TransactWriteItem, Update,
};

use super::{StoreError, classify};

/// A transaction being built: items in order, each under a name unique within it.
#[derive(Default)]
pub(crate) struct Transaction {
    slots: Vec<&'static str>,
    items: Vec<TransactWriteItem>,
}

impl Transaction {
    pub(crate) fn put(mut self, slot: &'static str, put: Put) -> Self {
        self.push(slot, TransactWriteItem::builder().put(put).build());
        self
    }

    pub(crate) fn update(mut self, slot: &'static str, update: Update) -> Self {
        self.push(slot, TransactWriteItem::builder().update(update).build());
        self
    }

    pub(crate) fn delete(mut self, slot: &'static str, delete: Delete) -> Self {
        self.push(slot, TransactWriteItem::builder().delete(delete).build());
        self
    }

    fn push(&mut self, slot: &'static str, item: TransactWriteItem) {
        debug_assert!(!self.slots.contains(&slot), "slot {slot} named twice");
        self.slots.push(slot);
        self.items.push(item);
    }

    /// Sends the transaction. `Err(Cancelled)` when DynamoDB cancelled it (a condition
    /// failed, a conflict, throttling); any other failure is classified.
    pub(crate) async fn send(self, db: &Client) -> Result<(), Outcome> {
        let result = db
            .transact_write_items()
            .set_transact_items(Some(self.items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let reasons = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                e.cancellation_reasons().to_vec()
            }
            _ => return Err(Outcome::Failed(classify(err))),
        };
        let by_slot = self.slots.into_iter().zip(reasons).collect();
        Err(Outcome::Cancelled(Box::new(Cancelled {
            reasons: by_slot,
            error: err,
        })))
    }
}

/// Why a transaction was not written.
pub(crate) enum Outcome {
    Cancelled(Box<Cancelled>),
    Failed(StoreError),
}

/// A cancelled transaction: what happened to each named item.
pub(crate) struct Cancelled {
    reasons: HashMap<&'static str, CancellationReason>,
    error: SdkError<TransactWriteItemsError>,
}

impl Cancelled {
    /// The item named `slot` as it was (its `ALL_OLD` values, where asked for) when its
    /// condition failed; `None` when its condition held.
    pub(crate) fn failed(&self, slot: &str) -> Option<Option<&HashMap<String, AttributeValue>>> {
        self.reasons
            .get(slot)
            .filter(|r| r.code() == Some("ConditionalCheckFailed"))
            .map(|r| r.item())
    }

    /// A concurrent transaction on the same items (or throttling) cancelled it: trying
    /// again may succeed.
    pub(crate) fn contended(&self) -> bool {
        self.reasons.values().any(|r| {
            matches!(
                r.code(),
                Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")
            )
        })
    }

    /// The failure as the store reports it (503 when it passes, else unexpected).
    pub(crate) fn into_error(self) -> StoreError {
        classify(self.error)
    }
}
