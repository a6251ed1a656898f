//! A customer's copy of everything stored about them (`GET /auth/me/export`, and the
//! operator's `omnisession-admin export`): the record, the live session, its logins and
//! the whole chat history, a page at a time. Never a password hash, token hash or code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::logins::LoginMark;
use crate::model::rfc3339;
use crate::phone::PhoneNumber;
use crate::store::{SessionItem, Store, StoreError, StoredLogin};
use crate::token::Level;
use crate::views;

/// Messages per page: a long history takes several requests, each well inside the
/// function's time and response size.
pub const PAGE_SIZE: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The phone has no customer (an operator's typo; a token's customer always has one).
    #[error("no customer has this phone number")]
    NoCustomer,
    /// Not a cursor this service gave out, or one of another session.
    #[error("cursor is not one this export gave out")]
    BadCursor,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The export of `phone`'s customer, with the page of their history after `cursor`.
pub async fn export(
    store: &Store,
    phone: &PhoneNumber,
    cursor: Option<&str>,
) -> Result<Value, ExportError> {
    let (customer, session_id) = tokio::try_join!(
        store.customer_by_phone(phone),
        store.locked_session(phone.as_str())
    )?;
    let customer = customer.ok_or(ExportError::NoCustomer)?;
    let session = match &session_id {
        Some(sid) => store.session_in_batch(sid).await?,
        None => None,
    };
    let after = cursor
        .map(|c| parse_cursor(c, session_id.as_deref()))
        .transpose()?;
    let events = store.account_events(&customer.customer_id).await?;
    let (messages, next, logins) = match &session {
        Some(session) => {
            let (page, logins) = tokio::try_join!(
                store.messages_page(session.id(), after.as_deref(), PAGE_SIZE),
                logins(store, session)
            )?;
            let next = page.1.map(|sk| make_cursor(session.id(), &sk));
            (page.0, next, logins)
        }
        None => (Vec::new(), None, Vec::new()),
    };
    Ok(json!({
        // The API's view at password level (never the hash), and what the view leaves out.
        "customer": {
            "record": views::customer(&customer, Level::Password),
            "updated_at": customer.updated_at,
            "proven": !customer.unproven,
            "whatsapp_user_id": customer.whatsapp_user_id,
            "whatsapp_username": customer.whatsapp_username,
        },
        "session": session.as_ref().map(views::stored_session),
        // The stores whose kiosks the customer logged in at during that session.
        "stores_visited": session.as_ref().map(views::stores_visited).unwrap_or_default(),
        "logins": logins,
        "messages": messages,
        "next_cursor": next,
        // What happened to the account (logins, logouts, …), the last 90 days.
        "events": events,
    }))
}

/// Each login's channel, level and times; never its token or hash.
async fn logins(store: &Store, session: &SessionItem) -> Result<Vec<Value>, StoreError> {
    let mut logins: Vec<Value> = store
        .logins_of(session)
        .await?
        .into_iter()
        .map(|(login_id, entry)| {
            let last_used = match session.tokens.get(&login_id) {
                Some(StoredLogin::Mark(LoginMark { last_used, .. })) => {
                    DateTime::<Utc>::from_timestamp_millis(*last_used).map(rfc3339)
                }
                _ => entry.last_used_at.clone(),
            };
            let mut login = json!({
                "login_id": login_id,
                "channel": entry.channel,
                "level": entry.level,
                "issued_at": entry.issued_at,
                "last_used_at": last_used,
            });
            // The kiosk and store a kiosk login was made at.
            for (name, value) in [("kiosk", entry.kiosk), ("store", entry.store)] {
                if let Some(value) = value {
                    login[name] = json!(value);
                }
            }
            login
        })
        .collect();
    logins.sort_by(|a, b| a["issued_at"].as_str().cmp(&b["issued_at"].as_str()));
    Ok(logins)
}

/// Opaque to clients: the session and the sort key of the last message given.
fn make_cursor(session_id: &str, sort_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{session_id} {sort_key}"))
}

fn parse_cursor(cursor: &str, session_id: Option<&str>) -> Result<String, ExportError> {
    let raw = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(ExportError::BadCursor)?;
    match raw.split_once(' ') {
        Some((sid, sort_key)) if Some(sid) == session_id && !sort_key.is_empty() => {
            Ok(sort_key.to_string())
        }
        _ => Err(ExportError::BadCursor),
    }
}
