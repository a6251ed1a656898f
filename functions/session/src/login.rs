//! `POST /session/login {phone_number?, user_id?, name?, channel: "whatsapp"}`: phone-only
//! login (by the WhatsApp user id, a BSUID, when the bot knows only that; both link them),
//! accepted only when signed by our WhatsApp bot: `X-Omnisession-Timestamp: <epoch
//! seconds>` and `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw
//! body>">`, keyed with the app secret, within 5 minutes of now. A captured request thus
//! stops working after 5 minutes. The untimed form (HMAC of the body alone) is accepted
//! only with `ACCEPT_UNTIMED_LOGIN_SIGNATURES=1`, for bots not yet updated.

use chrono::Utc;
use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::identity::{self, WhatsappSender};
use omnisession::logins::{Maker, NewLogin};
use omnisession::model::parse_name;
use omnisession::phone::{PhoneNumber, WhatsappUserId};
use omnisession::secrets::{signed_by_any, timed_payload};
use omnisession::sessions;
use omnisession::token::Level;
use serde::Deserialize;

#[derive(Deserialize)]
struct PhoneLoginRequest {
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    channel: Channel,
}

/// How far a signed timestamp may be from now, either way.
const MAX_SKEW_SECS: i64 = 5 * 60;

const BAD_SIGNATURE: &str = "X-Hub-Signature-256 is missing or does not match \
    \"<X-Omnisession-Timestamp>.<body>\"";

/// Checks the bot's signature, and that it was made within [`MAX_SKEW_SECS`] of now.
async fn check_signature(state: &AppState, req: &Request) -> Result<(), ApiError> {
    let secrets = state.secrets().await;
    // Two during a rotation; none configured verifies nothing.
    let secret = &secrets.whatsapp_app_secrets;
    let signature = http::header(req, http::HUB_SIGNATURE);
    let Some(signed_at) = http::header(req, http::SIGNED_AT).map(str::trim) else {
        if state.config.accept_untimed_login_signatures
            && signed_by_any(secret, http::raw_body(req), signature)
        {
            return Ok(());
        }
        return Err(ApiError::Unauthorized(
            "X-Omnisession-Timestamp and X-Hub-Signature-256 are required: \
             the HMAC-SHA256 of \"<timestamp>.<body>\" with the app secret",
        ));
    };
    if !signed_by_any(
        secret,
        &timed_payload(signed_at, http::raw_body(req)),
        signature,
    ) {
        return Err(ApiError::Unauthorized(BAD_SIGNATURE));
    }
    let fresh = signed_at
        .parse::<i64>()
        .is_ok_and(|at| (Utc::now().timestamp() - at).abs() <= MAX_SKEW_SECS);
    if !fresh {
        return Err(ApiError::Unauthorized(
            "X-Omnisession-Timestamp is not within 5 minutes of now; sign the request afresh",
        ));
    }
    Ok(())
}

pub async fn login(state: &AppState, req: &Request) -> HttpResult {
    check_signature(state, req).await?;
    let body: PhoneLoginRequest = http::parse_json(req, state.config.max_body_bytes)?;
    if body.channel != Channel::Whatsapp {
        return Err(ApiError::field(
            "channel",
            "must be \"whatsapp\": phone-only login is for WhatsApp",
        ));
    }
    let phone = body
        .phone_number
        .as_deref()
        .map(|raw| PhoneNumber::parse(raw, state.config.phone_region))
        .transpose()
        .map_err(|e| ApiError::field("phone_number", e))?;
    let user = body
        .user_id
        .as_deref()
        .map(WhatsappUserId::parse)
        .transpose()
        .map_err(|e| ApiError::field("user_id", e))?;
    if phone.is_none() && user.is_none() {
        return Err(ApiError::Invalid(
            "phone_number or user_id (the WhatsApp user id) is required".into(),
        ));
    }
    let name = body
        .name
        .as_deref()
        .map(parse_name)
        .transpose()
        .map_err(|e| ApiError::field("name", e))?;
    let sender = WhatsappSender {
        phone,
        user,
        name: name.clone(),
        ..WhatsappSender::default()
    };
    let key = identity::settle(state, &sender, None)
        .await?
        .ok_or_else(|| ApiError::Invalid("phone_number or user_id is required".into()))?;
    let login = NewLogin::direct(Channel::Whatsapp, Level::Phone, Maker::Whatsapp);
    let entered = sessions::phone_login(
        state,
        &key,
        name.as_deref(),
        None,
        login,
        sessions::Assurance::Proven,
    )
    .await?;
    http::ok(&entered)
}
