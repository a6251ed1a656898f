//! `POST /session/start {phone, channel, customer_id?}`: a registered kiosk (by
//! `X-Kiosk-Key`) or a holder of a token of the same phone creates or joins the phone's
//! session.

use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::logins::NewLogin;
use omnisession::metrics;
use omnisession::model::deserialize_customer_id;
use omnisession::phone::PhoneNumber;
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
    let kiosk = http::kiosk(state, req).await?;
    if kiosk.is_none() && http::session_token(req).is_none() {
        return Err(ApiError::Unauthorized(
            "a registered kiosk's X-Kiosk-Key or a session token of the same phone is required",
        ));
    }
    let body: StartRequest = http::parse_json(req, state.config.max_body_bytes)?;
    let phone = PhoneNumber::parse(&body.phone, state.config.phone_region)
        .map_err(|e| ApiError::field("phone", e))?;

    if let Some(kiosk) = kiosk {
        if body.channel != Channel::Kiosk {
            return Err(ApiError::Forbidden(
                "a kiosk key can only start kiosk sessions",
            ));
        }
        let login = NewLogin::at_kiosk(Level::Phone, &kiosk);
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
