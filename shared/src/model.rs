//! The values the API sends and receives, parsed on the way in so that a value of these
//! types is always valid (and a bad one is a 400 that names its field).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;

/// Limits that keep a session item far below DynamoDB's 400 KB item size.
pub mod limits {
    /// Messages kept inside the session item and shown as `chat_context`; older ones
    /// stay in the messages table.
    pub const CHAT_WINDOW: usize = 20;
    pub const MESSAGES_PER_UPDATE: usize = 20;
    pub const MESSAGE_BYTES: usize = 4096;
    pub const SUMMARY_BYTES: usize = 8192;
    pub const CART_ITEMS: usize = 100;
    pub const QUANTITY_MAX: u32 = 999;
    pub const PRICE_MAX: f64 = 1e9;
    pub const SKU_BYTES: usize = 64;
    /// `last_recommended_skus` keeps the newest this many.
    pub const RECOMMENDED_SKUS: usize = 50;
    pub const NAME_BYTES: usize = 100;
    pub const PROFILE_FIELD_BYTES: usize = 200;
}

/// RFC 3339 UTC with milliseconds, the API's one time format.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn has_control_chars(s: &str, allow_newlines: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && !(allow_newlines && matches!(c, '\n' | '\r' | '\t')))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Role {
    User,
    Assistant,
}

impl TryFrom<String> for Role {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        match raw.as_str() {
            "user" => Ok(Role::User),
            "assistant" => Ok(Role::Assistant),
            _ => Err("must be \"user\" or \"assistant\"".into()),
        }
    }
}

/// Message text: not blank, at most [`limits::MESSAGE_BYTES`], no control characters
/// other than newlines and tabs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageText(String);

impl TryFrom<String> for MessageText {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("must not be empty".into());
        }
        if raw.len() > limits::MESSAGE_BYTES {
            return Err(format!("must be at most {} bytes", limits::MESSAGE_BYTES));
        }
        if has_control_chars(&raw, true) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(raw))
    }
}

impl From<MessageText> for String {
    fn from(t: MessageText) -> String {
        t.0
    }
}

/// A message as a client sends it.
#[derive(Clone, Debug, Deserialize)]
#[serde(expecting = "a message object with \"role\" and \"content\"")]
pub struct NewMessage {
    pub role: Role,
    pub content: MessageText,
}

/// Who wrote a piece of the session's memory: the customer through a login of a channel,
/// or the sales agent with its service key. The agent reads it, so that what a customer's
/// client wrote (even an `assistant` message) is never taken for the agent's own words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Author {
    Agent,
    Customer(Channel),
    /// Stored before authors were recorded.
    #[default]
    Unrecorded,
}

impl std::fmt::Display for Author {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Author::Agent => f.write_str("agent"),
            Author::Customer(channel) => write!(f, "customer:{}", channel.as_str()),
            Author::Unrecorded => f.write_str("unrecorded"),
        }
    }
}

impl From<Author> for String {
    fn from(author: Author) -> String {
        author.to_string()
    }
}

impl TryFrom<String> for Author {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        match raw.split_once(':') {
            None if raw == "agent" => Ok(Author::Agent),
            None if raw == "unrecorded" => Ok(Author::Unrecorded),
            Some(("customer", channel)) => {
                Ok(Author::Customer(Channel::try_from(channel.to_string())?))
            }
            _ => Err(format!("unknown author {raw:?}")),
        }
    }
}

/// A stored chat message: who said it, on which channel, when, and who wrote it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: MessageText,
    pub channel: Channel,
    pub at: String,
    #[serde(default)]
    pub written_by: Author,
}

/// A product SKU: 1–64 bytes, no spaces at the ends, no control characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sku {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        if raw.is_empty() || raw.trim() != raw {
            return Err("must be a non-empty SKU without surrounding spaces".into());
        }
        if raw.len() > limits::SKU_BYTES {
            return Err(format!("must be at most {} bytes", limits::SKU_BYTES));
        }
        if has_control_chars(&raw, false) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(raw))
    }
}

