//! The session item as stored: the session's own fields, its logins' token hashes and
//! its memory (summary, SKUs, cart). Chat messages are not in it: the messages table holds
//! them (see `messages`), so the item's size does not grow with the history.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::logins::{LoginMark, Maker};
use crate::model::{Author, CartItem};
use crate::token::Level;

/// A login in a session's `tokens` map.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StoredLogin {
    /// A login stored since logins became their own items (`login#<sid>#<tid>`, holding
    /// the token's hash): the session keeps its mark only.
    Mark(LoginMark),
    /// A login stored whole in the session, before: it keeps working as it was.
    Whole(TokenEntry),
}

impl StoredLogin {
    pub fn mark(&self, token_id: &str) -> LoginMark {
        match self {
            StoredLogin::Mark(mark) => mark.clone(),
            StoredLogin::Whole(entry) => LoginMark::of_entry(token_id, entry),
        }
    }

    /// The same login, used at `now`.
    pub fn used_at(&self, now: chrono::DateTime<chrono::Utc>) -> StoredLogin {
        match self {
            StoredLogin::Mark(mark) => StoredLogin::Mark(LoginMark {
                last_used: now.timestamp_millis(),
                ..mark.clone()
            }),
            StoredLogin::Whole(entry) => StoredLogin::Whole(TokenEntry {
                last_used_at: Some(crate::model::rfc3339(now)),
                ..entry.clone()
            }),
        }
    }
}

/// One login, as its own item holds it (and as sessions stored before held it whole):
/// only the token's hash is kept.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenEntry {
    pub hash: String,
    pub channel: Channel,
    pub level: Level,
    pub issued_at: String,
    /// Who made the login (see `logins`); absent on logins stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Maker>,
    /// The direct login a minted login stands on; absent for a direct login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// Written at most once per touch interval, like the session's expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    /// The kiosk a kiosk login was made at (its id), directly or by QR code; absent on
    /// other logins and on kiosk logins made before the registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kiosk: Option<String>,
    /// That kiosk's store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
}

/// A session as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionItem {
    /// The session id.
    pub pk: String,
    /// The customer's key (their phone, or `u:<BSUID>`); absent on a merged session.
    #[serde(default)]
    pub phone: String,
    pub customer_id: String,
    /// Channel name → when it first joined.
    pub channels: HashMap<String, String>,
    /// Token id → what the session keeps of that login (its mark; the login itself is
    /// its own item, see [`StoredLogin`]).
    pub tokens: HashMap<String, StoredLogin>,
    /// How many messages the session's history holds (in the messages table). Items
    /// stored before the history moved out also hold a `recent` window, which is no
    /// longer read and is removed by the next write.
    pub message_count: u64,
    /// The channel of the latest message written (absent before the first one, and on
    /// items stored before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_channel: Option<Channel>,
    pub summary: String,
    /// Who wrote the summary; absent on sessions stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_by: Option<Author>,
    /// SKU → when and by whom it was recommended.
    pub skus: HashMap<String, SkuMark>,
    pub cart: Vec<CartItem>,
    pub created_at: String,
    pub updated_at: String,
    /// Epoch seconds; the table's TTL attribute. Slides with activity.
    pub expires_at: i64,
    /// Epoch seconds; the absolute cap that `expires_at` never passes.
    pub max_expires_at: i64,
    /// The customer's password version when the password last changed (or the session
    /// started): a password login checked against an older password cannot join.
    #[serde(default)]
    pub password_version: i64,
    /// The session of an account whose phone nobody has proven yet (a password signup):
    /// no proven channel of the phone joins it; the first proof ends it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unproven: bool,
    /// Set when this session has been merged into another (its customer turned out to be
    /// another's): it takes no more writes, and its tokens lead to that one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    /// The sessions merged into this one, so that a merge run again folds nothing twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// The stores of the kiosks the customer logged in at during the session: a string
    /// set, which each kiosk login `ADD`s to in the write that enters the session (absent
    /// until the first; DynamoDB has no empty set).
    #[serde(
        default,
        skip_serializing_if = "BTreeSet::is_empty",
        with = "serde_dynamo::string_set"
    )]
    pub stores: BTreeSet<String>,
}

impl SessionItem {
    pub fn id(&self) -> &str {
        &self.pk
    }

    /// The mark of every login of the session.
    pub fn logins(&self) -> HashMap<String, LoginMark> {
        self.tokens
            .iter()
            .map(|(id, stored)| (id.clone(), stored.mark(id)))
            .collect()
    }
}

/// When a SKU was recommended (a higher rank is later) and by whom. Stored as
/// `"<rank> <author>"`; sessions written before authors were recorded hold the bare rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkuMark {
    pub rank: i64,
    pub by: Option<Author>,
}

impl Serialize for SkuMark {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.by {
            None => serializer.serialize_i64(self.rank),
            Some(by) => serializer.serialize_str(&format!("{} {by}", self.rank)),
        }
    }
}

impl<'de> Deserialize<'de> for SkuMark {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Rank(i64),
            Marked(String),
        }
        match Stored::deserialize(deserializer)? {
            Stored::Rank(rank) => Ok(SkuMark { rank, by: None }),
            Stored::Marked(text) => {
                let (rank, by) = text
                    .split_once(' ')
                    .ok_or_else(|| serde::de::Error::custom("a SKU mark is \"<rank> <author>\""))?;
                Ok(SkuMark {
                    rank: rank.parse().map_err(serde::de::Error::custom)?,
                    by: Some(Author::try_from(by.to_string()).map_err(serde::de::Error::custom)?),
                })
            }
        }
    }
}
