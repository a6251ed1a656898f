//! Account events (`crate::events`) in the messages table, one item each:
//! `pk = events#<customer id>`, `sk = <epoch ms, 13 digits>#<8 hex random>`, with `at`,
//! `kind`, `channel?`, `kiosk?`, `login_id?` and the TTL `expires_at` 90 days on.
//!
//! The messages table, not the sessions table: its sort key makes a customer's events one
//! `Query` in time order (the sessions table has a hash key only, so reading them back
//! there would take a scan), and it already has the TTL attribute. The `events#` prefix
//! cannot meet a session id (hex, no `#`), so no history query ever sees an event.

use chrono::{DateTime, Utc};

use super::query_all;
use super::{Item, Store, StoreResult, classify, n, s, unexpected};
use crate::events::{AccountEvent, RETENTION_DAYS};

fn events_key(customer_id: &str) -> String {
    format!("events#{customer_id}")
}

impl Store {
    /// Stores one event of `customer_id`. Its sort key is new, so nothing is overwritten.
    pub async fn put_event(&self, customer_id: &str, event: &AccountEvent) -> StoreResult<()> {
        let at = DateTime::parse_from_rfc3339(&event.at)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| Utc::now());
        let mut item: Item = serde_dynamo::to_item(event).map_err(unexpected)?;
        item.insert("pk".into(), s(events_key(customer_id)));
        item.insert(
            "sk".into(),
            s(format!(
                "{:013}#{}",
                at.timestamp_millis(),
                hex::encode(rand::random::<[u8; 4]>())
            )),
        );
        item.insert(
            "expires_at".into(),
            n((at + chrono::Duration::days(RETENTION_DAYS)).timestamp()),
        );
        self.db
            .put_item()
            .table_name(&self.tables.messages)
            .set_item(Some(item))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Every event of `customer_id` still kept (the last 90 days), oldest first: one
    /// strongly consistent `Query`, paged through to the end. Events past their 90 days
    /// that DynamoDB has not deleted yet are left out.
    pub async fn account_events(&self, customer_id: &str) -> StoreResult<Vec<AccountEvent>> {
        let now = Utc::now().timestamp();
        let query = self
            .db
            .query()
            .table_name(&self.tables.messages)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(events_key(customer_id)))
            .consistent_read(true);
        query_all(query)
            .await?
            .into_iter()
            // TTL deletes days late: an expired event is not shown.
            .filter(|item| super::number(item, "expires_at").is_none_or(|at| at > now))
            .map(|item| serde_dynamo::from_item(item).map_err(unexpected))
            .collect()
    }
}
