//! `POST /auth/logout`: ends this login; the customer's other channels stay signed in.

use lambda_http::Request;
use omnisession::AppState;
use omnisession::http::{self, HttpResult};
use omnisession::service;
use omnisession::sessions;
use serde_json::json;

pub async fn logout(state: &AppState, req: &Request) -> HttpResult {
    let authed = sessions::authenticate(state, http::session_token(req)).await?;
    service::account::log_out(state, &authed).await?;
    http::ok(&json!({ "success": true }))
}