impl From<Sku> for String {
    fn from(s: Sku) -> String {
        s.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u32);

impl TryFrom<u32> for Quantity {
    type Error = String;
    fn try_from(n: u32) -> Result<Self, String> {
        if (1..=limits::QUANTITY_MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(format!("must be from 1 to {}", limits::QUANTITY_MAX))
        }
    }
}

impl From<Quantity> for u32 {
    fn from(q: Quantity) -> u32 {
        q.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Price(f64);

impl TryFrom<f64> for Price {
    type Error = String;
    /// Whole cents only: DynamoDB cannot store numbers like 1e-200, and a price has no use
    /// for them.
    fn try_from(p: f64) -> Result<Self, String> {
        let cents = (p * 100.0).round();
        let whole_cents = (cents / 100.0 - p).abs() < 1e-9 && (p == 0.0 || cents >= 1.0);
        if p.is_finite() && (0.0..=limits::PRICE_MAX).contains(&p) && whole_cents {
            Ok(Self(cents / 100.0))
        } else {
            Err(format!(
                "must be a number from 0 to {} with at most 2 decimal places",
                limits::PRICE_MAX
            ))
        }
    }
}

impl From<Price> for f64 {
    fn from(p: Price) -> f64 {
        p.0
    }
}

/// An ISO 4217 currency code: three capital letters (`INR`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(raw))
        } else {
            Err("must be an ISO 4217 code of three capital letters".into())
        }
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.0
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "a cart item object with \"sku\", \"quantity\" and \"price\"")]
pub struct CartItem {
    pub sku: Sku,
    pub quantity: Quantity,
    pub price: Price,
    /// The price's currency, when the one who wrote the item said (a WhatsApp catalog
    /// order always does); absent means the shop's own currency, as before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
}

/// A customer as the API shows it: never a password or its hash. The personal fields are
/// `null` for a `phone`-level login (WhatsApp, a kiosk entering a phone number).
#[derive(Clone, Debug, Serialize)]
pub struct Customer {
    pub customer_id: String,
    pub name: String,
    pub phone_number: String,
    pub age: Option<u32>,
    pub gender: Option<String>,
    pub city: Option<String>,
    pub building_name: Option<String>,
    pub address_landmark: Option<String>,
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SessionMetadata {
    pub channels: Vec<Channel>,
}

/// A session as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct Session {
    pub session_id: String,
    pub phone: String,
    pub customer_id: String,
    /// The channel of the token this response was made for.
    pub channel: Channel,
    pub metadata: SessionMetadata,
    /// The last [`limits::CHAT_WINDOW`] messages, oldest first.
    pub chat_context: Vec<ChatMessage>,
    pub conversation_summary: String,
    /// Oldest first, newest last, no duplicates.
    pub last_recommended_skus: Vec<String>,
    pub cart: Vec<CartItem>,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: String,
}

/// The answer of every endpoint that creates or joins a session.
#[derive(Debug, Serialize)]
pub struct LoginResponse {
    pub session_token: String,
    pub session: Session,
    pub customer: Customer,
    /// `true` when the login joined a session that was already live.
    pub reused: bool,
}

/// A customer's name: 1–100 bytes, no control characters.
pub fn parse_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > limits::NAME_BYTES {
        return Err(format!("must be at most {} bytes", limits::NAME_BYTES));
    }
    if has_control_chars(name, false) {
        return Err("must not contain control characters".into());
    }
    Ok(name.to_string())
}

/// An optional profile field (city, address…): trimmed, blank becomes absent.
pub fn parse_profile_field(raw: Option<String>) -> Result<Option<String>, String> {
    let Some(raw) = raw else { return Ok(None) };
    let value = raw.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > limits::PROFILE_FIELD_BYTES {
        return Err(format!(
            "must be at most {} bytes",
            limits::PROFILE_FIELD_BYTES
        ));
    }
    if has_control_chars(value, false) {
        return Err("must not contain control characters".into());
    }
    Ok(Some(value.to_string()))
}

