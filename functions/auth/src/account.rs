//! Account changes, which need a `password`-level login (403 for a phone-level one):
//! signing out everywhere, and changing the password (which also signs out everywhere).

use chrono::Utc;
use lambda_http::Request;
use omnisession::AppState;
use omnisession::error::ApiError;
use omnisession::guard;
use omnisession::http::{self, HttpResult};
use omnisession::model::rfc3339;
use omnisession::passwords::Password;
use omnisession::phone::PhoneNumber;
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
    state
        .store
        .revoke_all_tokens(authed.session.id(), None)
        .await?;
    http::ok(&json!({ "success": true }))
}

#[derive(Deserialize)]
struct PasswordChange {
    current_password: String,
    new_password: String,
}

const WRONG_PASSWORD: &str = "current_password is not the current password";

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

    let phone = PhoneNumber::from_stored(authed.session.phone.clone());
    let customer = guard::check_password(state, &phone, &http::source_ip(req), &current)
        .await?
        .ok_or(ApiError::Unauthorized(WRONG_PASSWORD))?;
    let hash = state
        .passwords
        .hash(&new)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let version = state
        .store
        .set_password_hash(
            &phone,
            &hash,
            customer.password_hash.as_deref(),
            &rfc3339(Utc::now()),
        )
        .await?
        // Another change got in first: the current password is no longer this one.
        .ok_or(ApiError::Unauthorized(WRONG_PASSWORD))?;
    state
        .store
        .revoke_all_tokens(authed.session.id(), Some(version))
        .await?;
    http::ok(&json!({ "success": true }))
}
