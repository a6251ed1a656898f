//! Who may use a session's memory. The sales agent (`X-Service-Key`) reads and writes any
//! live session; a customer may read their own session's views with its token (they
//! write through `/session/update`). Anything else about another session is a 404, so a
//! customer cannot learn whether a session id exists.

use chrono::Utc;
use lambda_http::Request;
use omnisession::AppState;
use omnisession::error::ApiError;
use omnisession::http;
use omnisession::sessions;
use omnisession::store::SessionItem;
use omnisession::token::SessionId;
use omnisession::views;

/// The live session `sid` for the agent, when the request carries a registered
/// service key; `None` when it carries none.
async fn as_agent(
    state: &AppState,
    req: &Request,
    sid: &str,
) -> Result<Option<SessionItem>, ApiError> {
    let Some(key) = http::header(req, http::SERVICE_KEY) else {
        return Ok(None);
    };
    if !state.secrets().await.service_keys.contains(key) {
        return Err(ApiError::Unauthorized(
            "X-Service-Key is not a registered service key",
        ));
    }
    let sid = SessionId::parse(sid).ok_or_else(ApiError::session_not_found)?;
    state
        .store
        .session(sid.as_str())
        .await?
        .filter(|s| s.expires_at > Utc::now().timestamp())
        .map(Some)
        .ok_or_else(ApiError::session_not_found)
}

/// For the read views: the agent, or a login of this very session.
pub async fn reader(state: &AppState, req: &Request, sid: &str) -> Result<SessionItem, ApiError> {
    if let Some(session) = as_agent(state, req, sid).await? {
        return Ok(session);
    }
    if http::session_token(req).is_none() {
        return Err(ApiError::Unauthorized(
            "an X-Service-Key or the session's own token is required",
        ));
    }
    let authed = sessions::authenticate(state, http::session_token(req)).await?;
    if authed.session.id() != sid {
        return Err(ApiError::session_not_found());
    }
    // These views are the whole memory: a login that may not see what came before it
    // reads it through its own session view (restore) instead.
    if !views::sees_history(&authed.login, state.config.kiosk_phone_history) {
        return Err(ApiError::Forbidden(
            "a kiosk login by phone number reads the session's memory once the phone is proven \
             (a code, click-to-verify or the QR handoff)",
        ));
    }
    Ok(authed.session)
}

/// For the writes: the agent only, so that what the agent remembers (its summary, what it
/// recommended, what it said) cannot be forged by a customer.
pub async fn agent(state: &AppState, req: &Request, sid: &str) -> Result<SessionItem, ApiError> {
    if let Some(session) = as_agent(state, req, sid).await? {
        return Ok(session);
    }
    if http::session_token(req).is_some() {
        return Err(ApiError::Forbidden(
            "only the sales agent (X-Service-Key) writes its memory; customers use /session/update",
        ));
    }
    Err(ApiError::Unauthorized("X-Service-Key is required"))
}
