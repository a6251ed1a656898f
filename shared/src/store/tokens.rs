//! A session's logins once they exist: recording a use, ending one, ending all.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Store, StoreResult, if_condition_held, n, retry_conflicts, s};

impl Store {
    /// Slides the expiry of a live session and records that one of its logins was used
    /// (a pure read does this at most once per touch interval).
    pub async fn touch_session(
        &self,
        session_id: &str,
        token_id: &str,
        now: chrono::DateTime<chrono::Utc>,
        expires_at: i64,
    ) -> StoreResult<bool> {
        let request = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_id))
            .update_expression("SET expires_at = :exp, tokens.#tid.last_used_at = :now")
            .condition_expression(
                "attribute_exists(pk) AND expires_at > :epoch AND attribute_exists(tokens.#tid)",
            )
            .expression_attribute_names("#tid", token_id)
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":now", s(crate::model::rfc3339(now)))
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
}
