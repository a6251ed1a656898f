//! `POST /session/update {messages?, cart?, recommended_skus?, summary?}`: appends chat
//! messages, replaces the cart, records recommended SKUs, sets the summary; nothing a
//! concurrent writer wrote (messages, SKUs) is overwritten. An
//! `Idempotency-Key` makes a retried update a no-op (see `omnisession::idempotency`).
//!
//! Everything is stored as written by the customer on the token's channel, `assistant`
//! messages included, so the sales agent never takes a client's words for its own. The
//! summary and the SKUs are the agent's memory: a customer token may set them only where
//! `CUSTOMER_MEMORY_WRITES=all` keeps old front ends working (403 otherwise).

use chrono::Utc;
use lambda_http::Request;
use omnisession::AppState;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::idempotency;
use omnisession::model::{
    Author, CartItem, ChatMessage, NewMessage, Sku, limits, parse_summary, rfc3339,
};
use omnisession::service::write;
use omnisession::sessions;
use omnisession::store::SessionChanges;
use omnisession::views;
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct UpdateRequest {
    #[serde(default)]
    messages: Option<Vec<NewMessage>>,
    #[serde(default)]
    cart: Option<Vec<CartItem>>,
    #[serde(default)]
    recommended_skus: Option<Vec<Sku>>,
    #[serde(default)]
    summary: Option<String>,
}

fn at_most<T>(field: &str, list: &Option<Vec<T>>, max: usize) -> Result<(), ApiError> {
    match list {
        Some(items) if items.len() > max => Err(ApiError::field(
            field,
            format!("may hold at most {max} items"),
        )),
        _ => Ok(()),
    }
}

pub async fn update(state: &AppState, req: &Request) -> HttpResult {
    let (authed, mut chat) =
        sessions::authenticate_with_chat(state, http::session_token(req)).await?;
    let body: UpdateRequest = http::parse_json(req, state.config.max_body_bytes)?;
    at_most("messages", &body.messages, limits::MESSAGES_PER_UPDATE)?;
    at_most("cart", &body.cart, limits::CART_ITEMS)?;
    at_most(
        "recommended_skus",
        &body.recommended_skus,
        limits::RECOMMENDED_SKUS,
    )?;
    let summary = body
        .summary
        .map(parse_summary)
        .transpose()
        .map_err(|e| ApiError::field("summary", e))?;
    if (summary.is_some() || body.recommended_skus.is_some())
        && !state.config.customer_memory_writes
    {
        return Err(ApiError::Forbidden(
            "summary and recommended_skus are the sales agent's memory; \
             a customer token may send messages and the cart",
        ));
    }
    if body.messages.is_none()
        && body.cart.is_none()
        && body.recommended_skus.is_none()
        && summary.is_none()
    {
        return Err(ApiError::Invalid(
            "nothing to update: send at least one of messages, cart, recommended_skus, summary"
                .into(),
        ));
    }

    let writer = authed
        .writer()
        .ok_or(ApiError::Unauthorized(sessions::INVALID_TOKEN))?;
    let now = Utc::now();
    let at = rfc3339(now);
    let channel = authed.login.channel;
    let by = Author::Customer(channel);
    let mut skus: Vec<Sku> = Vec::new();
    for sku in body.recommended_skus.unwrap_or_default() {
        // A SKU named twice counts once, at its last position.
        skus.retain(|s| *s != sku);
        skus.push(sku);
    }
    let changes = SessionChanges {
        messages: body
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| ChatMessage {
                role: m.role,
                content: m.content,
                channel,
                at: at.clone(),
                written_by: by,
            })
            .collect(),
        cart: body.cart,
        skus,
        summary,
        by,
        joins: None,
        dedupe: idempotency::from_request(req, &format!("update#{}", authed.session.id()))?,
        ..Default::default()
    };
    let written = write::write(state, &authed.session, Some(writer), &changes).await?;
    // The answer shows the history as read before the write plus what this write added
    // (a replay's messages are in the history read already); nothing is read again.
    if !written.replayed {
        chat.extend(changes.messages);
    }
    let view = views::session(
        &written.session,
        &chat,
        &authed.login,
        state.config.kiosk_phone_history,
    );
    let response = http::ok(&json!({ "session": view }))?;
    Ok(idempotency::mark(response, written.replayed))
}
