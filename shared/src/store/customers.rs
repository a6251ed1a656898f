//! Customers: `phone#<e164>` holds the record, `customer#<id>` claims the id.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::{Store, StoreResult, classify, decode, if_condition_held, unexpected};
use crate::phone::PhoneNumber;

fn phone_key(phone: &str) -> AttributeValue {
    AttributeValue::S(format!("phone#{phone}"))
}

fn id_key(customer_id: &str) -> AttributeValue {
    AttributeValue::S(format!("customer#{customer_id}"))
}

/// A customer record as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CustomerItem {
    pub pk: String,
    pub customer_id: String,
    pub phone_number: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub building_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_landmark: Option<String>,
    /// bcrypt hash; absent for customers who came by WhatsApp or the CSV import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Counts password changes, so that a change can void password checks made just
    /// before it (see `SessionItem::password_version`).
    #[serde(default)]
    pub password_version: i64,
    /// Signed up with a password, but nobody has proven the phone yet: whoever proves it
    /// (a code, click-to-verify, a WhatsApp delivery) takes the account over. Customers
    /// who came by WhatsApp, the import or an operator are proven.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unproven: bool,
    /// The customer's WhatsApp user id (BSUID), once a delivery has carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_user_id: Option<String>,
    /// Their WhatsApp username, where the profile shows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_username: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl CustomerItem {
    /// A new record with only the required fields set.
    pub fn new(customer_id: String, phone: &PhoneNumber, name: String, now: &str) -> Self {
        Self {
            pk: format!("phone#{phone}"),
            customer_id,
            phone_number: phone.as_str().to_string(),
            name,
            age: None,
            gender: None,
            city: None,
            building_name: None,
            address_landmark: None,
            password_hash: None,
            password_version: 0,
            unproven: false,
            whatsapp_user_id: None,
            whatsapp_username: None,
            created_at: now.to_string(),
            updated_at: now.to_string(),
        }
    }

    /// A fresh random id for customers created by this service (imported customers
    /// keep the old system's ids).
    pub fn generate_id() -> String {
        format!("cus_{}", hex::encode(rand::random::<[u8; 8]>()))
    }

    pub fn phone(&self) -> PhoneNumber {
        PhoneNumber::from_stored(self.phone_number.clone())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum CreateCustomer {
    Created,
    PhoneTaken,
    IdTaken,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    Created,
    Updated,
    /// The row cannot be loaded without breaking "one phone, one customer, one id".
    Rejected(String),
}

impl Store {
    pub async fn customer_by_phone(
        &self,
        phone: &PhoneNumber,
    ) -> StoreResult<Option<CustomerItem>> {
        let out = self
            .db
            .get_item()
            .table_name(&self.tables.customers)
            .key("pk", phone_key(phone.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        decode(out.item)
    }

    pub async fn customer_by_id(&self, customer_id: &str) -> StoreResult<Option<CustomerItem>> {
        let out = self
            .db
            .get_item()
            .table_name(&self.tables.customers)
            .key("pk", id_key(customer_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        let Some(phone) = out
            .item
            .as_ref()
            .and_then(|item| item.get("phone_number"))
            .and_then(|v| v.as_s().ok())
        else {
            return Ok(None);
        };
        self.customer_by_phone(&PhoneNumber::from_stored(phone.clone()))
            .await
    }

    /// Writes the record and the id claim together, or neither.
    pub async fn create_customer(&self, customer: &CustomerItem) -> StoreResult<CreateCustomer> {
        let record = Put::builder()
            .table_name(&self.tables.customers)
            .set_item(Some(serde_dynamo::to_item(customer).map_err(unexpected)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unexpected)?;
        let claim = Put::builder()
            .table_name(&self.tables.customers)
            .item("pk", id_key(&customer.customer_id))
            .item(
                "phone_number",
                AttributeValue::S(customer.phone_number.clone()),
            )
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unexpected)?;
        let result = self
            .db
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(record).build())
            .transact_items(TransactWriteItem::builder().put(claim).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(CreateCustomer::Created),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(e)) =
                    err.as_service_error()
                {
                    let failed = |i: usize| {
                        e.cancellation_reasons()
                            .get(i)
                            .and_then(|r| r.code())
                            .is_some_and(|c| c == "ConditionalCheckFailed")
                    };
                    if failed(0) {
                        return Ok(CreateCustomer::PhoneTaken);
                    }
                    if failed(1) {
                        return Ok(CreateCustomer::IdTaken);
                    }
                }
                Err(classify(err))
            }
        }
    }

    /// Sets a customer's password hash and counts the change. With `replacing`, only while
    /// the stored hash is still that one (two changes racing: one wins). The new password
    /// version, or `None` when the phone has no customer or the hash has changed meanwhile.
    pub async fn set_password_hash(
        &self,
        phone: &PhoneNumber,
        hash: &str,
        replacing: Option<&str>,
        now: &str,
    ) -> StoreResult<Option<i64>> {
        let mut request = self
            .db
            .update_item()
            .table_name(&self.tables.customers)
            .key("pk", phone_key(phone.as_str()))
            .update_expression(
                "SET password_hash = :h, updated_at = :now, \
                 password_version = if_not_exists(password_version, :zero) + :one",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":h", AttributeValue::S(hash.to_string()))
            .expression_attribute_values(":now", AttributeValue::S(now.to_string()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::UpdatedNew);
        if let Some(old) = replacing {
            request = request
                .condition_expression("attribute_exists(pk) AND password_hash = :old")
                .expression_attribute_values(":old", AttributeValue::S(old.to_string()));
        }
        let result = request.send().await;
        Ok(if_condition_held(result)?
            .and_then(|out| super::number(out.attributes.as_ref()?, "password_version")))
    }

    /// Hands an unproven account to whoever just proved its phone: the password (with a new
    /// version, so that a check against it a moment ago cannot join afterwards), the
    /// personal record someone typed without proving anything, and the flag go; the name
    /// becomes `name`. The customer as it is afterwards; `None` when it is not (or no
    /// longer) unproven.
    pub async fn prove_customer(
        &self,
        phone: &PhoneNumber,
        name: &str,
        now: &str,
    ) -> StoreResult<Option<CustomerItem>> {
        let result = self
            .db
            .update_item()
            .table_name(&self.tables.customers)
            .key("pk", phone_key(phone.as_str()))
            .update_expression(
                "REMOVE unproven, password_hash, age, gender, city, building_name, \
                 address_landmark SET #name = :name, updated_at = :now, \
                 password_version = if_not_exists(password_version, :zero) + :one",
            )
            .condition_expression("unproven = :yes")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", AttributeValue::S(name.to_string()))
            .expression_attribute_values(":now", AttributeValue::S(now.to_string()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match if_condition_held(result)? {
            Some(out) => decode(out.attributes),
            None => Ok(None),
        }
    }

    /// Marks an unproven account proven by its own session (a code or click-to-verify
    /// presented with one of its tokens): nothing else changes.
    pub async fn mark_proven(&self, phone: &PhoneNumber) -> StoreResult<()> {
        let result = self
            .db
            .update_item()
            .table_name(&self.tables.customers)
            .key("pk", phone_key(phone.as_str()))
            .update_expression("REMOVE unproven")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        // A customer erased meanwhile has nothing left to mark.
        if_condition_held(result)?;
        Ok(())
    }

    /// Loads one row of the old system's customers.csv. Running it again with the same row
    /// changes nothing but the profile fields; a password already set is kept.
    pub async fn import_customer(&self, row: &CustomerItem) -> StoreResult<ImportOutcome> {
        match self.create_customer(row).await? {
            CreateCustomer::Created => return Ok(ImportOutcome::Created),
            CreateCustomer::IdTaken => {
                return Ok(ImportOutcome::Rejected(format!(
                    "customer_id {} already belongs to another phone number",
                    row.customer_id
                )));
            }
            CreateCustomer::PhoneTaken => {}
        }
        let existing = self.customer_by_phone(&row.phone()).await?;
        match existing {
            Some(existing) if existing.customer_id == row.customer_id => {
                let mut updated = row.clone();
                updated.password_hash = existing.password_hash;
                updated.password_version = existing.password_version;
                updated.created_at = existing.created_at;
                self.db
                    .put_item()
                    .table_name(&self.tables.customers)
                    .set_item(Some(serde_dynamo::to_item(&updated).map_err(unexpected)?))
                    .send()
                    .await
                    .map_err(classify)?;
                Ok(ImportOutcome::Updated)
            }
            Some(existing) => Ok(ImportOutcome::Rejected(format!(
                "phone number {} already belongs to customer {}",
                row.phone_number, existing.customer_id
            ))),
            None => Ok(ImportOutcome::Rejected(
                "phone number changed owner during the import; run it again".into(),
            )),
        }
    }
}
