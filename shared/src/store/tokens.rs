//! A session's logins: each login's own item (`login#<session id>#<token id>`, holding
//! its token's hash), reading it with its session, recording a use, ending one, ending
//! all. The session item keeps a short mark per login (see `logins::LoginMark`): a login
//! stands while its mark (and its root's) is there, so ending one is one small write.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{
    SessionItem, Store, StoreResult, StoredLogin, TokenEntry, classify, decode, if_condition_held,
    n, retry_conflicts, s, unexpected,
};

/// What a login's own item key starts with.
const LOGIN_PREFIX: &str = "login#";

pub(super) fn login_key(session_id: &str, token_id: &str) -> String {
    format!("{LOGIN_PREFIX}{session_id}#{token_id}")
}

impl Store {
    /// Stores a new login's own item; it expires with its session's absolute cap. It
    /// counts only once its mark is in the session (written beside it).
    pub async fn put_login(
        &self,
        session_id: &str,
        token_id: &str,
        login: &TokenEntry,
        expires_at: i64,
    ) -> StoreResult<()> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(login).map_err(unexpected)?;
        item.insert("pk".into(), s(login_key(session_id, token_id)));
        item.insert("expires_at".into(), n(expires_at));
        self.db
            .put_item()
            .table_name(&self.tables.sessions)
            .set_item(Some(item))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// A session and one of its logins' own item, in one strongly consistent round trip
    /// (`BatchGetItem`). Either may be missing.
    pub async fn session_and_login(
        &self,
        session_id: &str,
        token_id: &str,
    ) -> StoreResult<(Option<SessionItem>, Option<TokenEntry>)> {
        let table = &self.tables.sessions;
        let (session_key, login_key) = (s(session_id), s(login_key(session_id, token_id)));
        let mut found = self
            .get_batch(&[(table, session_key.clone()), (table, login_key.clone())])
            .await?;
        let session = decode(found.take(table, &session_key))?;
        let login = decode(found.take(table, &login_key))?;
        Ok((session, login))
    }

    /// The own items of logins, by (session issued in, token id), in strongly consistent
    /// `BatchGetItem`s of at most 100 keys (one round trip for a session's few dozen
    /// logins). Missing items are left out.
    pub async fn login_items(
        &self,
        keys: &[(&str, &str)],
    ) -> StoreResult<HashMap<(String, String), TokenEntry>> {
        let table = &self.tables.sessions;
        let mut wanted: Vec<(String, String)> = keys
            .iter()
            .map(|(sid, tid)| (sid.to_string(), tid.to_string()))
            .collect();
        // A batch refuses a key named twice.
        wanted.sort();
        wanted.dedup();
        let mut found = HashMap::new();
        for chunk in wanted.chunks(100) {
            let batch: Vec<(&str, AttributeValue)> = chunk
                .iter()
                .map(|(sid, tid)| (table.as_str(), s(login_key(sid, tid))))
                .collect();
            let mut items = self.get_batch(&batch).await?;
            for ((sid, tid), (_, key)) in chunk.iter().zip(&batch) {
                if let Some(entry) = decode(items.take(table, key))? {
                    found.insert((sid.clone(), tid.clone()), entry);
                }
            }
        }
        Ok(found)
    }

