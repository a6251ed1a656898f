//! `POST /auth/qr-verify {qr_token, channel: "kiosk"}` from a registered kiosk: consumes
//! the code (of two kiosks racing for it, exactly one wins) and returns a kiosk login on
//! the code's session, at password level, minted from the login that made the code (it
//! falls when that login is signed out). Every kind of bad code gets one generic 401; a
//! kiosk that keeps failing is told to wait (429), see `omnisession::guard`: counted per
//! kiosk and source address, with a ceiling per kiosk.

use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::metrics;
use omnisession::service::login::Handoff;
use serde::Deserialize;

#[derive(Deserialize)]
struct VerifyRequest {
    qr_token: String,
    channel: Channel,
}

pub async fn verify(state: &AppState, req: &Request) -> HttpResult {
    metrics::login_attempt(Channel::Kiosk);
    let kiosk = http::kiosk(state, req)
        .await?
        .ok_or(ApiError::Unauthorized(
            "a registered kiosk's X-Kiosk-Key is required",
        ))?;
    // The guessing limit first: a locked kiosk is told to wait whatever it sent.
    let handoff = Handoff::begin(state, &kiosk, &http::source_ip(req)).await?;
    let body: VerifyRequest = http::parse_json(req, state.config.max_body_bytes)?;
    if body.channel != Channel::Kiosk {
        return Err(ApiError::field("channel", "must be \"kiosk\""));
    }
    http::ok(&handoff.redeem(state, &body.qr_token).await?)
}
