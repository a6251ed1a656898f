//! Lockouts against guessing (passwords per phone, QR codes per kiosk key): after
//! [`FREE_FAILURES`] failures within [`QUIET_SECS`], each further failure locks the scope
//! for 2^(n−5) seconds, capped at 15 minutes. A success, or 15 quiet minutes, resets it.
//! State lives in the sessions table under `lockout#<scope>` and expires with its TTL.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::{CustomerItem, Store, StoreResult, classify, unexpected};
use crate::phone::PhoneNumber;

/// Failures allowed before the first lock.
pub const FREE_FAILURES: u32 = 5;
/// Failures further apart than this start counting afresh.
pub const QUIET_SECS: i64 = 15 * 60;
/// The longest lock.
pub const MAX_LOCK_SECS: i64 = 15 * 60;

/// A scope's failure record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lockout {
    pub failures: u32,
    pub last_failure: i64,
    pub locked_until: i64,
}

impl Lockout {
    /// Seconds to wait, when locked.
    pub fn retry_after(&self, now: i64) -> Option<u64> {
        (self.locked_until > now).then(|| (self.locked_until - now) as u64)
    }

    /// The record after one more failure at `now`.
    pub fn after_failure(&self, now: i64) -> Lockout {
        let failures = if now - self.last_failure > QUIET_SECS {
            1
        } else {
            self.failures + 1
        };
        let locked_until = if failures >= FREE_FAILURES {
            let exponent = (failures - FREE_FAILURES).min(20);
            now + (1_i64 << exponent).min(MAX_LOCK_SECS)
        } else {
            0
        };
        Lockout {
            failures,
            last_failure: now,
            locked_until,
        }
    }
}

fn key(scope: &str) -> AttributeValue {
    AttributeValue::S(format!("lockout#{scope}"))
}

fn read(item: &HashMap<String, AttributeValue>) -> Lockout {
    let number = |name: &str| super::number(item, name).unwrap_or(0);
    Lockout {
        failures: number("failures") as u32,
        last_failure: number("last_failure"),
        locked_until: number("locked_until"),
    }
}

/// Tries of a failure record that raced another one.
const RECORD_ATTEMPTS: usize = 4;

impl Store {
    pub async fn lockout(&self, scope: &str) -> StoreResult<Lockout> {
        let out = self
            .db
            .get_item()
            .table_name(&self.tables.sessions)
            .key("pk", key(scope))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item.as_ref().map(read).unwrap_or_default())
    }

    /// A phone's customer and its password lockout, in one round trip.
    pub async fn customer_and_lockout(
        &self,
        phone: &PhoneNumber,
        scope: &str,
    ) -> StoreResult<(Option<CustomerItem>, Lockout)> {
        let keys = |k: AttributeValue| {
            KeysAndAttributes::builder()
                .keys(HashMap::from([("pk".to_string(), k)]))
                .consistent_read(true)
                .build()
                .map_err(unexpected)
        };
        let out = self
            .db
            .batch_get_item()
            .request_items(
                &self.tables.customers,
                keys(AttributeValue::S(format!("phone#{phone}")))?,
            )
            .request_items(&self.tables.sessions, keys(key(scope))?)
            .send()
            .await
            .map_err(classify)?;
        if out.unprocessed_keys.as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(super::StoreError::Unavailable(
                "BatchGetItem left keys unprocessed".into(),
            ));
        }
        let mut responses = out.responses.unwrap_or_default();
        let customer = responses
            .remove(&self.tables.customers)
            .and_then(|items| items.into_iter().next())
            .map(|item| serde_dynamo::from_item(item).map_err(unexpected))
            .transpose()?;
        let lockout = responses
            .remove(&self.tables.sessions)
            .and_then(|items| items.into_iter().next())
            .map(|item| read(&item))
            .unwrap_or_default();
        Ok((customer, lockout))
    }

    /// Counts a failure (on top of `seen`, re-read if another failure got in first) and
    /// returns the new record.
    pub async fn record_failure(
        &self,
        scope: &str,
        mut seen: Lockout,
        now: i64,
    ) -> StoreResult<Lockout> {
        for _ in 0..RECORD_ATTEMPTS {
            let next = seen.after_failure(now);
            let result = self
                .db
                .put_item()
                .table_name(&self.tables.sessions)
                .item("pk", key(scope))
                .item("failures", AttributeValue::N(next.failures.to_string()))
                .item(
                    "last_failure",
                    AttributeValue::N(next.last_failure.to_string()),
                )
                .item(
                    "locked_until",
                    AttributeValue::N(next.locked_until.to_string()),
                )
                .item(
                    "expires_at",
                    AttributeValue::N((now + QUIET_SECS + MAX_LOCK_SECS).to_string()),
                )
                .condition_expression(
                    "attribute_not_exists(pk) OR (failures = :n AND last_failure = :t)",
                )
                .expression_attribute_values(":n", AttributeValue::N(seen.failures.to_string()))
                .expression_attribute_values(":t", AttributeValue::N(seen.last_failure.to_string()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(next),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    seen = self.lockout(scope).await?;
                }
                Err(e) => return Err(classify(e)),
            }
        }
        Err(super::StoreError::Unavailable(
            "failure record kept racing".into(),
        ))
    }

    /// Forgets a scope's failures after a success.
    pub async fn clear_lockout(&self, scope: &str) -> StoreResult<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_are_free_then_the_lock_doubles_up_to_fifteen_minutes() {
        let mut record = Lockout::default();
        let now = 1_000_000;
        for _ in 0..4 {
            record = record.after_failure(now);
            assert_eq!(record.retry_after(now), None);
        }
        let waits: Vec<u64> = (0..14)
            .map(|_| {
                record = record.after_failure(now);
                record.retry_after(now).unwrap()
            })
            .collect();
        assert_eq!(&waits[..5], &[1, 2, 4, 8, 16]);
        assert_eq!(*waits.last().unwrap(), 900);
    }

    #[test]
    fn fifteen_quiet_minutes_reset_the_count() {
        let mut record = Lockout::default();
        for _ in 0..6 {
            record = record.after_failure(1_000);
        }
        assert!(record.retry_after(1_000).is_some());
        let later = record.after_failure(1_000 + QUIET_SECS + 1);
        assert_eq!(later.failures, 1);
        assert_eq!(later.retry_after(1_000 + QUIET_SECS + 1), None);
    }
}
