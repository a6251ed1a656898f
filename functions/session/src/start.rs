//! `POST /session/start {phone, channel, customer_id?}`: a registered kiosk (by
//! `X-Kiosk-Key`) or a holder of a token of the same phone creates or joins the phone's
//! session.

use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::logins::{Maker, NewLogin};
use omnisession::metrics;
use omnisession::model::deserialize_customer_id;
use omnisession::phone::PhoneNumber;
use omnisession::secrets::fingerprint;
use omnisession::service;
use omnisession::sessions;
use omnisession::token::Level;
use serde::Deserialize;

#[derive(Deserialize)]
struct StartRequest {
    phone: String,
    channel: Channel,
    #[serde(default, deserialize_with = "deserialize_customer_id")]
    customer_id: Option<String>,
}

pub async fn start(state: &AppState, req: &Request) -> HttpResult {
    // A kiosk's login by typed phone; a token opening another channel is not a login.
    if http::header(req, http::KIOSK_KEY).is_some() {
        metrics::login_attempt(Channel::Kiosk);
    }
    let kiosk_key = match http::header(req, http::KIOSK_KEY) {
        Some(key) if state.config.kiosk_keys.contains(key) => Some(key),
        Some(_) => {
            return Err(ApiError::Unauthorized(
                "X-Kiosk-Key is not a registered kiosk key",
            ));
        }
        None if http::session_token(req).is_some() => None,
        None => {
            return Err(ApiError::Unauthorized(
                "a registered kiosk's X-Kiosk-Key or a session token of the same phone is required",
            ));
        }
    };
    let body: StartRequest = http::parse_json(req, state.config.max_body_bytes)?;
    let phone = PhoneNumber::parse(&body.phone, state.config.phone_region)
        .map_err(|e| ApiError::field("phone", e))?;

    if let Some(key) = kiosk_key {
        if body.channel != Channel::Kiosk {
            return Err(ApiError::Forbidden(
                "a kiosk key can only start kiosk sessions",
            ));
        }
        let login = NewLogin::direct(Channel::Kiosk, Level::Phone, Maker::Kiosk(fingerprint(key)));
        let entered = sessions::phone_login(
            state,
            &phone,
            None,
            body.customer_id.as_deref(),
            login,
            sessions::Assurance::Asserted,
        )
        .await?;
        return http::ok(&entered);
    }

    // A logged-in customer opening another channel.
    let authed = sessions::authenticate(state, http::session_token(req)).await?;
    let login = service::login::open_channel(
        state,
        &authed,
        &phone,
        body.channel,
        body.customer_id.as_deref(),
    )
    .await?;
    http::ok(&login)
}
