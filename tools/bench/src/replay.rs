//! The floor: a handler's DynamoDB calls made again, directly with the SDK (same inputs,
//! same kind of client, no handler around them), round trip by round trip: calls the
//! handler had in flight at once are sent again at once, the round trips one after another.
//!
//! Replaying right after the handler means a write's condition may no longer hold (the
//! handler already took the phone's lock, consumed the QR code…); DynamoDB then refuses
//! the write after evaluating it. Such refusals are counted and shown next to the floor.
//! A transaction's idempotency token is dropped, so that its replay is a real attempt
//! rather than DynamoDB's cached answer.

use std::time::Instant;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;

use omnisession_testkit::probe::{Call, Input};

pub struct Replayed {
    pub millis: f64,
    pub calls: usize,
    pub refused: usize,
}

/// The calls grouped as `probe::round_trips` groups them: a call that started before
/// every call of the current group had finished was sent beside them.
fn grouped(calls: &[Call]) -> Vec<Vec<&Call>> {
    let mut sorted: Vec<&Call> = calls.iter().collect();
    sorted.sort_by_key(|c| c.started);
    let mut trips: Vec<(Instant, Vec<&Call>)> = Vec::new();
    for call in sorted {
        match trips.last_mut() {
            Some((until, group)) if call.started < *until => {
                group.push(call);
                *until = (*until).max(call.finished);
            }
            _ => trips.push((call.finished, vec![call])),
        }
    }
    trips.into_iter().map(|(_, group)| group).collect()
}

pub async fn replay(client: &Client, calls: &[Call]) -> Replayed {
    let started = Instant::now();
    let mut refused = 0;
    let mut made = 0;
    for trip in grouped(calls) {
        if let [call] = trip[..] {
            made += 1;
            if send(client, &call.input).await.is_err() {
                refused += 1;
            }
            continue;
        }
        let mut set = tokio::task::JoinSet::new();
        for call in trip {
            let (client, input) = (client.clone(), call.input.clone());
            set.spawn(async move { send(&client, &input).await });
        }
        while let Some(outcome) = set.join_next().await {
            made += 1;
            if !matches!(outcome, Ok(Ok(()))) {
                refused += 1;
            }
        }
    }
    Replayed {
        millis: started.elapsed().as_secs_f64() * 1000.0,
        calls: made,
        refused,
    }
}

/// Sends one input again; `Err` carries the service's error code.
async fn send(client: &Client, input: &Input) -> Result<(), String> {
    fn code<E: ProvideErrorMetadata>(e: E) -> String {
        e.code().unwrap_or("unknown").to_string()
    }
    match input.clone() {
        Input::GetItem(i) => client
            .get_item()
            .set_table_name(i.table_name)
            .set_key(i.key)
            .set_attributes_to_get(i.attributes_to_get)
            .set_consistent_read(i.consistent_read)
            .set_projection_expression(i.projection_expression)
            .set_expression_attribute_names(i.expression_attribute_names)
            .send()
            .await
            .map(drop)
            .map_err(code),
        Input::BatchGetItem(i) => client
            .batch_get_item()
            .set_request_items(i.request_items)
            .send()
            .await
            .map(drop)
            .map_err(code),
        Input::Query(i) => client
            .query()
            .set_table_name(i.table_name)
            .set_index_name(i.index_name)
            .set_select(i.select)
            .set_attributes_to_get(i.attributes_to_get)
            .set_limit(i.limit)
            .set_consistent_read(i.consistent_read)
            .set_key_conditions(i.key_conditions)
            .set_query_filter(i.query_filter)
            .set_conditional_operator(i.conditional_operator)
            .set_scan_index_forward(i.scan_index_forward)
            .set_exclusive_start_key(i.exclusive_start_key)
            .set_projection_expression(i.projection_expression)
            .set_filter_expression(i.filter_expression)
            .set_key_condition_expression(i.key_condition_expression)
            .set_expression_attribute_names(i.expression_attribute_names)
            .set_expression_attribute_values(i.expression_attribute_values)
            .send()
            .await
            .map(drop)
            .map_err(code),
        Input::Scan(i) => client
            .scan()
            .set_table_name(i.table_name)
            .set_index_name(i.index_name)
            .set_limit(i.limit)
            .set_consistent_read(i.consistent_read)
            .set_segment(i.segment)
            .set_total_segments(i.total_segments)
            .set_exclusive_start_key(i.exclusive_start_key)
            .set_projection_expression(i.projection_expression)
            .set_filter_expression(i.filter_expression)
            .set_expression_attribute_names(i.expression_attribute_names)
            .set_expression_attribute_values(i.expression_attribute_values)
            .send()
            .await
            .map(drop)
            .map_err(code),
        Input::UpdateItem(i) => client
            .update_item()
            .set_table_name(i.table_name)
            .set_key(i.key)
            .set_attribute_updates(i.attribute_updates)
            .set_expected(i.expected)
            .set_conditional_operator(i.conditional_operator)
            .set_return_values(i.return_values)
            .set_update_expression(i.update_expression)
            .set_condition_expression(i.condition_expression)
            .set_expression_attribute_names(i.expression_attribute_names)
            .set_expression_attribute_values(i.expression_attribute_values)
            .set_return_values_on_condition_check_failure(
                i.return_values_on_condition_check_failure,
            )
            .send()
            .await
            .map(drop)
            .map_err(code),
        Input::PutItem(i) => client
            .put_item()
            .set_table_name(i.table_name)
            .set_item(i.item)
            .set_expected(i.expected)
            .set_return_values(i.return_values)
            .set_conditional_operator(i.conditional_operator)
            .set_condition_expression(i.condition_expression)
            .set_expression_attribute_names(i.expression_attribute_names)
            .set_expression_attribute_values(i.expression_attribute_values)
            .set_return_values_on_condition_check_failure(
                i.return_values_on_condition_check_failure,
            )
            .send()
            .await
            .map(drop)
            .map_err(code),
        Input::DeleteItem(i) => client
            .delete_item()
            .set_table_name(i.table_name)
            .set_key(i.key)
            .set_expected(i.expected)
            .set_conditional_operator(i.conditional_operator)
            .set_return_values(i.return_values)
            .set_condition_expression(i.condition_expression)
            .set_expression_attribute_names(i.expression_attribute_names)
            .set_expression_attribute_values(i.expression_attribute_values)
            .set_return_values_on_condition_check_failure(
                i.return_values_on_condition_check_failure,
            )
            .send()
            .await
            .map(drop)
            .map_err(code),
        Input::TransactWriteItems(i) => client
            .transact_write_items()
            .set_transact_items(i.transact_items)
            .send()
            .await
            .map(drop)
            .map_err(code),
        Input::Other => Ok(()),
    }
}
