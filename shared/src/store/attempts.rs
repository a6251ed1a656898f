//! Counting failed attempts per caller in fixed windows, so that guessing (QR codes,
//! later passwords) is answered 429 with `Retry-After`. Counters live in the sessions
//! table under `failures#<scope>#<window>` and expire with the table's TTL.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Store, StoreResult, classify};

/// At most `limit` failures per `window_secs`.
#[derive(Clone, Copy, Debug)]
pub struct FailureLimit {
    pub limit: u32,
    pub window_secs: i64,
}

impl FailureLimit {
    fn key(&self, scope: &str, now: i64) -> (String, i64) {
        let window = now.div_euclid(self.window_secs);
        let ends = (window + 1) * self.window_secs;
        (format!("failures#{scope}#{window}"), ends)
    }
}

impl Store {
    /// Seconds until `scope` may try again, when it has used up its failures.
    pub async fn blocked_for(
        &self,
        scope: &str,
        limit: FailureLimit,
        now: i64,
    ) -> StoreResult<Option<u64>> {
        let (key, ends) = limit.key(scope, now);
        let out = self
            .db
            .get_item()
            .table_name(&self.tables.sessions)
            .key("pk", AttributeValue::S(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        let failures = out
            .item
            .as_ref()
            .and_then(|i| i.get("failures"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0);
        Ok((failures >= limit.limit).then(|| (ends - now).max(1) as u64))
    }

    pub async fn record_failure(
        &self,
        scope: &str,
        limit: FailureLimit,
        now: i64,
    ) -> StoreResult<()> {
        let (key, ends) = limit.key(scope, now);
        self.db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", AttributeValue::S(key))
            .update_expression("ADD failures :one SET expires_at = :ttl")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N((ends + limit.window_secs).to_string()),
            )
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
