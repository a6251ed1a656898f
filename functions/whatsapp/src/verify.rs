//! `GET /webhooks/whatsapp`: Meta's subscription handshake. With `hub.mode=subscribe`
//! and the configured `hub.verify_token`, the answer is `hub.challenge` as plain text;
//! anything else is 403.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use omnisession::AppState;
use omnisession::error::ApiError;
use omnisession::http::HttpResult;

const MAX_CHALLENGE: usize = 256;

pub async fn handshake(state: &AppState, req: &Request) -> HttpResult {
    let query = req.query_string_parameters_ref();
    let param = |name: &str| query.and_then(|q| q.first(name));
    // Two during a rotation (Meta's settings and ours change one after the other).
    let secrets = state.secrets().await;
    let token_ok =
        param("hub.verify_token").is_some_and(|t| secrets.whatsapp_verify_tokens.contains(t));
    if param("hub.mode") != Some("subscribe") || !token_ok {
        return Err(ApiError::Forbidden(
            "hub.mode must be subscribe and hub.verify_token must match the configured token",
        ));
    }
    let challenge = param("hub.challenge")
        .filter(|c| !c.is_empty() && c.len() <= MAX_CHALLENGE)
        .ok_or_else(|| {
            ApiError::field(
                "hub.challenge",
                format!("must be 1 to {MAX_CHALLENGE} characters"),
            )
        })?;
    let mut response = Response::new(Body::Text(challenge.to_string()));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}
