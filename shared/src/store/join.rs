//! Finding, starting, joining and ending a phone's session: the session item, the
//! per-phone lock, and the `phone-index` GSI.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
};

use super::schema::PHONE_INDEX;
use super::transaction::{Outcome, Transaction};
use super::{
    SessionItem, Store, StoreResult, classify, decode, lock_key, n, number, retry_conflicts, s,
    unexpected,
};
use crate::channel::Channel;
use crate::logins::LoginMark;

/// What must still hold for a login to join a session, checked in the same write.
#[derive(Clone, Copy, Debug, Default)]
pub struct JoinTerms<'a> {
    /// (minting login, its root): a minted login is written only while both stand, so a
    /// revocation racing with the mint wins.
    pub minted_by: Option<(&'a str, &'a str)>,
    /// The password version a password login was checked against: no password change
    /// may have happened since.
    pub password_version: Option<i64>,
    /// The login proves the phone (WhatsApp, a code, click-to-verify): it never joins the
    /// session of an unproven account, which it ends instead ([`Joined::Unproven`]).
    pub proven: bool,
}

/// What a join adds to the session.
#[derive(Clone, Copy, Debug)]
pub struct Entering<'a> {
    /// The channel joining (recorded once, with when it first joined).
    pub channel: Channel,
    /// The login's token id and mark; none for the webhook, which issues no token.
    pub token: Option<(&'a str, &'a LoginMark)>,
    /// The store of the kiosk the login is made at, added to the session's `stores`.
    pub store: Option<&'a str>,
}

/// The outcome of [`Store::join_session`].
#[derive(Debug)]
pub enum Joined {
    Joined(Box<SessionItem>),
    /// The session has ended or expired.
    Gone,
    /// The session is live but the terms failed: the minting login was signed out, or the
    /// password changed.
    Refused,
    /// A proven login met the live session of an unproven account: the session as it is.
    Unproven(Box<SessionItem>),
}

/// The outcome of trying to start a new session for a phone.
pub enum CreateSession {
    Created,
    /// Another session holds the phone's lock: join that one instead.
    Held {
        session_id: String,
        max_expires_at: i64,
    },
    /// A concurrent transaction touched the same items; try again.
    Contended,
}

impl Store {
    /// A live session of the phone, found through the `phone-index` GSI. The index is
    /// eventually consistent: a miss here is settled by the lock in [`Store::create_session`].
    pub async fn live_session_by_phone(
        &self,
        phone: &str,
        now: i64,
    ) -> StoreResult<Option<(String, i64)>> {
        let out = self
            .db
            .query()
            .table_name(&self.tables.sessions)
            .index_name(PHONE_INDEX)
            .key_condition_expression("phone = :p")
            .expression_attribute_values(":p", s(phone))
            .scan_index_forward(false)
            .limit(3)
            .send()
            .await
            .map_err(classify)?;
        Ok(out.items().iter().find_map(|item| {
            let sid = item.get("pk")?.as_s().ok()?.clone();
            let expires = number(item, "expires_at")?;
            let max = number(item, "max_expires_at")?;
            (expires > now).then_some((sid, max))
        }))
    }

    /// The session that holds the phone's lock (live or not), read consistently.
    pub async fn locked_session(&self, phone: &str) -> StoreResult<Option<String>> {
        let table = &self.tables.sessions;
        let mut found = self.get_batch(&[(table, lock_key(phone))]).await?;
        Ok(found
            .take(table, &lock_key(phone))
            .and_then(|lock| lock.get("session_id")?.as_s().ok().cloned()))
    }

    /// A session read consistently in a batch of one (the functions that merge sessions
    /// are granted BatchGetItem, not GetItem).
    pub async fn session_in_batch(&self, session_id: &str) -> StoreResult<Option<SessionItem>> {
        let table = &self.tables.sessions;
        let mut found = self.get_batch(&[(table, s(session_id))]).await?;
        decode(found.take(table, &s(session_id)))
    }

