//! `GET /auth/sessions`: the logins of my session (any token); `DELETE
//! /auth/sessions/{login_id}`: ends one of them (a `password`-level token: 403 below, so a
//! kiosk that only typed the phone cannot sign the customer out of their other devices).

use lambda_http::Request;
use omnisession::AppState;
use omnisession::http::{self, HttpResult};
use omnisession::routes::Params;
use omnisession::service;
use omnisession::sessions;
use omnisession::token::Level;
use serde_json::json;

pub async fn list(state: &AppState, req: &Request) -> HttpResult {
    let authed = sessions::authenticate(state, http::session_token(req)).await?;
    let logins = service::devices::list(state, &authed).await?;
    http::ok(&json!({ "logins": logins }))
}

pub async fn end(state: &AppState, req: &Request, params: &Params<'_>) -> HttpResult {
    let authed = sessions::authenticate(state, http::session_token(req))
        .await?
        .require(
            Level::Password,
            "ending another login needs a password login",
        )?;
    service::devices::end(state, &authed, params.get("login_id")).await?;
    http::ok(&json!({ "success": true }))
}
