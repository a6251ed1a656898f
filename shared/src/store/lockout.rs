//! The buckets of failed attempts (`guard`'s rules) as `lockout#<key>` items in the
//! sessions table, expiring with their TTL once drained.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{CustomerItem, Store, StoreResult, classify, decode};
use crate::guard::Bucket;
use crate::phone::PhoneNumber;

fn key(scope: &str) -> AttributeValue {
    AttributeValue::S(format!("lockout#{scope}"))
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn read(item: &HashMap<String, AttributeValue>) -> Bucket {
    let number = |name: &str| super::number(item, name);
    // Items written before times were kept in milliseconds hold seconds under the old
    // names (and, older still, `last_failure` for `leak_from`).
    let millis = |name: &str, legacy: &[&str]| {
        number(name)
            .or_else(|| legacy.iter().find_map(|old| number(old)).map(|s| s * 1000))
            .unwrap_or(0)
    };
    Bucket {
        failures: number("failures")
            .unwrap_or(0)
            .clamp(0, i64::from(u32::MAX)) as u32,
        leak_from: millis("leak_from_ms", &["leak_from", "last_failure"]),
        locked_until: millis("locked_until_ms", &["locked_until"]),
    }
}

impl Store {
    pub async fn bucket(&self, scope: &str) -> StoreResult<Bucket> {
        // A batch of one: the functions that read buckets are granted BatchGetItem.
        let table = &self.tables.sessions;
        let mut found = self.get_batch(&[(table, key(scope))]).await?;
        Ok(found
            .take(table, &key(scope))
            .as_ref()
            .map(read)
            .unwrap_or_default())
    }

    /// Two buckets in one round trip, in the order of `scopes`.
    pub async fn buckets(&self, scopes: [&str; 2]) -> StoreResult<[Bucket; 2]> {
        let (_, buckets) = self.read_with_buckets(None, scopes).await?;
        Ok(buckets)
    }

    /// A phone's customer and two buckets, in one round trip.
    pub async fn customer_and_buckets(
        &self,
        phone: &PhoneNumber,
        scopes: [&str; 2],
    ) -> StoreResult<(Option<CustomerItem>, [Bucket; 2])> {
        self.read_with_buckets(Some(phone), scopes).await
    }

    async fn read_with_buckets(
        &self,
        phone: Option<&PhoneNumber>,
        scopes: [&str; 2],
    ) -> StoreResult<(Option<CustomerItem>, [Bucket; 2])> {
        let sessions = &self.tables.sessions;
        let customers = &self.tables.customers;
        let customer_key = phone.map(|phone| AttributeValue::S(format!("phone#{phone}")));
        let mut keys: Vec<(&str, AttributeValue)> = scopes
            .iter()
            .map(|scope| (sessions.as_str(), key(scope)))
            .collect();
        keys.extend(customer_key.clone().map(|pk| (customers.as_str(), pk)));
        let mut found = self.get_batch(&keys).await?;
        let customer = decode(customer_key.and_then(|pk| found.take(customers, &pk)))?;
        let mut bucket = |scope: &str| {
            found
                .take(sessions, &key(scope))
                .as_ref()
                .map(read)
                .unwrap_or_default()
        };
        Ok((customer, [bucket(scopes[0]), bucket(scopes[1])]))
    }

    /// Writes `next` over the bucket if it still is `seen`; `false` when another failure
    /// got in first.
    pub async fn put_bucket(
        &self,
        scope: &str,
        next: &Bucket,
        seen: &Bucket,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let result = self
            .db
            .put_item()
            .table_name(&self.tables.sessions)
            .item("pk", key(scope))
            .item("failures", n(i64::from(next.failures)))
            .item("leak_from_ms", n(next.leak_from))
            .item("locked_until_ms", n(next.locked_until))
            .item("expires_at", n(expires_at))
            // An item in the old layout (seconds) is replaced whole by the first write; a
            // concurrent write then finds the new layout and reads again.
            .condition_expression(
                "attribute_not_exists(pk) OR (failures = :n AND (attribute_not_exists(leak_from_ms) \
                 OR (locked_until_ms = :l AND leak_from_ms = :t)))",
            )
            .expression_attribute_values(":n", n(i64::from(seen.failures)))
            .expression_attribute_values(":l", n(seen.locked_until))
            .expression_attribute_values(":t", n(seen.leak_from))
            .send()
            .await;
        Ok(super::if_condition_held(result)?.is_some())
    }

    pub async fn delete_bucket(&self, scope: &str) -> StoreResult<()> {
        self.db
            .delete_item()
            .table_name(&self.tables.sessions)
            .key("pk", key(scope))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

impl Store {
    /// Counts one event in the current clock hour of `key` (epoch seconds `now`) unless
    /// that hour already holds `cap`: then the seconds until the next hour, and nothing
    /// is counted.
    pub async fn count_this_hour(&self, key: &str, cap: u32, now: i64) -> StoreResult<Option<u64>> {
        let hour = now.div_euclid(3600);
        let next_hour = (hour + 1) * 3600;
        let counted = self
            .count_in_window(&format!("{key}#{hour}"), cap, next_hour + 3600)
            .await?;
        Ok((!counted).then(|| (next_hour - now).max(1) as u64))
    }

    /// Counts one event in the fixed window `window` (a `rate#<window>` item expiring at
    /// `expires_at`) unless it already holds `cap`: then `false`, and nothing is counted.
    /// One conditional write, no read.
    async fn count_in_window(&self, window: &str, cap: u32, expires_at: i64) -> StoreResult<bool> {
        let result = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", AttributeValue::S(format!("rate#{window}")))
            .update_expression("ADD hits :one SET expires_at = :exp")
            .condition_expression("attribute_not_exists(hits) OR hits < :cap")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cap", n(i64::from(cap)))
            .expression_attribute_values(":exp", n(expires_at))
            .send()
            .await;
        Ok(super::if_condition_held(result)?.is_some())
    }
}