    pub async fn session(&self, session_id: &str) -> StoreResult<Option<SessionItem>> {
        let out = self
            .db
            .get_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        decode(out.item)
    }

    /// Adds a login to a live session: its channel, its token (the webhook's logins have
    /// none), its kiosk's store, a slid expiry, in one write that holds only while `terms`
    /// do.
    pub async fn join_session(
        &self,
        session_id: &str,
        entering: Entering<'_>,
        terms: &JoinTerms<'_>,
        now: chrono::DateTime<chrono::Utc>,
        expires_at: i64,
    ) -> StoreResult<Joined> {
        let Entering {
            channel,
            token,
            store,
        } = entering;
        let mut sets = "SET channels.#ch = if_not_exists(channels.#ch, :now), \
                        updated_at = :now, expires_at = :exp"
            .to_string();
        let mut request = self
            .db
            .update_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session_id))
            .expression_attribute_names("#ch", channel.as_str())
            .expression_attribute_values(":now", s(crate::model::rfc3339(now)))
            .expression_attribute_values(":exp", n(expires_at))
            .expression_attribute_values(":epoch", n(now.timestamp()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some((token_id, mark)) = token {
            sets.push_str(", tokens.#tid = :tok");
            request = request
                .expression_attribute_names("#tid", token_id)
                .expression_attribute_values(
                    ":tok",
                    serde_dynamo::to_attribute_value(mark).map_err(unexpected)?,
                );
        }
        let mut condition =
            "attribute_exists(pk) AND expires_at > :epoch AND attribute_not_exists(merged_into)"
                .to_string();
        if let Some((minter, root)) = terms.minted_by {
            condition.push_str(
                " AND attribute_exists(tokens.#minter) AND attribute_exists(tokens.#root)",
            );
            request = request
                .expression_attribute_names("#minter", minter)
                .expression_attribute_names("#root", root);
        }
        if terms.proven {
            condition.push_str(" AND attribute_not_exists(unproven)");
        }
        if let Some(version) = terms.password_version {
            condition.push_str(
                " AND (attribute_not_exists(password_version) OR password_version <= :pv)",
            );
            request = request.expression_attribute_values(":pv", n(version));
        }
        if let Some(store) = store {
            // A string set: a store visited again is in it once.
            sets.push_str(" ADD stores :store");
            request = request
                .expression_attribute_values(":store", AttributeValue::Ss(vec![store.into()]));
        }
        let request = request
            .update_expression(sets)
            .condition_expression(condition);
        let result = retry_conflicts(|| request.clone().send()).await;
        let failed = match result {
            Ok(out) => {
                return Ok(decode(out.attributes)?
                    .map_or(Joined::Gone, |item| Joined::Joined(Box::new(item))));
            }
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(e)) => e.item.clone(),
                _ => return Err(classify(err)),
            },
        };
        // The session is still live: what failed is one of the terms.
        let live = failed
            .as_ref()
            .and_then(|item| number(item, "expires_at"))
            .is_some_and(|at| at > now.timestamp());
        if !live {
            return Ok(Joined::Gone);
        }
        let unproven = failed
            .as_ref()
            .is_some_and(|item| item.contains_key("unproven"));
        if terms.proven && unproven {
            let session: Option<SessionItem> = decode(failed)?;
            return Ok(session.map_or(Joined::Gone, |s| Joined::Unproven(Box::new(s))));
        }
        Ok(Joined::Refused)
    }

    /// Starts a session and takes the phone's lock in one transaction. The lock, not the
    /// GSI, is what keeps one live session per phone. `replacing` names a dead session
    /// whose lock may be taken over; the same transaction deletes that session, so a login
    /// that read it as live a moment ago cannot revive it beside the new one.
    pub async fn create_session(
        &self,
        item: &SessionItem,
        replacing: Option<&str>,
        now_epoch: i64,
    ) -> StoreResult<CreateSession> {
        let lock = Put::builder()
            .table_name(&self.tables.sessions)
            .item("pk", lock_key(&item.phone))
            .item("session_id", s(&item.pk))
            .item("expires_at", n(item.max_expires_at))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let lock = match replacing {
            Some(stale) => lock
                .condition_expression("attribute_not_exists(pk) OR session_id = :stale")
                .expression_attribute_values(":stale", s(stale)),
            None => lock.condition_expression("attribute_not_exists(pk)"),
        };
        let session = Put::builder()
            .table_name(&self.tables.sessions)
            .set_item(Some(serde_dynamo::to_item(item).map_err(unexpected)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unexpected)?;
        let mut transaction = Transaction::default()
            .put(LOCK, lock.build().map_err(unexpected)?)
            .put(SESSION, session);
        if let Some(stale) = replacing {
            let delete_stale = Delete::builder()
                .table_name(&self.tables.sessions)
                .key("pk", s(stale))
                .condition_expression("attribute_not_exists(pk) OR expires_at <= :epoch")
                .expression_attribute_values(":epoch", n(now_epoch))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(unexpected)?;
            transaction = transaction.delete(STALE_SESSION, delete_stale);
        }
        let cancelled = match transaction.send(&self.db).await {
            Ok(()) => return Ok(CreateSession::Created),
            Err(Outcome::Failed(err)) => return Err(err),
            Err(Outcome::Cancelled(cancelled)) => cancelled,
        };
        // The lock belongs to a session other than the one we may replace.
        if let Some(Some(lock)) = cancelled.failed(LOCK) {
            let sid = lock.get("session_id").and_then(|v| v.as_s().ok());
            if let (Some(sid), Some(max)) = (sid, number(lock, "expires_at")) {
                return Ok(CreateSession::Held {
                    session_id: sid.clone(),
                    max_expires_at: max,
                });
            }
        }
        // The session we took for dead was extended meanwhile: it is still the one.
        if let (Some(Some(stale_item)), Some(stale)) = (cancelled.failed(STALE_SESSION), replacing)
            && let Some(max) = number(stale_item, "max_expires_at")
        {
            return Ok(CreateSession::Held {
                session_id: stale.to_string(),
                max_expires_at: max,
            });
        }
        if cancelled.contended() {
            return Ok(CreateSession::Contended);
        }
        Err(cancelled.into_error())
    }

    /// A transaction's deletion of `key`'s lock, which holds only while `session_id` has it.
    pub(super) fn lock_release(&self, key: &str, session_id: &str) -> StoreResult<Delete> {
        Delete::builder()
            .table_name(&self.tables.sessions)
            .key("pk", lock_key(key))
            .condition_expression("session_id = :sid")
            .expression_attribute_values(":sid", s(session_id))
            .build()
            .map_err(unexpected)
    }

    /// Ends the session on every channel: deletes it and releases the phone's lock.
    /// Its messages expire with the session's absolute cap (the messages table's TTL).
    pub async fn end_session(&self, session: &SessionItem) -> StoreResult<()> {
        let delete_session = Delete::builder()
            .table_name(&self.tables.sessions)
            .key("pk", s(session.id()))
            .build()
            .map_err(unexpected)?;
        let release_lock = self.lock_release(&session.phone, session.id())?;
        let cancelled = match Transaction::default()
            .delete(SESSION, delete_session)
            .delete(LOCK, release_lock)
            .send(&self.db)
            .await
        {
            Ok(()) => return Ok(()),
            Err(Outcome::Failed(err)) => return Err(err),
            Err(Outcome::Cancelled(cancelled)) => cancelled,
        };
        // The lock already points elsewhere: delete the session alone. Any other
        // cancellation (throttling, a conflict) must not leave the lock behind: 503.
        if cancelled.failed(LOCK).is_none() {
            return Err(cancelled.into_error());
        }
        self.db
            .delete_item()
            .table_name(&self.tables.sessions)
            .key("pk", s(session.id()))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}

// The named items of the transactions above.
const LOCK: &str = "lock";
const SESSION: &str = "session";
const STALE_SESSION: &str = "stale session";
