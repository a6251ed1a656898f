//! The agent's writes. Each commutes with concurrent writers
//! (the customer on the web, the kiosk): nothing anyone else wrote is lost. The appending
//! writes honour `Idempotency-Key` (see `omnisession::idempotency`).

use chrono::Utc;
use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::idempotency;
use omnisession::model::{
    Author, ChatMessage, MessageText, Role, Sku, limits, parse_summary, rfc3339,
};
use omnisession::service::write::{self, Written};
use omnisession::store::{SessionChanges, SessionItem};
use omnisession::views;
use serde::Deserialize;
use serde_json::json;

use crate::access::agent;

/// Applies the agent's `changes`.
async fn apply(
    state: &AppState,
    session: &SessionItem,
    changes: SessionChanges,
) -> Result<Written, ApiError> {
    Ok(write::write(state, session, None, &changes).await?)
}

#[derive(Deserialize)]
struct SummaryRequest {
    summary: String,
}

/// `POST /session/{sid}/summary {summary}`.
pub async fn summary(state: &AppState, req: &Request, sid: &str) -> HttpResult {
    let session = agent(state, req, sid).await?;
    let body: SummaryRequest = http::parse_json(req, state.config.max_body_bytes)?;
    let summary = parse_summary(body.summary).map_err(|e| ApiError::field("summary", e))?;
    let session = apply(
        state,
        &session,
        SessionChanges {
            summary: Some(summary),
            by: Author::Agent,
            ..Default::default()
        },
    )
    .await?
    .session;
    http::ok(&json!({ "success": true, "session_id": session.id(), "summary": session.summary }))
}

#[derive(Deserialize)]
struct RecommendationsRequest {
    skus: Vec<Sku>,
}

/// `POST /session/{sid}/recommendations {skus}`: records SKUs the agent showed, in order;
/// one shown again moves to the end.
pub async fn recommendations(state: &AppState, req: &Request, sid: &str) -> HttpResult {
    let session = agent(state, req, sid).await?;
    let body: RecommendationsRequest = http::parse_json(req, state.config.max_body_bytes)?;
    if body.skus.is_empty() || body.skus.len() > limits::RECOMMENDED_SKUS {
        return Err(ApiError::field(
            "skus",
            format!("must hold 1 to {} SKUs", limits::RECOMMENDED_SKUS),
        ));
    }
    let mut skus: Vec<Sku> = Vec::new();
    for sku in body.skus {
        skus.retain(|s| *s != sku);
        skus.push(sku);
    }
    let changes = SessionChanges {
        skus,
        by: Author::Agent,
        dedupe: idempotency::from_request(req, &format!("recommendations#{sid}"))?,
        ..Default::default()
    };
    let written = apply(state, &session, changes).await?;
    let skus = views::recommended_skus(&written.session);
    let response = http::ok(&json!({
        "success": true,
        "session_id": written.session.id(),
        "last_recommended_skus": skus,
        "total_recommendations": skus.len(),
    }))?;
    Ok(idempotency::mark(response, written.replayed))
}

#[derive(Deserialize)]
struct MessageRequest {
    role: Role,
    content: MessageText,
    /// The channel the agent is talking on; by default where the customer spoke last.
    #[serde(default)]
    channel: Option<Channel>,
}

/// The channel of an agent's message when it names none: where the customer spoke last.
fn current_channel(session: &SessionItem) -> Channel {
    session
        .last_channel
        .or_else(|| views::channels(session).last().copied())
        .unwrap_or(Channel::Web)
}

/// `POST /session/{sid}/messages {role, content, channel?}`: appends one message.
pub async fn message(state: &AppState, req: &Request, sid: &str) -> HttpResult {
    let session = agent(state, req, sid).await?;
    let body: MessageRequest = http::parse_json(req, state.config.max_body_bytes)?;
    let channel = body.channel.unwrap_or_else(|| current_channel(&session));
    let message = ChatMessage {
        role: body.role,
        content: body.content,
        channel,
        at: rfc3339(Utc::now()),
        written_by: Author::Agent,
    };
    let changes = SessionChanges {
        messages: vec![message.clone()],
        by: Author::Agent,
        dedupe: idempotency::from_request(req, &format!("messages#{sid}"))?,
        ..Default::default()
    };
    let written = apply(state, &session, changes).await?;
    // A replay answers with the message as the first request stored it (its time).
    let message = match written.first_at.clone() {
        Some(at) => ChatMessage { at, ..message },
        None => message,
    };
    let response = http::ok(&json!({
        "success": true,
        "session_id": written.session.id(),
        "message": message,
        "total_messages": written.session.message_count,
    }))?;
    Ok(idempotency::mark(response, written.replayed))
}
