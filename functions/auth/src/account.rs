//! Account changes, which need a `password`-level login (403 for a phone-level one):
//! signing out everywhere, and changing the password (which also signs out everywhere).

use lambda_http::Request;
use omnisession::AppState;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::passwords::Password;
use omnisession::service;
use omnisession::sessions::{self, Authenticated};
use omnisession::token::Level;
use serde::Deserialize;
use serde_json::json;

async fn password_login(state: &AppState, req: &Request) -> Result<Authenticated, ApiError> {
    Ok(sessions::authenticate(state, http::session_token(req))
        .await?
        .require(
            Level::Password,
            "changing the account needs a password login",
        )?)
}

/// `POST /auth/logout-all`: every login of the customer stops working at once.
pub async fn logout_all(state: &AppState, req: &Request) -> HttpResult {
    let authed = password_login(state, req).await?;
    service::account::log_out_everywhere(state, &authed).await?;
    http::ok(&json!({ "success": true }))
}

#[derive(Deserialize)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /auth/password {current_password, new_password}`: sets a new password and signs
/// every login out, this one included; the customer logs in again with the new password.
/// A wrong `current_password` is a failed password attempt like a failed login (401, and
/// the same guessing limits), so a stolen token cannot be used to guess the password.
pub async fn change_password(state: &AppState, req: &Request) -> HttpResult {
    let authed = password_login(state, req).await?;
    let body: PasswordChange = http::parse_json(req, state.config.max_body_bytes)?;
    let current = Password::for_login(body.current_password)
        .map_err(|e| ApiError::field("current_password", e))?;
    let new =
        Password::parse_new(body.new_password).map_err(|e| ApiError::field("new_password", e))?;

    service::account::change_password(state, &authed, &http::source_ip(req), &current, &new)
        .await?;
    http::ok(&json!({ "success": true }))
}
