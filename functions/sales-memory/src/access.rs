//! Who may use a session's memory: the sales agent (`X-Service-Key`, any live session) or
//! a login of that very session (its token). Anything else about another session is a
//! 404, so a customer cannot learn whether a session id exists.

use chrono::Utc;
use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http;
use omnisession::sessions;
use omnisession::store::SessionItem;
use omnisession::token::SessionId;

pub struct Access {
    pub session: SessionItem,
    /// The customer's login, when a token (not the service key) was used.
    pub login: Option<(String, Channel)>,
}

pub fn not_found() -> ApiError {
    ApiError::NotFound("session not found or expired".into())
}

pub async fn access(state: &AppState, req: &Request, sid: &str) -> Result<Access, ApiError> {
    if let Some(key) = http::header(req, http::SERVICE_KEY) {
        if !state.config.service_keys.contains(key) {
            return Err(ApiError::Unauthorized(
                "X-Service-Key is not a registered service key",
            ));
        }
        let sid = SessionId::parse(sid).ok_or_else(not_found)?;
        let session = state
            .store
            .session(sid.as_str())
            .await?
            .filter(|s| s.expires_at > Utc::now().timestamp())
            .ok_or_else(not_found)?;
        return Ok(Access {
            session,
            login: None,
        });
    }
    if http::session_token(req).is_none() {
        return Err(ApiError::Unauthorized(
            "an X-Service-Key or the session's own token is required",
        ));
    }
    let authed = sessions::authenticate(state, http::session_token(req)).await?;
    if authed.session.id() != sid {
        return Err(not_found());
    }
    Ok(Access {
        session: authed.session,
        login: Some((authed.token_id, authed.login.channel)),
    })
}
