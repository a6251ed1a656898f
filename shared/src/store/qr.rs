//! QR handoff codes: `qr#<hash>` items in the sessions table, consumed by a conditional
//! delete so that of two kiosks racing for one code exactly one wins.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{Store, StoreResult, classify, if_condition_held, number};

/// What a consumed code hands over.
#[derive(Debug)]
pub struct QrGrant {
    pub session_id: String,
    /// The login that made the code: logging it out voids the code.
    pub issuer_token_id: String,
    /// That login's root (`logins`): the kiosk's login stands on it. Absent on codes made
    /// before roots were recorded.
    pub issuer_root: Option<String>,
    pub phone: String,
    pub max_expires_at: i64,
}

fn key(hash: &str) -> AttributeValue {
    AttributeValue::S(format!("qr#{hash}"))
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl Store {
    pub async fn put_qr(&self, hash: &str, grant: &QrGrant, expires_at: i64) -> StoreResult<()> {
        let mut request = self
            .db
            .put_item()
            .table_name(&self.tables.sessions)
            .item("pk", key(hash))
            .item("session_id", AttributeValue::S(grant.session_id.clone()))
            .item(
                "issuer_token_id",
                AttributeValue::S(grant.issuer_token_id.clone()),
            )
            .item("owner_phone", AttributeValue::S(grant.phone.clone()))
            .item("max_expires_at", n(grant.max_expires_at))
            .item("expires_at", n(expires_at));
        if let Some(root) = &grant.issuer_root {
            request = request.item("issuer_root", AttributeValue::S(root.clone()));
        }
        request.send().await.map_err(classify)?;
        Ok(())
    }

    /// Deletes the code if it exists and has not expired, and says what it granted.
    /// `None` for an unknown, used or expired code.
    pub async fn consume_qr(&self, hash: &str, now: i64) -> StoreResult<Option<QrGrant>> {
        let result = self
            .db
            .delete_item()
            .table_name(&self.tables.sessions)
            .key("pk", key(hash))
            .condition_expression("attribute_exists(pk) AND expires_at > :now")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let Some(old) = if_condition_held(result)?.map(|out| out.attributes) else {
            return Ok(None);
        };
        let text = |item: &std::collections::HashMap<String, AttributeValue>, k: &str| {
            item.get(k).and_then(|v| v.as_s().ok()).cloned()
        };
        Ok(old.and_then(|item| {
            Some(QrGrant {
                session_id: text(&item, "session_id")?,
                issuer_token_id: text(&item, "issuer_token_id")?,
                issuer_root: text(&item, "issuer_root"),
                phone: text(&item, "owner_phone")?,
                max_expires_at: number(&item, "max_expires_at")?,
            })
        }))
    }
}
