//! `POST /auth/qr-verify {qr_token, channel: "kiosk"}` from a registered kiosk: consumes
//! the code (of two kiosks racing for it, exactly one wins) and returns a kiosk login on
//! the code's session, at password level. Every kind of bad code gets one generic 401;
//! a kiosk key that keeps failing is told to wait (429).

use chrono::Utc;
use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::secrets::fingerprint;
use omnisession::sessions;
use omnisession::token::{Level, QrToken};
use serde::Deserialize;

#[derive(Deserialize)]
struct VerifyRequest {
    qr_token: String,
    channel: Channel,
}

const INVALID_QR: &str = "QR code is invalid, expired or already used";

pub async fn verify(state: &AppState, req: &Request) -> HttpResult {
    let key = http::header(req, http::KIOSK_KEY)
        .filter(|key| state.config.kiosk_keys.contains(key))
        .ok_or(ApiError::Unauthorized(
            "a registered kiosk's X-Kiosk-Key is required",
        ))?;
    let scope = format!("qr-verify#{}", fingerprint(key));
    let now = Utc::now().timestamp();
    // Five free failures per kiosk key, then a doubling lock (see `store::lockout`):
    // plenty for a customer whose code expired, far too few to guess a 160-bit code.
    let lockout = state.store.lockout(&scope).await?;
    if let Some(wait) = lockout.retry_after(now) {
        return Err(ApiError::TooManyRequests(wait));
    }
    let body: VerifyRequest = http::parse_json(req, state.config.max_body_bytes)?;
    if body.channel != Channel::Kiosk {
        return Err(ApiError::field("channel", "must be \"kiosk\""));
    }

    let grant = match QrToken::hash_of_presented(&body.qr_token) {
        Some(hash) => state.store.consume_qr(&hash, now).await?,
        None => None,
    };
    let Some(grant) = grant else {
        state.store.record_failure(&scope, lockout, now).await?;
        return Err(ApiError::Unauthorized(INVALID_QR));
    };
    // The code was good but its session ended meanwhile.
    let entered = sessions::hand_over(state, &grant, Channel::Kiosk, Level::Password)
        .await?
        .ok_or(ApiError::Unauthorized(INVALID_QR))?;
    if lockout.failures > 0 {
        state.store.clear_lockout(&scope).await?;
    }
    http::ok(&entered)
}
