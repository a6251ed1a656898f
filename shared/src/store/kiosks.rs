//! The kiosks table: one item per kiosk, keyed by `kiosk_id` (see `crate::kiosks`). The
//! functions only ever read it whole; `omnisession-admin kiosk …` writes it, each write
//! conditional, so that two operators at work on the same kiosk cannot undo each other
//! unseen.

use aws_sdk_dynamodb::types::AttributeValue;

use super::schema::KIOSK_KEY;
use super::{Item, Store, StoreResult, classify, if_condition_held, s, unexpected};
use crate::kiosks::KioskRecord;

fn key(kiosk_id: &str) -> AttributeValue {
    s(kiosk_id)
}

impl Store {
    /// Every kiosk, revoked ones too: a strongly consistent `Scan`, page by page. The
    /// table holds one small item per kiosk, so this is one page for thousands of them;
    /// a function reads it at most once a minute, and once per 5 s on unknown keys.
    pub async fn kiosk_registry(&self) -> StoreResult<Vec<KioskRecord>> {
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .db
                .scan()
                .table_name(&self.tables.kiosks)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(classify)?;
            records.extend(
                page.items
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(decode),
            );
            start = page.last_evaluated_key.filter(|key| !key.is_empty());
            if start.is_none() {
                return Ok(records);
            }
        }
    }

    /// The kiosk `kiosk_id`, read consistently.
    pub async fn kiosk(&self, kiosk_id: &str) -> StoreResult<Option<KioskRecord>> {
        let out = self
            .db
            .get_item()
            .table_name(&self.tables.kiosks)
            .key(KIOSK_KEY, key(kiosk_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.item.and_then(decode))
    }

    /// Registers a kiosk; `false` if its id is taken (by an active or a revoked kiosk).
    pub async fn add_kiosk(&self, record: &KioskRecord) -> StoreResult<bool> {
        let item: Item = serde_dynamo::to_item(record).map_err(unexpected)?;
        let result = self
            .db
            .put_item()
            .table_name(&self.tables.kiosks)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", KIOSK_KEY)
            .send()
            .await;
        Ok(if_condition_held(result)?.is_some())
    }

    /// Revokes the active kiosk `kiosk_id` at `at`; `false` if there is no such kiosk or
    /// it was revoked already (the earlier revocation's time stands).
    pub async fn revoke_kiosk(&self, kiosk_id: &str, at: &str) -> StoreResult<bool> {
        let result = self
            .db
            .update_item()
            .table_name(&self.tables.kiosks)
            .key(KIOSK_KEY, key(kiosk_id))
            .update_expression("SET revoked_at = :at")
            .condition_expression("attribute_exists(#id) AND attribute_not_exists(revoked_at)")
            .expression_attribute_names("#id", KIOSK_KEY)
            .expression_attribute_values(":at", s(at))
            .send()
            .await;
        Ok(if_condition_held(result)?.is_some())
    }

    /// Gives the active kiosk `kiosk_id` a new key, in place of the one whose hash the
    /// caller read (`seen_hash`): `false` if the kiosk was revoked or its key replaced
    /// meanwhile, so that of two rotations at once only one key is handed out and works.
    pub async fn rotate_kiosk(
        &self,
        kiosk_id: &str,
        seen_hash: &str,
        new_hash: &str,
        at: &str,
    ) -> StoreResult<bool> {
        let result = self
            .db
            .update_item()
            .table_name(&self.tables.kiosks)
            .key(KIOSK_KEY, key(kiosk_id))
            .update_expression("SET key_hash = :new, rotated_at = :at")
            .condition_expression(
                "attribute_exists(#id) AND attribute_not_exists(revoked_at) AND key_hash = :seen",
            )
            .expression_attribute_names("#id", KIOSK_KEY)
            .expression_attribute_values(":new", s(new_hash))
            .expression_attribute_values(":seen", s(seen_hash))
            .expression_attribute_values(":at", s(at))
            .send()
            .await;
        Ok(if_condition_held(result)?.is_some())
    }
}

/// An item as a record; an item that is not one (edited by hand, say) is left out with a
/// warning naming it, rather than taking every other kiosk down with it.
fn decode(item: Item) -> Option<KioskRecord> {
    let id = item.get(KIOSK_KEY).and_then(|v| v.as_s().ok()).cloned();
    let decoded: Result<KioskRecord, _> = serde_dynamo::from_item(item);
    match decoded {
        Ok(record) => Some(record),
        Err(err) => {
            tracing::warn!(kiosk_id = ?id, error = %err, "a kiosk item is malformed and is ignored");
            None
        }
    }
}
