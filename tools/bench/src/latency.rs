//! Warm, in-process latency: the handler called directly on a state built once, against
//! DynamoDB Local, next to the floor (the same DynamoDB calls made directly).
//!
//! For every measured request the probe gives the DynamoDB calls the handler made, so
//! each sample pairs the handler's time with the time the SDK spent in those calls
//! (overhead = handler − SDK, per request, so DynamoDB Local's jitter cancels out), and
//! the calls are then replayed straight through the SDK for an independent floor.

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;

use omnisession_testkit::Reply;
use omnisession_testkit::capacity::Capacity;
use omnisession_testkit::probe::Call;

use crate::Result;
use crate::endpoints::{Endpoint, Harness, RENEW_EVERY};
use crate::replay;
use crate::stats::Summary;

pub struct Plan {
    pub warmup: usize,
    pub iterations: usize,
    /// Iterations of bcrypt-12 endpoints (a quarter second each).
    pub slow_iterations: usize,
    /// Extra iterations with `ReturnConsumedCapacity` on, not timed.
    pub capacity_iterations: usize,
}

pub struct Measured {
    pub endpoint: Endpoint,
    pub samples: usize,
    pub handler: Summary,
    /// Time inside the SDK for the handler's own DynamoDB calls.
    pub sdk: Summary,
    /// handler − SDK, per request.
    pub overhead: Summary,
    /// The same calls replayed directly through the SDK, one after another.
    pub floor: Summary,
    /// Replayed calls, and how many of them DynamoDB refused (a condition that held for
    /// the handler no longer holds once its write is done).
    pub replayed_calls: usize,
    pub replay_refused: usize,
    /// Distinct sequences of operations and how often each was seen.
    pub sequences: BTreeMap<String, usize>,
    /// Mean capacity per request over the capacity iterations.
    pub capacity: Capacity,
    /// The most write units one request of the capacity iterations consumed.
    pub max_write: f64,
    /// The last capacity iteration's calls in the order they started, each with the units
    /// it consumed: `PutItem 1 WRU`, `Query 0.5 RRU`…
    pub capacity_calls: Vec<String>,
    /// Calls of the capacity iterations for which DynamoDB reported no capacity.
    pub capacity_unreported: usize,
    /// Calls in the handler that failed (e.g. the dedupe condition of a redelivery).
    pub failed_calls: BTreeMap<String, usize>,
    /// Per read operation (`GetItem`, `BatchGetItem`, `Query`): whether every such read
    /// of the endpoint was strongly consistent.
    pub reads_consistent: BTreeMap<&'static str, bool>,
    pub status: u16,
    /// For a full session: the size of its session item after the measurements, by
    /// DynamoDB's item-size rules (what a write to it is billed on).
    pub session_item_bytes: Option<usize>,
}

impl Measured {
    /// The most frequent sequence of DynamoDB operations.
    pub fn usual_sequence(&self) -> (&str, usize) {
        self.sequences
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(s, n)| (s.as_str(), *n))
            .unwrap_or(("", 0))
    }

    pub fn round_trips(&self) -> usize {
        let (seq, _) = self.usual_sequence();
        if seq.is_empty() {
            0
        } else {
            seq.split(" → ").count()
        }
    }
}

/// An item's size by DynamoDB's rules: each attribute's name and value in bytes; a
/// number about one byte per two significant digits plus one; a map or list 3 bytes plus
/// its elements (a map's with their names) and one byte per element.
pub fn item_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => {
            let digits = n.chars().filter(char::is_ascii_digit).count();
            digits.div_ceil(2) + 1
        }
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() + value_size(v) + 1)
                .sum::<usize>()
        }
        AttributeValue::L(l) => 3 + l.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        _ => 0,
    }
}

