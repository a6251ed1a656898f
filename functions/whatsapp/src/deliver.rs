//! `POST /webhooks/whatsapp`: a signed delivery. Each message is a phone-only login for
//! its sender (the one shared with `POST /session/login`) and is appended to that
//! session's chat once, however often Meta delivers it. A click-to-verify text is the
//! exception: it binds its link to the sender and is never filed (it is half a secret,
//! and not something the customer said to the assistant).

use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::identity::WhatsappSender;
use omnisession::model::{Author, ChatMessage, Role, parse_name};
use omnisession::phone::{PhoneNumber, WhatsappUserId};
use omnisession::secrets::signed_by_any;
use omnisession::service::walink::{self, Bound};
use omnisession::service::whatsapp::{self, Filed};
use serde_json::json;

use crate::payload::{self, Inbound};

pub async fn deliver(state: &AppState, req: &Request) -> HttpResult {
    let body = http::raw_body(req);
    let secrets = state.secrets().await;
    if !signed_by_any(
        &secrets.whatsapp_app_secrets,
        body,
        http::header(req, http::HUB_SIGNATURE),
    ) {
        return Err(ApiError::Unauthorized(
            "X-Hub-Signature-256 is missing or does not match the body",
        ));
    }
    if body.len() > state.config.max_body_bytes {
        return Err(ApiError::PayloadTooLarge(state.config.max_body_bytes));
    }
    let parsed = payload::parse(body)?;

    let (mut stored, mut duplicates, mut skipped, mut link_texts) = (0, 0, 0, 0);
    let (mut revised, mut ignored) = (0, parsed.ignored);
    for message in parsed.messages {
        match file(state, message).await? {
            Outcome::Filed(Filed::Stored) => stored += 1,
            Outcome::Filed(Filed::Duplicate) => duplicates += 1,
            Outcome::Filed(Filed::Revised) => revised += 1,
            Outcome::Filed(Filed::Unmatched) => ignored += 1,
            Outcome::Skipped => skipped += 1,
            Outcome::LinkText => link_texts += 1,
        }
    }
    // Always 200 for a valid, signed delivery, so the provider does not retry it.
    http::ok(&json!({
        "stored": stored,
        "duplicates": duplicates,
        "skipped": skipped,
        "link_texts": link_texts,
        "revised": revised,
        "ignored": ignored,
    }))
}

/// What the delivery did with one of its messages.
enum Outcome {
    Filed(Filed),
    Skipped,
    /// A click-to-verify text, consumed (whether or not a live link waited for it).
    LinkText,
}

async fn file(state: &AppState, message: Inbound) -> Result<Outcome, ApiError> {
    // The sender: their phone when Meta shares it, their user id (BSUID) always since
    // 2026. Neither is logged; each identifies a person.
    let parse = |digits: &str| {
        PhoneNumber::parse(
            &format!("+{}", digits.trim_start_matches('+')),
            state.config.phone_region,
        )
        .ok()
    };
    // The answer to our request for the customer's contact details is their own number,
    // which Meta vouches for (a card merely forwarded names someone, and links nothing).
    let answered = message
        .answers_contact_request
        .then(|| {
            message
                .shared_contacts
                .iter()
                .find_map(|c| c.wa_id.as_deref())
        })
        .flatten();
    let phone = message.from.as_deref().or(answered).and_then(parse);
    let user = message
        .user_id
        .as_deref()
        .and_then(|u| WhatsappUserId::parse(u).ok());
    if phone.is_none() && user.is_none() {
        tracing::warn!(message_id = %message.id, "the message names no valid sender (phone or user id); not filed");
        return Ok(Outcome::Skipped);
    }
    let name = message.name.as_deref().and_then(|n| parse_name(n).ok());
    let sender = WhatsappSender {
        phone,
        user,
        parent: message
            .parent_user_id
            .as_deref()
            .and_then(|u| WhatsappUserId::parse(u).ok()),
        name: name.clone(),
        username: message.username.clone(),
    };
    // Click-to-verify proves a phone: from a sender whose phone Meta withheld it binds
    // nothing, and its text (ours, with its prefix) is still not chat.
    if let (Some(link), None) = (&message.link, &sender.phone)
        && link.prefixed
    {
        tracing::info!(message_id = %message.id, bound = false, "click-to-verify text without a phone");
        return Ok(Outcome::LinkText);
    }
    if let (Some(link), Some(phone)) = (&message.link, &sender.phone) {
        // Binding is idempotent for the same sender, so a redelivery needs no dedupe
        // claim. The text is not logged: with the link's secret it is a login.
        let bound = walink::bind_from_whatsapp(state, &link.text, phone, name.as_deref()).await?;
        tracing::info!(message_id = %message.id, bound = (bound == Bound::Bound), "click-to-verify text received");
        // A text that bound nothing is worthless to anyone now (no live link waits for
        // it). With its prefix it is still ours and only noise in the chat; without, it
        // is most likely something the customer said, and is filed like any other text.
        if bound == Bound::Bound || link.prefixed {
            return Ok(Outcome::LinkText);
        }
    }
    let chat = ChatMessage {
        role: Role::User,
        content: message.content,
        channel: Channel::Whatsapp,
        at: message.at,
        written_by: Author::Customer(Channel::Whatsapp),
    };
    let filed = whatsapp::file_message(state, &sender, &message.id, chat, message.action).await?;
    Ok(Outcome::Filed(filed))
}
