//! Names the code relies on in the tables' definitions. A test compares them with
//! template.yaml, so code and template cannot drift apart silently.

/// Partition key of the customers, sessions and messages tables.
pub const PARTITION_KEY: &str = "pk";
/// Partition key of the kiosks table: one item per kiosk, named by the operator.
pub const KIOSK_KEY: &str = "kiosk_id";
/// Sort key of the messages table.
pub const SORT_KEY: &str = "sk";
/// The sessions table's GSI: partition key `phone`, sort key `created_at`.
pub const PHONE_INDEX: &str = "phone-index";
pub const PHONE_INDEX_KEYS: [&str; 2] = ["phone", "created_at"];
/// Attributes the phone index must project besides its keys.
pub const PHONE_INDEX_PROJECTS: [&str; 2] = ["expires_at", "max_expires_at"];
/// The TTL attribute (epoch seconds) of the sessions and messages tables.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// template.yaml's logical ids of the four tables.
pub const CUSTOMERS_RESOURCE: &str = "CustomersTable";
pub const SESSIONS_RESOURCE: &str = "SessionsTable";
pub const MESSAGES_RESOURCE: &str = "MessagesTable";
pub const KIOSKS_RESOURCE: &str = "KiosksTable";
