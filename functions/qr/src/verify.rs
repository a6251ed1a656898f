//! `POST /auth/qr-verify {qr_token, channel: "kiosk"}` from a registered kiosk: consumes
//! the code (of two kiosks racing for it, exactly one wins) and returns a kiosk login on
//! the code's session, at password level, minted from the login that made the code (it
//! falls when that login is signed out). Every kind of bad code gets one generic 401; a
//! kiosk that keeps failing is told to wait (429), see `omnisession::guard`: counted per
//! kiosk key and source address, with a ceiling per key.

use chrono::Utc;
use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::guard::Guard;
use omnisession::http::{self, HttpResult};
use omnisession::phone::PhoneNumber;
use omnisession::sessions::{self, Mint};
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
    let guard = Guard::qr_codes(key, &http::source_ip(req));
    let now = Utc::now().timestamp();
    // Five free failures per kiosk, then a doubling lock: plenty for a customer whose
    // code expired, far too few to guess a 160-bit code.
    let buckets = state.store.buckets(guard.keys()).await?;
    let tally = guard.tally(buckets);
    if let Some(wait) = tally.retry_after(now) {
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
        tally.failed(&state.store, now).await?;
        return Err(ApiError::Unauthorized(INVALID_QR));
    };
    tally.succeeded(&state.store).await?;
    let phone = PhoneNumber::from_stored(grant.phone.clone());
    let customer = state
        .store
        .customer_by_phone(&phone)
        .await?
        .ok_or(ApiError::Unauthorized(INVALID_QR))?;
    let mint = Mint {
        session_id: &grant.session_id,
        max_expires_at: grant.max_expires_at,
        minter: &grant.issuer_token_id,
        root: grant
            .issuer_root
            .as_deref()
            .unwrap_or(&grant.issuer_token_id),
        channel: Channel::Kiosk,
        level: Level::Password,
    };
    // The code was good but its session ended, or its maker logged out, meanwhile.
    let entered = sessions::mint(state, &mint, &customer)
        .await?
        .ok_or(ApiError::Unauthorized(INVALID_QR))?;
    http::ok(&entered)
}
