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
use omnisession::store::{Applied, Dedupe, SessionChanges};
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
    let dedupe_key = format!("whatsapp#{}", message.id);
    // A redelivery must not log the phone in again (or start a session after a logout).
    if state.store.already_applied(&dedupe_key).await? {
        return Ok(Filed::Duplicate);
    }
    let name = message.name.as_deref().and_then(|n| parse_name(n).ok());
    let chat = ChatMessage {
        role: Role::User,
        content: message.content,
        channel: Channel::Whatsapp,
        at: message.at,
        written_by: Author::Customer(Channel::Whatsapp),
    };
    // Twice at most: a session that ends between the login and the write is replaced.
    for _ in 0..2 {
        let session = sessions::phone_session(state, &phone, name.as_deref()).await?;
        let changes = SessionChanges {
            messages: vec![chat.clone()],
            by: Author::Customer(Channel::Whatsapp),
            // A message id is the whole identity of a delivery (no body to compare), so
            // every fingerprint is empty and any seen id, however written, is a duplicate.
            dedupe: Some(Dedupe {
                key: dedupe_key.clone(),
                fingerprint: String::new(),
                ttl: chrono::Duration::days(DEDUPE_DAYS),
            }),
            ..Default::default()
        };
        let now = Utc::now();
        let expires_at = sessions::next_expiry(state, now, session.max_expires_at);
        match state
            .store
            .apply_changes(&session, None, &changes, now, expires_at)
            .await?
        {
            Applied::Done(_) => return Ok(Filed::Stored),
            // Filed before, even if its session has ended since: logging the phone in
            // again would start a session for nothing.
            Applied::Replayed(_) | Applied::KeyReused => return Ok(Filed::Duplicate),
            Applied::Gone => continue,
        }
    }
    Err(ApiError::Unavailable)
}
