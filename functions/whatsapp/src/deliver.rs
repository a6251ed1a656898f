//! `POST /webhooks/whatsapp`: a signed delivery. Each message is a phone-only login for
//! its sender (the one shared with `POST /session/login`) and is appended to that
//! session's chat once, however often Meta delivers it.

use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::model::{Author, ChatMessage, Role, parse_name};
use omnisession::phone::PhoneNumber;
use omnisession::secrets::valid_hub_signature;
use omnisession::service::whatsapp::{self, Filed};
use serde_json::json;

use crate::payload::{self, Inbound};

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
            Outcome::Filed(Filed::Stored) => stored += 1,
            Outcome::Filed(Filed::Duplicate) => duplicates += 1,
            Outcome::Skipped => skipped += 1,
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

/// What the delivery did with one of its messages.
enum Outcome {
    Filed(Filed),
    Skipped,
}

async fn file(state: &AppState, message: Inbound) -> Result<Outcome, ApiError> {
    // Business-scoped user ids carry no phone: nothing to log in with. The id itself is
    // not logged; it identifies a person.
    let Some(from) = message.from else {
        tracing::warn!(message_id = %message.id, "WhatsApp withheld the sender's phone; message not filed");
        return Ok(Outcome::Skipped);
    };
    let phone = match PhoneNumber::parse(
        &format!("+{}", from.trim_start_matches('+')),
        state.config.phone_region,
    ) {
        Ok(phone) => phone,
        Err(_) => {
            tracing::warn!(message_id = %message.id, "sender is not a valid phone number; message not filed");
            return Ok(Outcome::Skipped);
        }
    };
    let name = message.name.as_deref().and_then(|n| parse_name(n).ok());
    let chat = ChatMessage {
        role: Role::User,
        content: message.content,
        channel: Channel::Whatsapp,
        at: message.at,
        written_by: Author::Customer(Channel::Whatsapp),
    };
    let filed = whatsapp::file_message(state, &phone, name.as_deref(), &message.id, chat).await?;
    Ok(Outcome::Filed(filed))
}
