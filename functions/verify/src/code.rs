//! `POST /auth/code/send` and `POST /auth/code/verify`: a six-digit code sent to the phone
//! over WhatsApp or SMS, and typed back to log in, to reset the password, or (with a
//! token) to step that login up to `password` level.

use lambda_http::Request;
use lambda_http::http::StatusCode;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::codes::{Code, Purpose};
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::metrics;
use omnisession::model::rfc3339;
use omnisession::passwords::Password;
use omnisession::phone::PhoneNumber;
use omnisession::service::proof::{self, Sender, Verification};
use omnisession::sessions;
use serde::Deserialize;
use serde_json::json;

use omnisession::courier::Via;

use crate::deliver;

#[derive(Deserialize)]
struct SendRequest {
    phone_number: String,
    purpose: Purpose,
    via: Option<Via>,
}

/// Always `202 {expires_at, resend_after}` for a well-formed request within the limits:
/// whether the phone is known, and whether the message got through, is not told.
pub async fn send(state: &AppState, req: &Request) -> HttpResult {
    let kiosk = http::kiosk(state, req).await?;
    let body: SendRequest = http::parse_json(req, state.config.max_body_bytes)?;
    let phone = parse_phone(state, &body.phone_number)?;
    let via = body.via.unwrap_or(Via::WhatsApp);
    if via == Via::Sms && !state.config.courier.as_ref().is_some_and(|c| c.sms_enabled) {
        return Err(ApiError::field(
            "via",
            "\"sms\" is not enabled here; use \"whatsapp\"",
        ));
    }
    let address = http::source_ip(req);
    let sender = match &kiosk {
        Some(kiosk) => Sender::Kiosk(kiosk),
        None => Sender::Address(&address),
    };
    let sent = proof::send_code(state, &phone, body.purpose, sender, |code| {
        deliver::code(state, &phone, code, via)
    })
    .await?;
    Ok(http::json(
        StatusCode::ACCEPTED,
        &json!({
            "expires_at": rfc3339(sent.expires_at),
            "resend_after": rfc3339(sent.resend_after),
        }),
    ))
}

#[derive(Deserialize)]
struct VerifyRequest {
    phone_number: String,
    code: String,
    purpose: Purpose,
    channel: Channel,
    new_password: Option<String>,
}

/// The login response at `password` level: a new login, or with a token (purpose
/// `login`) the same token stepped up.
pub async fn verify(state: &AppState, req: &Request) -> HttpResult {
    let kiosk = http::kiosk(state, req).await?;
    let body: VerifyRequest = http::parse_json(req, state.config.max_body_bytes)?;
    // A new login, unless a token's login is being stepped up.
    if !matches!(
        (body.purpose, http::session_token(req)),
        (Purpose::Login, Some(_))
    ) {
        metrics::login_attempt(body.channel);
    }
    let phone = parse_phone(state, &body.phone_number)?;
    let code =
        Code::parse(&body.code).ok_or_else(|| ApiError::field("code", "must be 6 digits"))?;
    match (body.channel, &kiosk) {
        (Channel::Web, None) | (Channel::Kiosk, Some(_)) => {}
        (Channel::Kiosk, None) => {
            return Err(ApiError::Unauthorized(
                "a kiosk login needs a registered kiosk's X-Kiosk-Key",
            ));
        }
        (Channel::Web, Some(_)) => {
            return Err(ApiError::Forbidden(
                "a kiosk key can only make kiosk logins",
            ));
        }
        (Channel::Whatsapp, _) => {
            return Err(ApiError::field("channel", "must be \"web\" or \"kiosk\""));
        }
    }
    // Checked before a try of the code is taken.
    let new_password = match (body.purpose, body.new_password) {
        (Purpose::Reset, Some(raw)) => {
            Some(Password::parse_new(raw).map_err(|e| ApiError::field("new_password", e))?)
        }
        (Purpose::Reset, None) => {
            return Err(ApiError::field(
                "new_password",
                "is required to reset the password",
            ));
        }
        (Purpose::Login, _) => None,
        // Its code is typed into the phone change itself, which also needs the account's
        // password login: it does not log anyone in.
        (Purpose::ChangePhone, _) => {
            return Err(ApiError::field(
                "purpose",
                "a change_phone code is verified by POST /auth/phone/change",
            ));
        }
    };
    let token = http::session_token(req);
    let step_up = match (body.purpose, token) {
        (Purpose::Login, Some(token)) => {
            Some((sessions::authenticate(state, Some(token)).await?, token))
        }
        _ => None,
    };
    let login = proof::verify_code(
        state,
        Verification {
            phone: &phone,
            code: &code,
            purpose: body.purpose,
            channel: body.channel,
            kiosk: kiosk.as_ref(),
            new_password: new_password.as_ref(),
            step_up,
        },
    )
    .await?;
    http::ok(&login)
}

fn parse_phone(state: &AppState, raw: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(raw, state.config.phone_region)
        .map_err(|e| ApiError::field("phone_number", e))
}
