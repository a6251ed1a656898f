//! The agent's reads, in the shapes the old service returned.

use lambda_http::{Request, RequestExt};
use omnisession::AppState;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::store::SessionItem;
use omnisession::views;
use serde_json::json;

use crate::access::reader;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

/// `GET /session/{sid}/context?limit=N`: the last N messages (default 20, at most 100)
/// with the rest of the session's memory and the stores the customer visited.
pub async fn context(state: &AppState, req: &Request, sid: &str) -> HttpResult {
    let limit = match req
        .query_string_parameters_ref()
        .and_then(|q| q.first("limit"))
    {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::field(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let session = reader(state, req, sid).await?;
    let messages = state.store.last_messages(session.id(), limit).await?;
    http::ok(&json!({
        "session_id": session.id(),
        "customer_id": session.customer_id,
        "chat_context": messages,
        "conversation_summary": session.summary,
        "last_recommended_skus": views::recommended_skus(&session),
        "cart": session.cart,
        "stores_visited": views::stores_visited(&session),
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "written_by": written_by(&session),
    }))
}

/// Who wrote the summary and each recommended SKU: the agent, or a customer's client
/// where `CUSTOMER_MEMORY_WRITES=all` lets it (messages carry their own `written_by`).
fn written_by(session: &SessionItem) -> serde_json::Value {
    json!({
        "conversation_summary": session.summary_by.unwrap_or_default(),
        "last_recommended_skus": views::sku_authors(session),
    })
}

/// `GET /session/{sid}/summary`; `total_messages` counts the whole history.
pub async fn summary(state: &AppState, req: &Request, sid: &str) -> HttpResult {
    let session = reader(state, req, sid).await?;
    http::ok(&json!({
        "session_id": session.id(),
        "summary": session.summary,
        "total_messages": session.message_count,
        "last_updated": session.updated_at,
        "written_by": session.summary_by.unwrap_or_default(),
    }))
}

/// `GET /session/{sid}/recommendations`: oldest first, newest last.
pub async fn recommendations(state: &AppState, req: &Request, sid: &str) -> HttpResult {
    let session = reader(state, req, sid).await?;
    let skus = views::recommended_skus(&session);
    http::ok(&json!({
        "last_recommended_skus": skus,
        "total_recommendations": skus.len(),
        "written_by": views::sku_authors(&session),
    }))
}

/// `GET /session/{sid}/cart`.
pub async fn cart(state: &AppState, req: &Request, sid: &str) -> HttpResult {
    let session = reader(state, req, sid).await?;
    http::ok(&json!({ "cart": session.cart, "cart_size": session.cart.len() }))
}
