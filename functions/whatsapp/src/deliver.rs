//! `POST /webhooks/whatsapp`: a signed delivery. Each message is a phone-only login for
//! its sender (the one shared with `POST /session/login`) and is appended to that
//! session's chat once, however often Meta delivers it.

use chrono::Utc;
use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::model::{Author, ChatMessage, Role, parse_name};
use omnisession::phone::PhoneNumber;
use omnisession::secrets::valid_hub_signature;
use omnisession::sessions;
use omnisession::store::{Applied, Claim, Dedupe, SessionChanges};
use serde_json::json;

use crate::payload::{self, Inbound};

/// How long a delivered message's id is remembered (Meta retries for about a day).
const DEDUPE_DAYS: i64 = 7;

pub async fn deliver(state: &AppState, req: &Request) -> HttpResult {
    let body = http::raw_body(req);
    let secret = &state.config.whatsapp_app_secret;
    if secret.expose().is_empty()
        || !valid_hub_signature(secret, body, http::header(req, http::HUB_SIGNATURE))
    {
        return Err(ApiError::Unauthorized(
            "X-Hub-Signature-256 is missing or does not match the body",
        ));
    }
    if body.len() > state.config.max_body_bytes {
        return Err(ApiError::PayloadTooLarge(state.config.max_body_bytes));
    }
    let parsed = payload::parse(body)?;

    let (mut stored, mut duplicates, mut skipped) = (0, 0, 0);
    for message in parsed.messages {
        match file(state, message).await? {
            Filed::Stored => stored += 1,
            Filed::Duplicate => duplicates += 1,
            Filed::Skipped => skipped += 1,
        }
    }
    // Always 200 for a valid, signed delivery, so the provider does not retry it.
    http::ok(&json!({
        "stored": stored,
        "duplicates": duplicates,
        "skipped": skipped,
        "ignored": parsed.ignored,
    }))
}

enum Filed {
    Stored,
    Duplicate,
    Skipped,
}

async fn file(state: &AppState, message: Inbound) -> Result<Filed, ApiError> {
    // Business-scoped user ids carry no phone: nothing to log in with. The id itself is
    // not logged; it identifies a person.
    let Some(from) = message.from else {
        tracing::warn!(message_id = %message.id, "WhatsApp withheld the sender's phone; message not filed");
        return Ok(Filed::Skipped);
    };
    let phone = match PhoneNumber::parse(
        &format!("+{}", from.trim_start_matches('+')),
        state.config.phone_region,
    ) {
        Ok(phone) => phone,
        Err(_) => {
            tracing::warn!(message_id = %message.id, "sender is not a valid phone number; message not filed");
            return Ok(Filed::Skipped);
        }
    };
    let dedupe = Dedupe {
        key: format!("whatsapp#{}", message.id),
        // A message id is the whole identity of a delivery (no body to compare), so every
        // fingerprint is empty and any seen id, however written, is a duplicate.
        fingerprint: String::new(),
        ttl: chrono::Duration::days(DEDUPE_DAYS),
    };
    let name = message.name.as_deref().and_then(|n| parse_name(n).ok());
    let chat = ChatMessage {
        role: Role::User,
        content: message.content,
        channel: Channel::Whatsapp,
        at: message.at,
        written_by: Author::Customer(Channel::Whatsapp),
    };
    let now = Utc::now();
    // One round trip: claiming the message id (the dedupe check: a redelivery must not
    // log the phone in again, or start a session after a logout) beside the lookup of
    // the phone's session.
    let (claim, found) = tokio::join!(
        state.store.claim(&dedupe, now),
        sessions::find(state, &phone)
    );
    if let Claim::Seen { .. } = claim? {
        return Ok(Filed::Duplicate);
    }
    let filed = file_claimed(state, &phone, name.as_deref(), chat, found, now).await;
    if !matches!(filed, Ok(true)) {
        // Not filed: the provider's retry must find the id free.
        state.store.release(&dedupe, now).await;
    }
    match filed? {
        true => Ok(Filed::Stored),
        false => Err(ApiError::Unavailable),
    }
}

/// Files a claimed message; `false` when its sessions kept ending under it.
async fn file_claimed(
    state: &AppState,
    phone: &PhoneNumber,
    name: Option<&str>,
    chat: ChatMessage,
    found: Result<sessions::Found, ApiError>,
    now: chrono::DateTime<Utc>,
) -> Result<bool, ApiError> {
    let mut changes = SessionChanges {
        messages: vec![chat],
        by: Author::Customer(Channel::Whatsapp),
        joins: Some(Channel::Whatsapp),
        ..Default::default()
    };
    // Usually the phone's live session takes the message in one write, which also
    // records WhatsApp among its channels.
    if let Some((sid, max_expires_at)) = found?.live() {
        let expires_at = sessions::next_expiry(state, now, max_expires_at);
        let applied = state
            .store
            .write_changes(&sid, None, &changes, now, expires_at)
            .await?;
        if let Applied::Done(_) = applied {
            return Ok(true);
        }
    }
    // None is live (or it ended a moment ago): the phone-only login starts or joins one.
    // Twice at most: a session that ends between the login and the write is replaced.
    changes.joins = None;
    for _ in 0..2 {
        let session = sessions::phone_session(state, phone, name).await?;
        let expires_at = sessions::next_expiry(state, now, session.max_expires_at);
        let applied = state
            .store
            .write_changes(session.id(), None, &changes, now, expires_at)
            .await?;
        if let Applied::Done(_) = applied {
            return Ok(true);
        }
    }
    Ok(false)
}
