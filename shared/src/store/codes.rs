//! Verification codes in the sessions table: `code#<purpose>#<phone>` holds the current
//! code's HMAC and its tries left (a new code replaces the previous one), and
//! `sends#<phone>` the times of the last day's sends. Both expire by TTL.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{Store, StoreResult, if_condition_held, n, number, s};
use crate::codes::{CODE_TRIES, CODE_TTL_SECS, DAY_MS, Purpose, Sends};

fn code_key(purpose: Purpose, phone: &str) -> AttributeValue {
    s(format!("code#{}#{phone}", purpose.as_str()))
}

fn sends_key(phone: &str) -> AttributeValue {
    s(format!("sends#{phone}"))
}

/// A code's try, taken before the code is compared (see [`Store::take_code_try`]).
pub struct CodeTry {
    /// The stored HMAC of the code.
    pub mac: String,
}

impl Store {
    /// The sends of codes to `phone` in the last day, with the version to write over.
    pub async fn code_sends(&self, phone: &str) -> StoreResult<(Sends, i64)> {
        let table = &self.tables.sessions;
        let mut found = self.get_batch(&[(table, sends_key(phone))]).await?;
        let Some(item) = found.take(table, &sends_key(phone)) else {
            return Ok((Sends::default(), 0));
        };
        let times = item
            .get("at")
            .and_then(|v| v.as_l().ok())
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_n().ok()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok((Sends(times), number(&item, "v").unwrap_or(0)))
    }

    /// Records `sends` over version `seen`; `false` if another send got in first.
    pub async fn put_code_sends(&self, phone: &str, sends: &Sends, seen: i64) -> StoreResult<bool> {
        let newest = sends.0.last().copied().unwrap_or(0);
        let result = self
            .db
            .put_item()
            .table_name(&self.tables.sessions)
            .item("pk", sends_key(phone))
            .item("at", AttributeValue::L(sends.0.iter().map(n).collect()))
            .item("v", n(seen + 1))
            .item("expires_at", n((newest + DAY_MS) / 1000 + 1))
            .condition_expression("attribute_not_exists(pk) OR v = :seen")
            .expression_attribute_values(":seen", n(seen))
            .send()
            .await;
        Ok(if_condition_held(result)?.is_some())
    }

    /// Stores a new code (its HMAC) for `phone` and `purpose`, replacing the previous one.
    pub async fn put_code(
        &self,
        purpose: Purpose,
        phone: &str,
        mac: &str,
        now: i64,
    ) -> StoreResult<()> {
        self.db
            .put_item()
            .table_name(&self.tables.sessions)
            .item("pk", code_key(purpose, phone))
            .item("mac", s(mac))
            .item("tries", n(CODE_TRIES))
            .item("expires_at", n(now + CODE_TTL_SECS))
            .send()
            .await
            .map_err(super::classify)?;
        Ok(())
    }

    /// Takes one try of the current code before it is compared, so that guesses sent at
    /// the same moment cannot all be compared against one count: the 6th guess finds no
    /// try left however it is timed. `None` when there is no live code with a try left.
    pub async fn take_code_try(
        &self,
        purpose: Purpose,
        phone: &str,
        now: i64,
    ) -> StoreResult<Option<CodeTry>> {
        let result = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", code_key(purpose, phone))
            .update_expression("SET tries = tries - :one")
            .condition_expression("attribute_exists(pk) AND tries > :zero AND expires_at > :now")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        Ok(if_condition_held(result)?.and_then(|out| {
            let mac = out.attributes?.get("mac")?.as_s().ok()?.clone();
            Some(CodeTry { mac })
        }))
    }

    /// Uses the code up: of two verifies of the same right code, exactly one gets `true`.
    pub async fn consume_code(
        &self,
        purpose: Purpose,
        phone: &str,
        mac: &str,
    ) -> StoreResult<bool> {
        let result = self
            .db
            .delete_item()
            .table_name(&self.tables.sessions)
            .key("pk", code_key(purpose, phone))
            .condition_expression("mac = :mac")
            .expression_attribute_values(":mac", s(mac))
            .send()
            .await;
        Ok(if_condition_held(result)?.is_some())
    }
}
