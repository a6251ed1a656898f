//! `POST /session/login {phone_number, name?, channel: "whatsapp"}`: phone-only login,
//! accepted only when signed by the WhatsApp provider or our bot with
//! `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the app secret).

use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::model::parse_name;
use omnisession::phone::PhoneNumber;
use omnisession::secrets::valid_hub_signature;
use omnisession::sessions;
use serde::Deserialize;

#[derive(Deserialize)]
struct PhoneLoginRequest {
    phone_number: String,
    #[serde(default)]
    name: Option<String>,
    channel: Channel,
}

pub async fn login(state: &AppState, req: &Request) -> HttpResult {
    let secret = &state.config.whatsapp_app_secret;
    let signature = http::header(req, http::HUB_SIGNATURE);
    // An unset secret must not turn into "any HMAC with an empty key is valid".
    if secret.expose().is_empty() || !valid_hub_signature(secret, http::raw_body(req), signature) {
        return Err(ApiError::Unauthorized(
            "X-Hub-Signature-256 is missing or does not match the body",
        ));
    }
    let body: PhoneLoginRequest = http::parse_json(req, state.config.max_body_bytes)?;
    if body.channel != Channel::Whatsapp {
        return Err(ApiError::field(
            "channel",
            "must be \"whatsapp\": phone-only login is for WhatsApp",
        ));
    }
    let phone = PhoneNumber::parse(&body.phone_number, state.config.phone_region)
        .map_err(|e| ApiError::field("phone_number", e))?;
    let name = body
        .name
        .as_deref()
        .map(parse_name)
        .transpose()
        .map_err(|e| ApiError::field("name", e))?;
    let entered =
        sessions::phone_login(state, &phone, name.as_deref(), None, Channel::Whatsapp).await?;
    http::ok(&entered)
}
