//! An SDK interceptor on the handlers' DynamoDB client. For every call it records the
//! typed input (so the bench's floor can replay it, and the tests count the calls), when
//! the SDK started and finished it, the error code if it failed, and, when asked, the
//! capacity DynamoDB says it consumed.
//!
//! The capacity comes from `ReturnConsumedCapacity`, which the store never sets: the
//! interceptor adds `"ReturnConsumedCapacity":"INDEXES"` to the JSON body just before
//! signing and reads `ConsumedCapacity` from the response body, so the store code stays
//! exactly as deployed. INDEXES (a superset of TOTAL) also splits out the GSI's share.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
    FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::{
    batch_get_item::BatchGetItemInput, delete_item::DeleteItemInput, get_item::GetItemInput,
    put_item::PutItemInput, query::QueryInput, scan::ScanInput,
    transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

use crate::capacity::{self, Capacity};

/// The typed input of one DynamoDB call, as the store built it.
#[derive(Clone, Debug)]
pub enum Input {
    GetItem(GetItemInput),
    BatchGetItem(BatchGetItemInput),
    Query(QueryInput),
    /// The kiosk registry's read (`Store::kiosk_registry`); an erasure's sweep.
    Scan(ScanInput),
    UpdateItem(UpdateItemInput),
    PutItem(PutItemInput),
    DeleteItem(DeleteItemInput),
    TransactWriteItems(TransactWriteItemsInput),
    /// An operation the store does not use today; counted, not replayed.
    Other,
}

impl Input {
    pub fn name(&self) -> &'static str {
        match self {
            Input::GetItem(_) => "GetItem",
            Input::BatchGetItem(_) => "BatchGetItem",
            Input::Query(_) => "Query",
            Input::Scan(_) => "Scan",
            Input::UpdateItem(_) => "UpdateItem",
            Input::PutItem(_) => "PutItem",
            Input::DeleteItem(_) => "DeleteItem",
            Input::TransactWriteItems(_) => "TransactWriteItems",
            Input::Other => "other",
        }
    }

    /// A read is billed in read units, everything else in write units.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Input::GetItem(_) | Input::BatchGetItem(_) | Input::Query(_) | Input::Scan(_)
        )
    }

    /// Whether a token check's read is strongly consistent (docs/design.md §6).
    pub fn consistent_read(&self) -> Option<bool> {
        match self {
            Input::GetItem(i) => Some(i.consistent_read.unwrap_or(false)),
            Input::Query(i) => Some(i.consistent_read.unwrap_or(false)),
            Input::Scan(i) => Some(i.consistent_read.unwrap_or(false)),
            Input::BatchGetItem(i) => Some(
                i.request_items
                    .as_ref()
                    .is_some_and(|m| m.values().all(|k| k.consistent_read.unwrap_or(false))),
            ),
            _ => None,
        }
    }
}

/// One DynamoDB call as the SDK made it for a handler.
#[derive(Clone, Debug)]
pub struct Call {
    pub input: Input,
    pub started: Instant,
    pub finished: Instant,
    /// The service's error code (`ConditionalCheckFailedException`, …) if it failed.
    pub error: Option<String>,
    /// What DynamoDB reported, when capacity was requested and it answered with it.
    pub capacity: Option<Capacity>,
}

/// Per-call state carried in the SDK's config bag from the first hook to the last, so
/// that overlapping calls could never mix up their start times.
#[derive(Debug)]
struct Pending {
    input: Input,
    started: Instant,
}

impl Storable for Pending {
    type Storer = StoreReplace<Self>;
}

#[derive(Clone, Debug, Default)]
pub struct Probe {
    calls: Arc<Mutex<Vec<Call>>>,
    want_capacity: Arc<AtomicBool>,
}

impl Probe {
    /// Every call recorded since the last `take`.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().expect("probe lock"))
    }

    /// The round trips of every call recorded since the last `take`: calls that were in
    /// flight at the same time (sent in parallel) make one round trip, written
    /// `"BatchGetItem + Query"`; round trips in order.
    pub fn take_round_trips(&self) -> Vec<String> {
        round_trips(&self.take())
    }

    /// Ask DynamoDB for consumed capacity on the following calls (or stop asking): kept
    /// off while timing, since it makes responses a little larger.
    pub fn request_capacity(&self, on: bool) {
        self.want_capacity.store(on, Ordering::SeqCst);
    }
}

/// Groups calls into round trips: a call that starts before every call of the current
/// group has finished was sent beside them.
pub fn round_trips(calls: &[Call]) -> Vec<String> {
    let mut calls: Vec<&Call> = calls.iter().collect();
    calls.sort_by_key(|c| c.started);
    let mut trips: Vec<(Instant, Vec<&'static str>)> = Vec::new();
    for call in calls {
        match trips.last_mut() {
            Some((until, names)) if call.started < *until => {
                names.push(call.input.name());
                *until = (*until).max(call.finished);
            }
            _ => trips.push((call.finished, vec![call.input.name()])),
        }
    }
    trips
        .into_iter()
        .map(|(_, mut names)| {
            names.sort();
            names.join(" + ")
        })
        .collect()
}

impl Intercept for Probe {
    fn name(&self) -> &'static str {
        "omnisession probe"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        // The SDK erases the input's type; these are the operations the store uses.
        let input = if let Some(i) = input.downcast_ref::<GetItemInput>() {
            Input::GetItem(i.clone())
        } else if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
            Input::BatchGetItem(i.clone())
        } else if let Some(i) = input.downcast_ref::<QueryInput>() {
            Input::Query(i.clone())
        } else if let Some(i) = input.downcast_ref::<ScanInput>() {
            Input::Scan(i.clone())
        } else if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
            Input::UpdateItem(i.clone())
        } else if let Some(i) = input.downcast_ref::<PutItemInput>() {
            Input::PutItem(i.clone())
        } else if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
            Input::DeleteItem(i.clone())
        } else if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
            Input::TransactWriteItems(i.clone())
        } else {
            Input::Other
        };
        cfg.interceptor_state().store_put(Pending {
            input,
            started: Instant::now(),
        });
        Ok(())
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !self.want_capacity.load(Ordering::SeqCst) {
            return Ok(());
        }
        let request = context.request_mut();
        let Some(bytes) = request.body().bytes() else {
            return Ok(());
        };
        let mut body: serde_json::Value = serde_json::from_slice(bytes)?;
        if let Some(object) = body.as_object_mut() {
            object.insert("ReturnConsumedCapacity".into(), "INDEXES".into());
        }
        let bytes = serde_json::to_vec(&body)?;
        request
            .headers_mut()
            .insert("content-length", bytes.len().to_string());
        *request.body_mut() = SdkBody::from(bytes);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let finished = Instant::now();
        let Some(pending) = cfg.load::<Pending>() else {
            return Ok(());
        };
        let body = context
            .response()
            .and_then(|r| r.body().bytes())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok());
        let failed = context
            .output_or_error()
            .is_some_and(|result| result.is_err());
        let error = failed.then(|| {
            body.as_ref()
                .and_then(|b| b["__type"].as_str())
                .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
                .unwrap_or_else(|| "unknown".into())
        });
        let capacity = body
            .as_ref()
            .and_then(|b| capacity::from_response(b, pending.input.is_read()));
        self.calls.lock().expect("probe lock").push(Call {
            input: pending.input.clone(),
            started: pending.started,
            finished,
            error,
            capacity,
        });
        Ok(())
    }
}
