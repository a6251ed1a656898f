//! Click-to-verify links: `walink#<link_id>` items in the sessions table. A link is made
//! by the page or kiosk, bound once to the phone that sent its text on WhatsApp, and
//! redeemed once by a poll; each step is one conditional write, so that redeliveries,
//! two senders racing one text and two polls racing one link each have exactly one
//! winner. The item expires by TTL; it is live while `expires_at` is in the future.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Item, Store, StoreResult, if_condition_held, n, number, s};

fn key(link_id: &str) -> AttributeValue {
    s(format!("walink#{link_id}"))
}

/// A link as made: everything but the secret itself (only its hash is kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLink {
    pub link_id: String,
    /// SHA-256 (hex) of the link secret.
    pub secret_hash: String,
    /// `web` or `kiosk`: the channel of the login it becomes.
    pub channel: String,
    /// The id of the kiosk that made it (kiosk links).
    pub kiosk: Option<String>,
    /// The login a step-up link raises: (session id, token id).
    pub step_up: Option<(String, String)>,
    pub expires_at: i64,
}

/// A link as stored, with what happened to it since.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLink {
    pub link: NewLink,
    /// The E.164 phone that sent the text, once bound.
    pub sender: Option<String>,
    /// That sender's WhatsApp profile name, if it had a usable one.
    pub sender_name: Option<String>,
    /// Whether a poll has redeemed it.
    pub used: bool,
}

impl Store {
    /// Stores a new link; `false` if its id is taken (a 55-bit text drawn twice).
    pub async fn put_walink(&self, link: &NewLink) -> StoreResult<bool> {
        let mut request = self
            .db
            .put_item()
            .table_name(&self.tables.sessions)
            .item("pk", key(&link.link_id))
            .item("secret_hash", s(&link.secret_hash))
            .item("channel", s(&link.channel))
            .item("expires_at", n(link.expires_at))
            .condition_expression("attribute_not_exists(pk)");
        if let Some(kiosk) = &link.kiosk {
            request = request.item("kiosk", s(kiosk));
        }
        if let Some((session_id, token_id)) = &link.step_up {
            request = request
                .item("step_session", s(session_id))
                .item("step_token", s(token_id));
        }
        Ok(if_condition_held(request.send().await)?.is_some())
    }

    /// The link `link_id`, read consistently (a poll right after the webhook's bind must
    /// see it).
    pub async fn walink(&self, link_id: &str) -> StoreResult<Option<StoredLink>> {
        let table = &self.tables.sessions;
        let mut found = self.get_batch(&[(table, key(link_id))]).await?;
        Ok(found
            .take(table, &key(link_id))
            .and_then(|item| decode(link_id, &item)))
    }

    /// Binds the live link `link_id` to `sender`: `true` if it is now bound to `sender`
    /// (by this call, or by an earlier delivery of the same message), `false` if there is
    /// no such live link or another phone bound it first. One sender, ever.
    pub async fn bind_walink(
        &self,
        link_id: &str,
        sender: &str,
        sender_name: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let mut request = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", key(link_id))
            .condition_expression(
                "attribute_exists(pk) AND expires_at > :now \
                 AND (attribute_not_exists(sender) OR sender = :sender)",
            )
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":sender", s(sender));
        // The name only comes with the first binding's SET; a redelivery writes the same.
        request = match sender_name {
            Some(name) => request
                .update_expression("SET sender = :sender, sender_name = :name")
                .expression_attribute_values(":name", s(name)),
            None => request.update_expression("SET sender = :sender"),
        };
        Ok(if_condition_held(request.send().await)?.is_some())
    }

    /// Redeems a bound, live link: of two polls at the same moment, exactly one gets
    /// `true`. `used` holds when it was redeemed (epoch s), so that [`Store::unredeem_walink`]
    /// only undoes its own redemption.
    pub async fn redeem_walink(&self, link_id: &str, now: i64) -> StoreResult<bool> {
        let result = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", key(link_id))
            .update_expression("SET used = :now")
            .condition_expression(
                "attribute_exists(sender) AND attribute_not_exists(used) AND expires_at > :now",
            )
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        Ok(if_condition_held(result)?.is_some())
    }

    /// Gives a redemption back when the login it was for could not be made (DynamoDB
    /// unavailable, say), so that the page's next poll can try again. Best effort: a link
    /// left used is a customer sending the text again, not a hole.
    pub async fn unredeem_walink(&self, link_id: &str, redeemed_at: i64) {
        let result = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", key(link_id))
            .update_expression("REMOVE used")
            .condition_expression("used = :at")
            .expression_attribute_values(":at", n(redeemed_at))
            .send()
            .await;
        if let Err(err) = if_condition_held(result) {
            tracing::warn!(error = %err, "a click-to-verify redemption could not be given back");
        }
    }
}

fn decode(link_id: &str, item: &Item) -> Option<StoredLink> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let step_up = text("step_session").zip(text("step_token"));
    Some(StoredLink {
        link: NewLink {
            link_id: link_id.to_string(),
            secret_hash: text("secret_hash")?,
            channel: text("channel")?,
            kiosk: text("kiosk"),
            step_up,
            expires_at: number(item, "expires_at")?,
        },
        sender: text("sender"),
        sender_name: text("sender_name"),
        used: item.contains_key("used"),
    })
}
