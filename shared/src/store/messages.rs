//! The messages table: every chat message of a session, in time order. It is the only
//! copy of the history, so history is not bounded by DynamoDB's item size and the
//! session item does not grow with it.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::{StoreResult, unexpected};
use crate::model::ChatMessage;

/// A sort key that orders messages by time and keeps the messages of one request in
/// their order: `<epoch millis, 13 digits>#<index, 2 digits>#<random>`.
pub(crate) fn sort_key(at: DateTime<Utc>, index: usize) -> String {
    format!(
        "{:013}#{index:02}#{}",
        at.timestamp_millis(),
        hex::encode(rand::random::<[u8; 4]>())
    )
}

impl super::Store {
    /// Appends one message to a session's history. Its sort key is new, so nothing is
    /// overwritten; it expires with the session's absolute cap.
    pub(crate) async fn put_message(
        &self,
        session_id: &str,
        sort_key: String,
        message: &ChatMessage,
        whatsapp_id: Option<&str>,
        expires_at: i64,
    ) -> StoreResult<()> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(message).map_err(unexpected)?;
        if let Some(id) = whatsapp_id {
            // Checked by an edit or deletion: it changes this message and no other.
            item.insert("wamid".into(), AttributeValue::S(id.to_string()));
        }
        item.insert("pk".into(), AttributeValue::S(session_id.to_string()));
        item.insert("sk".into(), AttributeValue::S(sort_key));
        item.insert(
            "expires_at".into(),
            AttributeValue::N(expires_at.to_string()),
        );
        self.db
            .put_item()
            .table_name(&self.tables.messages)
            .set_item(Some(item))
            .send()
            .await
            .map_err(super::classify)?;
        Ok(())
    }

    /// A consistent query of a session's messages (its chat history), oldest first: every
    /// read of a history starts here and adds its order, projection or limit.
    pub(super) fn session_messages(&self, session_id: &str) -> QueryFluentBuilder {
        self.db
            .query()
            .table_name(&self.tables.messages)
            .key_condition_expression("pk = :sid")
            .expression_attribute_values(":sid", AttributeValue::S(session_id.to_string()))
            .consistent_read(true)
    }

    /// The last `limit` messages of a session, oldest first.
    pub async fn last_messages(
        &self,
        session_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<ChatMessage>> {
        let out = self
            .session_messages(session_id)
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(super::classify)?;
        let mut messages = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| serde_dynamo::from_item(item).map_err(unexpected))
            .collect::<StoreResult<Vec<ChatMessage>>>()?;
        messages.reverse();
        Ok(messages)
    }
}
