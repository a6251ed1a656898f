//! The customer's own data, with a `password`-level login (403 for a phone-level one):
//! a copy of everything stored about them, and erasing it all.

use lambda_http::{Request, RequestExt};
use omnisession::AppState;
use omnisession::codes::Code;
use omnisession::error::ApiError;
use omnisession::events::{self, AccountEvent, EventKind};
use omnisession::http::{self, HttpResult};
use omnisession::passwords::Password;
use omnisession::phone::PhoneNumber;
use omnisession::service::erasure::{self, Consent};
use omnisession::service::export;
use omnisession::sessions::{self, Authenticated};
use omnisession::token::Level;
use serde::Deserialize;
use serde_json::json;

async fn password_login(state: &AppState, req: &Request) -> Result<Authenticated, ApiError> {
    Ok(sessions::authenticate(state, http::session_token(req))
        .await?
        .require(Level::Password, "the account's data needs a password login")?)
}

/// `GET /auth/me/export?cursor=…`: the record, the live session, its logins and a page
/// of the history; `next_cursor` fetches the next page.
pub async fn export(state: &AppState, req: &Request) -> HttpResult {
    let authed = password_login(state, req).await?;
    let query = req.query_string_parameters_ref();
    let cursor = query.and_then(|q| q.first("cursor"));
    let phone = PhoneNumber::from_stored(authed.session.phone.clone());
    let data = export::export(&state.store, &phone, cursor).await?;
    let event = AccountEvent::new(EventKind::Export).on(authed.login.channel);
    events::record(state, &authed.session.customer_id, event).await;
    http::ok(&data)
}

#[derive(Deserialize)]
struct Deletion {
    current_password: Option<String>,
    code: Option<String>,
}

/// `POST /auth/me/delete {current_password}` or `{code}` (a fresh `reset` code): erases
/// the customer and everything that names them; the phone can sign up afresh.
pub async fn delete(state: &AppState, req: &Request) -> HttpResult {
    let authed = password_login(state, req).await?;
    let body: Deletion = http::parse_json(req, state.config.max_body_bytes)?;
    let (password, code);
    let consent = match (body.current_password, body.code) {
        (Some(raw), None) => {
            password =
                Password::for_login(raw).map_err(|e| ApiError::field("current_password", e))?;
            Consent::CurrentPassword(&password)
        }
        (None, Some(raw)) => {
            code = Code::parse(&raw).ok_or_else(|| ApiError::field("code", "must be 6 digits"))?;
            Consent::ResetCode(&code)
        }
        _ => {
            return Err(ApiError::Invalid(
                "send exactly one of current_password and code (a reset code)".into(),
            ));
        }
    };
    let erased = erasure::erase_me(state, &authed, &http::source_ip(req), consent).await?;
    tracing::info!(
        sessions = erased.sessions,
        messages = erased.messages,
        items = erased.items,
        "a customer's data was erased"
    );
    http::ok(&json!({ "success": true }))
}