    /// Slides the expiry of a live session and records that one of its logins was used
    /// (a pure read does this at most once per touch interval).
    /// `used` is the login as it stands in the session, used now.
    pub async fn touch_session(
        &self,
        session_id: &str,
        token_id: &str,
        used: &StoredLogin,
        now: chrono::DateTime<chrono::Utc>,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let request = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_id))
            .update_expression("SET expires_at = :exp, tokens.#tid = :login")
            .condition_expression(
                "attribute_exists(pk) AND expires_at > :epoch AND attribute_exists(tokens.#tid)",
            )
            .expression_attribute_names("#tid", token_id)
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(
                ":login",
                serde_dynamo::to_attribute_value(used).map_err(unexpected)?,
            )
            .expression_attribute_values(":epoch", n(now.timestamp()));
        let result = retry_conflicts(|| request.clone().send()).await;
        Ok(if_condition_held(result)?.is_some())
    }

    /// Ends one login: its token stops working at once. `false` if it was already gone.
    pub async fn revoke_token(&self, session_id: &str, token_id: &str) -> StoreResult<bool> {
        let request = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_id))
            .update_expression("REMOVE tokens.#tid")
            .condition_expression("attribute_exists(tokens.#tid)")
            .expression_attribute_names("#tid", token_id);
        let result = retry_conflicts(|| request.clone().send()).await;
        Ok(if_condition_held(result)?.is_some())
    }

    /// Steps a login up in place (the same token) to `level`: `raised` replaces what the
    /// session keeps of it and, for a login stored as a mark, its own item's level
    /// follows (`own_item_in`: the session the token was issued in, where the item is),
    /// while it stands. `proven` also ends the session's unproven state. `false` if the login has
    /// gone meanwhile.
    pub async fn raise_login(
        &self,
        session_id: &str,
        token_id: &str,
        raised: &StoredLogin,
        level: crate::token::Level,
        own_item_in: Option<&str>,
        proven: bool,
    ) -> StoreResult<bool> {
        let mut update = "SET tokens.#tid = :login".to_string();
        if proven {
            update.push_str(" REMOVE unproven");
        }
        let request = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_id))
            .update_expression(update)
            .condition_expression("attribute_exists(tokens.#tid)")
            .expression_attribute_names("#tid", token_id)
            .expression_attribute_values(
                ":login",
                serde_dynamo::to_attribute_value(raised).map_err(unexpected)?,
            );
        // The own item first: the session's mark is what makes the login stand, so a
        // crash in between leaves a login that stands at its old level.
        if let Some(issued_in) = own_item_in {
            let result = self
                .db
                .update_item()
                .table_name(&self.tables.sessions)
                .key("pk", s(login_key(issued_in, token_id)))
                .update_expression("SET #level = :level")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_names("#level", "level")
                .expression_attribute_values(
                    ":level",
                    serde_dynamo::to_attribute_value(level).map_err(unexpected)?,
                )
                .send()
                .await;
            if if_condition_held(result)?.is_none() {
                return Ok(false);
            }
        }
        let result = retry_conflicts(|| request.clone().send()).await;
        Ok(if_condition_held(result)?.is_some())
    }

    /// Signs every login of the session out at once (logout-all, a password change). A
    /// password change also records the new `password_version`, so that a password login
    /// checked against the old password a moment ago cannot join afterwards.
    pub async fn revoke_all_tokens(
        &self,
        session_id: &str,
        password_version: Option<i64>,
    ) -> StoreResult<()> {
        let mut request = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_id))
            .update_expression("SET tokens = :none")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":none", AttributeValue::M(HashMap::new()));
        if let Some(version) = password_version {
            request = request
                .update_expression("SET tokens = :none, password_version = :pv")
                .expression_attribute_values(":pv", n(version));
        }
        let result = retry_conflicts(|| request.clone().send()).await;
        if_condition_held(result)?;
        Ok(())
    }

    /// The logins the kiosk `kiosk_id` made (by a typed phone, a code, a link or a QR
    /// handoff), by (session issued in, token id), ended or not: a filtered `Scan` of the
    /// whole sessions table, for `omnisession-admin kiosk revoke` alone. Nothing else finds
    /// logins by kiosk, and an index for one rare operator command would cost every login
    /// write; the functions are granted no `Scan` of this table for it.
    pub async fn kiosk_logins(&self, kiosk_id: &str) -> StoreResult<Vec<(String, String)>> {
        let values = HashMap::from([
            (":login".to_string(), s(LOGIN_PREFIX)),
            (":kiosk".to_string(), s(kiosk_id)),
        ]);
        let items = self
            .scan_filtered(
                &self.tables.sessions,
                "begins_with(pk, :login) AND kiosk = :kiosk",
                values,
                "pk",
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| item.get("pk")?.as_s().ok())
            .filter_map(|pk| {
                let (session_id, token_id) = pk.strip_prefix(LOGIN_PREFIX)?.split_once('#')?;
                Some((session_id.to_string(), token_id.to_string()))
            })
            .collect())
    }
}
