//! The customer's edits and deletions of WhatsApp messages already filed. A filed
//! message's claim (`seen#whatsapp#<id>`, kept 7 days: WhatsApp allows an edit for 15
//! minutes and a deletion for 2 days) records the sort key the message was stored
//! under, and the stored message carries the id (`wamid`); the session is the sender's
//! live one. So a revision changes that message, in the sender's own session, and no
//! other, and filing a message costs no extra write.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Store, StoreResult, classify, if_condition_held, n, retry_conflicts, s};
use crate::model::MessageText;

/// The dedupe key of a WhatsApp message id (its claim is `seen#<key>`).
pub fn whatsapp_claim_key(message_id: &str) -> String {
    format!("whatsapp#{message_id}")
}

/// Where a filed WhatsApp message is stored: its session id and sort key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageLocation {
    pub session_id: String,
    pub sort_key: String,
}

/// What a revision does to the stored message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revision {
    /// New words; an edit older than one applied already, or after a deletion, is
    /// dropped (deliveries may arrive out of order).
    Edit,
    /// The words are gone for good: the agent's context must not keep them.
    Delete,
}

impl Store {
    /// The sort key the WhatsApp message `message_id` was stored under, if it was filed
    /// (and its claim is still remembered).
    pub async fn whatsapp_sort_key(&self, message_id: &str) -> StoreResult<Option<String>> {
        let out = self
            .db
            .get_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(format!("seen#{}", whatsapp_claim_key(message_id))))
            .projection_expression("sk")
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out
            .item
            .and_then(|item| item.get("sk").and_then(|v| v.as_s().ok()).cloned()))
    }

    /// Replaces the content of the stored message `message_id` at `location` with
    /// `content`, as of `at` (epoch seconds, the provider's time of the revision).
    /// `false` when nothing changed: no such message there, an edit after its deletion,
    /// or an edit older than the one applied.
    pub async fn revise_message(
        &self,
        location: &MessageLocation,
        message_id: &str,
        content: &MessageText,
        revision: Revision,
        at: i64,
    ) -> StoreResult<bool> {
        let (sets, condition) = match revision {
            Revision::Edit => (
                "SET #content = :content, revised_at = :at",
                "wamid = :id AND attribute_not_exists(revoked_at) \
                 AND (attribute_not_exists(revised_at) OR revised_at <= :at)",
            ),
            Revision::Delete => (
                "SET #content = :content, revised_at = :at, revoked_at = :at",
                "wamid = :id",
            ),
        };
        let values: HashMap<String, AttributeValue> = HashMap::from([
            (":content".into(), s(String::from(content.clone()))),
            (":at".into(), n(at)),
            (":id".into(), s(message_id)),
        ]);
        let request = self
            .db
            .update_item()
            .table_name(&self.tables.messages)
            .key("pk", s(&location.session_id))
            .key("sk", s(&location.sort_key))
            .update_expression(sets)
            .condition_expression(condition)
            .expression_attribute_names("#content", "content")
            .set_expression_attribute_values(Some(values));
        let result = retry_conflicts(|| request.clone().send()).await;
        Ok(if_condition_held(result)?.is_some())
    }
}