/// Capacity units without trailing zeros (`1`, `0.5`, `2.25`).
pub fn units(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The time spent in the SDK: the union of the calls' intervals (the handlers send some
/// calls in parallel; time in parallel calls counts once).
fn sdk_time(calls: &[Call]) -> f64 {
    let mut spans: Vec<(Instant, Instant)> =
        calls.iter().map(|c| (c.started, c.finished)).collect();
    spans.sort();
    let mut total = 0.0;
    let mut current: Option<(Instant, Instant)> = None;
    for (start, end) in spans {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += (e - s).as_secs_f64();
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    if let Some((s, e)) = current {
        total += (e - s).as_secs_f64();
    }
    total * 1000.0
}

pub async fn measure(
    harness: &Harness,
    replay_client: &Client,
    endpoint: &Endpoint,
    plan: &Plan,
) -> Result<Measured> {
    let mut fixture = harness.fixture(endpoint).await?;
    let iterations = if endpoint.bcrypt_cost > 4 {
        plan.slow_iterations
    } else {
        plan.iterations
    };
    let warmup = if endpoint.bcrypt_cost > 4 {
        2
    } else {
        plan.warmup
    };
    let state = harness.state(endpoint.bcrypt_cost);

    let (mut handler, mut sdk, mut overhead, mut floor) = (vec![], vec![], vec![], vec![]);
    let mut sequences = BTreeMap::new();
    let mut failed_calls = BTreeMap::new();
    let (mut replayed_calls, mut replay_refused) = (0, 0);
    let mut reads_consistent: BTreeMap<&'static str, bool> = BTreeMap::new();
    let mut status = 0;
    let mut capacity = Capacity::default();
    let mut capacity_unreported = 0;
    let mut max_write: f64 = 0.0;
    let mut capacity_calls = Vec::new();

    let total = warmup + iterations + plan.capacity_iterations;
    for i in 0..total {
        let measuring = i >= warmup && i < warmup + iterations;
        let counting_capacity = i >= warmup + iterations;
        if i > 0 && i % RENEW_EVERY == 0 && endpoint.adds_logins() && !endpoint.full {
            fixture = harness.fixture(endpoint).await?;
        }
        let request = harness.request(endpoint, &fixture).await?.request()?;
        harness.probe.take();
        harness.probe.request_capacity(counting_capacity);

        let started = Instant::now();
        let response = endpoint.function.handle(state, request).await;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;

        harness.probe.request_capacity(false);
        let calls = harness.probe.take();
        let answer = Reply::from_response(response);
        if !(200..300).contains(&answer.status) {
            return Err(format!(
                "{}: status {} {}",
                endpoint.label(),
                answer.status,
                answer.body
            )
            .into());
        }
        status = answer.status;

        if counting_capacity {
            let mut request = Capacity::default();
            let mut ordered: Vec<&Call> = calls.iter().collect();
            ordered.sort_by_key(|c| c.started);
            capacity_calls.clear();
            for call in ordered {
                match call.capacity {
                    Some(c) => {
                        request.add(c);
                        capacity_calls.push(if call.input.is_read() {
                            format!("{} {} RRU", call.input.name(), units(c.read))
                        } else {
                            format!("{} {} WRU", call.input.name(), units(c.write))
                        });
                    }
                    None => {
                        capacity_unreported += 1;
                        capacity_calls.push(format!("{} (refused)", call.input.name()));
                    }
                }
            }
            capacity.add(request);
            max_write = max_write.max(request.write);
        }
        if !measuring {
            continue;
        }
        let in_sdk = sdk_time(&calls);
        handler.push(elapsed);
        sdk.push(in_sdk);
        overhead.push(elapsed - in_sdk);
        // Calls sent in parallel count as one round trip ("A + B").
        let sequence = omnisession_testkit::probe::round_trips(&calls);
        *sequences.entry(sequence.join(" → ")).or_insert(0) += 1;
        for call in &calls {
            if let Some(code) = &call.error {
                *failed_calls
                    .entry(format!("{} {code}", call.input.name()))
                    .or_insert(0) += 1;
            }
            if let Some(consistent) = call.input.consistent_read() {
                let all = reads_consistent.entry(call.input.name()).or_insert(true);
                *all = *all && consistent;
            }
        }

        let replayed = replay::replay(replay_client, &calls).await;
        floor.push(replayed.millis);
        replayed_calls += replayed.calls;
        replay_refused += replayed.refused;
    }
    if plan.capacity_iterations > 0 {
        let n = plan.capacity_iterations as f64;
        capacity = Capacity {
            read: capacity.read / n,
            write: capacity.write / n,
            index: capacity.index / n,
        };
    }
    let session_item_bytes = if endpoint.full {
        let item = replay_client
            .get_item()
            .table_name(&state.config.tables.sessions)
            .key("pk", AttributeValue::S(fixture.session_id.clone()))
            .consistent_read(true)
            .send()
            .await?;
        item.item().map(item_size)
    } else {
        None
    };
    Ok(Measured {
        session_item_bytes,
        endpoint: endpoint.clone(),
        samples: handler.len(),
        handler: Summary::of(&handler),
        sdk: Summary::of(&sdk),
        overhead: Summary::of(&overhead),
        floor: Summary::of(&floor),
        replayed_calls,
        replay_refused,
        sequences,
        capacity,
        max_write,
        capacity_calls,
        capacity_unreported,
        failed_calls,
        reads_consistent,
        status,
    })
}