/// A summary: at most [`limits::SUMMARY_BYTES`], newlines allowed.
pub fn parse_summary(raw: String) -> Result<String, String> {
    if raw.len() > limits::SUMMARY_BYTES {
        return Err(format!("must be at most {} bytes", limits::SUMMARY_BYTES));
    }
    if has_control_chars(&raw, true) {
        return Err("must not contain control characters".into());
    }
    Ok(raw)
}

/// Reads an optional `customer_id` given as a string (`"103"`) or a number (`103`), as the
/// old front ends send both. Ids are 1–64 characters of letters, digits, `_` and `-`.
pub fn deserialize_customer_id<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a customer id (string or whole number)")]
    enum Id {
        Text(String),
        Number(u64),
    }
    let id = match Option::<Id>::deserialize(deserializer)? {
        None => return Ok(None),
        Some(Id::Text(s)) => s.trim().to_string(),
        Some(Id::Number(n)) => n.to_string(),
    };
    if id.is_empty()
        || id.len() > 64
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(serde::de::Error::custom(
            "must be 1-64 letters, digits, '_' or '-'",
        ));
    }
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cart_items_are_validated_field_by_field() {
        let ok: CartItem =
            serde_json::from_str(r#"{"sku":"SKU-1","quantity":2,"price":499.5}"#).unwrap();
        assert_eq!(ok.sku.as_str(), "SKU-1");
        assert_eq!(ok.currency, None);
        let priced: CartItem =
            serde_json::from_str(r#"{"sku":"A","quantity":1,"price":1,"currency":"INR"}"#).unwrap();
        assert_eq!(priced.currency.map(String::from).as_deref(), Some("INR"));
        assert!(
            serde_json::from_str::<CartItem>(r#"{"sku":"A","quantity":1,"price":19.99}"#).is_ok()
        );
        for bad in [
            r#"{"sku":"","quantity":1,"price":1}"#,
            r#"{"sku":"A","quantity":0,"price":1}"#,
            r#"{"sku":"A","quantity":1,"price":-1}"#,
            r#"{"sku":"A","quantity":1,"price":1e-200}"#,
            r#"{"sku":"A","quantity":1,"price":0.001}"#,
            r#"{"sku":"A","quantity":1.5,"price":1}"#,
            r#"{"sku":"A\u0000","quantity":1,"price":1}"#,
            r#"{"sku":"A","quantity":1,"price":1,"currency":"inr"}"#,
        ] {
            assert!(serde_json::from_str::<CartItem>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_need_a_known_role_and_real_text() {
        assert!(
            serde_json::from_str::<NewMessage>(r#"{"role":"user","content":"hi\nthere"}"#).is_ok()
        );
        assert!(serde_json::from_str::<NewMessage>(r#"{"role":"system","content":"hi"}"#).is_err());
        assert!(serde_json::from_str::<NewMessage>(r#"{"role":"user","content":"  "}"#).is_err());
        let long = format!(r#"{{"role":"user","content":"{}"}}"#, "a".repeat(5000));
        assert!(serde_json::from_str::<NewMessage>(&long).is_err());
    }

    #[test]
    fn authors_are_stored_as_short_names_and_old_messages_read_as_unrecorded() {
        for author in [
            Author::Agent,
            Author::Customer(Channel::Kiosk),
            Author::Unrecorded,
        ] {
            let text = serde_json::to_string(&author).unwrap();
            assert_eq!(serde_json::from_str::<Author>(&text).unwrap(), author);
        }
        assert_eq!(
            serde_json::to_string(&Author::Customer(Channel::Web)).unwrap(),
            "\"customer:web\""
        );
        let old: ChatMessage = serde_json::from_str(
            r#"{"role":"assistant","content":"hi","channel":"web","at":"2026-11-01T00:00:00.000Z"}"#,
        )
        .unwrap();
        assert_eq!(old.written_by, Author::Unrecorded);
    }

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(parse_name("  Asha ").unwrap(), "Asha");
        assert!(parse_name("").is_err());
        assert!(parse_name("A\u{7}sha").is_err());
        assert!(parse_name(&"x".repeat(101)).is_err());
    }
}
