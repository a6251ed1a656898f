//! The IAM actions and resources AWS checks for one SDK call, as the DynamoDB
//! documentation lists them ("Actions, resources, and condition keys for Amazon
//! DynamoDB"; "Using IAM with DynamoDB transactions").

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::operation::{
    batch_get_item::BatchGetItemInput, batch_write_item::BatchWriteItemInput,
    delete_item::DeleteItemInput, get_item::GetItemInput, put_item::PutItemInput,
    query::QueryInput, scan::ScanInput, transact_get_items::TransactGetItemsInput,
    transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
};

use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueInput;

use super::policy::{Grant, index_arn, table_arn};

/// What one call needs, or why it cannot be told (an operation not taught here: the
/// call is refused, so that a new kind of call is taught before it is trusted).
///
/// Another service's client (Secrets Manager) gets the same interceptor; its inputs are
/// recognised after DynamoDB's.
pub fn required(
    context: &BeforeSerializationInterceptorContextRef<'_>,
) -> Result<Vec<Grant>, String> {
    if let Some(grants) = dynamodb(context) {
        return grants;
    }
    // A secret is checked on its ARN, as the request names it (the functions name theirs
    // by ARN: `SECRETS`).
    if let Some(i) = context.input().downcast_ref::<GetSecretValueInput>() {
        return i
            .secret_id()
            .map(|id| vec![Grant::new("secretsmanager:GetSecretValue", id)])
            .ok_or_else(|| "GetSecretValue without a SecretId".to_string());
    }
    let input = format!("{:?}", context.input());
    // `TypeErasedBox[Clone]:DescribeTableInput { … }`: the type is enough.
    let name = input
        .split_once("]:")
        .map_or(input.as_str(), |(_, rest)| rest)
        .split([' ', '{', '('])
        .next()
        .unwrap_or("?");
    Err(format!(
        "{name} is not known to the IAM test; teach tests/api/iam/actions.rs its actions"
    ))
}

/// A DynamoDB call's (action, resource) pairs; `None` for another kind of input.
fn dynamodb(
    context: &BeforeSerializationInterceptorContextRef<'_>,
) -> Option<Result<Vec<Grant>, String>> {
    let input = context.input();
    let on = |action: &str, table: Option<&str>| -> Result<Vec<Grant>, String> {
        let table = table.ok_or_else(|| format!("{action} without a table name"))?;
        Ok(vec![Grant::new(
            format!("dynamodb:{action}"),
            table_arn(table),
        )])
    };
    // Query and Scan of an index are checked on the index's ARN, not the table's.
    let read = |action: &str, table: Option<&str>, index: Option<&str>| match (table, index) {
        (Some(table), Some(index)) => Ok(vec![Grant::new(
            format!("dynamodb:{action}"),
            index_arn(table, index),
        )]),
        _ => on(action, table),
    };
    if let Some(i) = input.downcast_ref::<GetItemInput>() {
        return Some(on("GetItem", i.table_name()));
    }
    if let Some(i) = input.downcast_ref::<PutItemInput>() {
        return Some(on("PutItem", i.table_name()));
    }
    if let Some(i) = input.downcast_ref::<UpdateItemInput>() {
        return Some(on("UpdateItem", i.table_name()));
    }
    if let Some(i) = input.downcast_ref::<DeleteItemInput>() {
        return Some(on("DeleteItem", i.table_name()));
    }
    if let Some(i) = input.downcast_ref::<QueryInput>() {
        return Some(read("Query", i.table_name(), i.index_name()));
    }
    if let Some(i) = input.downcast_ref::<ScanInput>() {
        return Some(read("Scan", i.table_name(), i.index_name()));
    }
    // The batch actions are their own: checked once per table the request names.
    if let Some(i) = input.downcast_ref::<BatchGetItemInput>() {
        let tables = i.request_items().into_iter().flat_map(|m| m.keys());
        return Some(Ok(batch("BatchGetItem", tables)));
    }
    if let Some(i) = input.downcast_ref::<BatchWriteItemInput>() {
        let tables = i.request_items().into_iter().flat_map(|m| m.keys());
        return Some(Ok(batch("BatchWriteItem", tables)));
    }
    // Transactions have no action of their own: each item needs its own action.
    if let Some(i) = input.downcast_ref::<TransactWriteItemsInput>() {
        return Some(
            i.transact_items()
                .iter()
                .map(|item| {
                    let (action, table) = if let Some(put) = item.put() {
                        ("PutItem", put.table_name())
                    } else if let Some(update) = item.update() {
                        ("UpdateItem", update.table_name())
                    } else if let Some(delete) = item.delete() {
                        ("DeleteItem", delete.table_name())
                    } else if let Some(check) = item.condition_check() {
                        ("ConditionCheckItem", check.table_name())
                    } else {
                        return Err(format!("an empty TransactWriteItem: {item:?}"));
                    };
                    Ok(Grant::new(format!("dynamodb:{action}"), table_arn(table)))
                })
                .collect(),
        );
    }
    if let Some(i) = input.downcast_ref::<TransactGetItemsInput>() {
        return Some(
            i.transact_items()
                .iter()
                .map(|item| {
                    let get = item.get().ok_or("a TransactGetItem without Get")?;
                    Ok(Grant::new("dynamodb:GetItem", table_arn(get.table_name())))
                })
                .collect(),
        );
    }
    None
}

fn batch<'a>(action: &str, tables: impl Iterator<Item = &'a String>) -> Vec<Grant> {
    tables
        .map(|table| Grant::new(format!("dynamodb:{action}"), table_arn(table)))
        .collect()
}
