//! WhatsApp user ids (BSUIDs) in the customers table. A customer known only by a user id
//! lives at `phone#u:<BSUID>` (`PhoneNumber::of_whatsapp_user`) until their phone is
//! known; then `user#<BSUID>` points at the phone's record, and the `u:` record is merged
//! into it and deleted (while it still exists, a merge is unfinished).

use aws_sdk_dynamodb::types::AttributeValue;

use super::{CustomerItem, Store, StoreResult, classify, decode, if_condition_held};
use crate::phone::{PhoneNumber, WhatsappUserId};

fn pointer_key(user: &WhatsappUserId) -> AttributeValue {
    AttributeValue::S(format!("user#{}", user.as_str()))
}

fn record_key(key: &PhoneNumber) -> AttributeValue {
    AttributeValue::S(format!("phone#{}", key.as_str()))
}

/// What the customers table says of a WhatsApp user id.
#[derive(Debug, Default)]
pub struct UserRecords {
    /// The phone the id has been linked to.
    pub linked_phone: Option<PhoneNumber>,
    /// The customer known only by the id: still there while not (fully) merged.
    pub unlinked: Option<CustomerItem>,
}

impl Store {
    /// The pointer of `user` and the record of the customer known only by it, in one
    /// consistent round trip.
    pub async fn whatsapp_user(&self, user: &WhatsappUserId) -> StoreResult<UserRecords> {
        let table = &self.tables.customers;
        let (pointer, record) = (
            pointer_key(user),
            record_key(&PhoneNumber::of_whatsapp_user(user)),
        );
        let mut found = self
            .get_batch(&[(table, pointer.clone()), (table, record.clone())])
            .await?;
        let linked_phone = found
            .take(table, &pointer)
            .and_then(|item| item.get("phone")?.as_s().ok().cloned())
            .map(PhoneNumber::from_stored);
        Ok(UserRecords {
            linked_phone,
            unlinked: decode(found.take(table, &record))?,
        })
    }

    /// Points `user` at `phone`'s customer (re-pointing it if Meta now pairs the id with
    /// another number) and records the id on that customer.
    pub async fn link_whatsapp_user(
        &self,
        user: &WhatsappUserId,
        phone: &PhoneNumber,
        now: &str,
    ) -> StoreResult<()> {
        let pointer = self
            .db
            .put_item()
            .table_name(&self.tables.customers)
            .item("pk", pointer_key(user))
            .item("phone", AttributeValue::S(phone.as_str().to_string()))
            .item("linked_at", AttributeValue::S(now.to_string()))
            .send();
        let record = self
            .db
            .update_item()
            .table_name(&self.tables.customers)
            .key("pk", record_key(phone))
            .update_expression("SET whatsapp_user_id = :u")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":u", AttributeValue::S(user.as_str().to_string()))
            .send();
        let (pointer, record) = tokio::join!(pointer, record);
        pointer.map_err(classify)?;
        if_condition_held(record)?;
        Ok(())
    }

    /// Deletes the record at `key` (a merged user id's), if it is still there.
    pub async fn delete_customer_record(&self, key: &PhoneNumber) -> StoreResult<()> {
        self.db
            .delete_item()
            .table_name(&self.tables.customers)
            .key("pk", record_key(key))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
