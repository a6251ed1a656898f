//! A customer's new phone number: the record, its id claim, and the live session's lock
//! and index entry move in one transaction, so that the customer is never under both
//! numbers or neither, and the session never apart from its customer.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, Update};

use super::transaction::{Outcome, Transaction};
use super::{CustomerItem, SessionItem, Store, StoreResult, lock_key, n, s, unexpected};
use crate::phone::PhoneNumber;

/// The outcome of [`Store::change_number`].
pub enum Renumbered {
    Changed,
    /// The new number has a customer (or a session) already.
    Taken,
    /// The record or the session changed meanwhile (or a concurrent transaction): read
    /// again.
    Retry,
}

impl Store {
    /// Moves `customer` (as read) and its live `session`, if any, from their number to
    /// `to`. The new record is the old one with the new number, proven (the number was).
    pub async fn change_number(
        &self,
        customer: &CustomerItem,
        session: Option<&SessionItem>,
        to: &PhoneNumber,
    ) -> StoreResult<Renumbered> {
        let customers = &self.tables.customers;
        let moved = CustomerItem {
            pk: format!("phone#{to}"),
            phone_number: to.as_str().to_string(),
            unproven: false,
            ..customer.clone()
        };
        let new_record = Put::builder()
            .table_name(customers)
            .set_item(Some(serde_dynamo::to_item(&moved).map_err(unexpected)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unexpected)?;
        // The old record goes only as it was read: a password change meanwhile retries.
        let old_record = Delete::builder()
            .table_name(customers)
            .key("pk", s(&customer.pk))
            .condition_expression("customer_id = :cid AND updated_at = :seen")
            .expression_attribute_values(":cid", s(&customer.customer_id))
            .expression_attribute_values(":seen", s(&customer.updated_at))
            .build()
            .map_err(unexpected)?;
        let claim = Update::builder()
            .table_name(customers)
            .key("pk", s(format!("customer#{}", customer.customer_id)))
            .update_expression("SET phone_number = :to")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":to", s(to.as_str()))
            .build()
            .map_err(unexpected)?;
        let mut transaction = Transaction::default()
            .put(NEW_RECORD, new_record)
            .delete(OLD_RECORD, old_record)
            .update(ID_CLAIM, claim);
        if let Some(session) = session {
            let new_lock = Put::builder()
                .table_name(&self.tables.sessions)
                .item("pk", lock_key(to.as_str()))
                .item("session_id", s(session.id()))
                .item("expires_at", n(session.max_expires_at))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(unexpected)?;
            let move_session = Update::builder()
                .table_name(&self.tables.sessions)
                .key("pk", s(session.id()))
                .update_expression("SET phone = :to")
                .condition_expression("phone = :from AND attribute_not_exists(merged_into)")
                .expression_attribute_values(":to", s(to.as_str()))
                .expression_attribute_values(":from", s(&session.phone))
                .build()
                .map_err(unexpected)?;
            transaction = transaction
                .put(NEW_LOCK, new_lock)
                .update(SESSION, move_session)
                .delete(OLD_LOCK, self.lock_release(&session.phone, session.id())?);
        }
        let cancelled = match transaction.send(&self.db).await {
            Ok(()) => return Ok(Renumbered::Changed),
            Err(Outcome::Failed(err)) => return Err(err),
            Err(Outcome::Cancelled(cancelled)) => cancelled,
        };
        if cancelled.failed(NEW_RECORD).is_some() || cancelled.failed(NEW_LOCK).is_some() {
            return Ok(Renumbered::Taken);
        }
        if cancelled.contended()
            || [OLD_RECORD, ID_CLAIM, SESSION, OLD_LOCK]
                .iter()
                .any(|slot| cancelled.failed(slot).is_some())
        {
            return Ok(Renumbered::Retry);
        }
        Err(cancelled.into_error())
    }

    /// Points a WhatsApp user id's link at the customer's new number.
    pub async fn relink_whatsapp_user(&self, user: &str, to: &PhoneNumber) -> StoreResult<()> {
        let result = self
            .db
            .update_item()
            .table_name(&self.tables.customers)
            .key("pk", s(format!("user#{user}")))
            .update_expression("SET phone = :to")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":to", AttributeValue::S(to.as_str().to_string()))
            .send()
            .await;
        // No link to move: nothing to do.
        super::if_condition_held(result)?;
        Ok(())
    }
}

// The named items of the transaction above.
const NEW_RECORD: &str = "new record";
const OLD_RECORD: &str = "old record";
const ID_CLAIM: &str = "id claim";
const NEW_LOCK: &str = "new lock";
const SESSION: &str = "session";
const OLD_LOCK: &str = "old lock";
