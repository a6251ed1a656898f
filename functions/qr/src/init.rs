//! `POST /auth/qr-init`: a password-level login makes a single-use code, valid for at
//! most 120 s, and gets it back as text and as an SVG QR code to show.

use chrono::Utc;
use lambda_http::Request;
use omnisession::AppState;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::model::rfc3339;
use omnisession::sessions;
use omnisession::store::QrGrant;
use omnisession::token::{Level, QrToken};
use qrcode::QrCode;
use qrcode::render::svg;
use serde_json::json;

pub async fn init(state: &AppState, req: &Request) -> HttpResult {
    let authed = sessions::authenticate(state, http::session_token(req))
        .await?
        .require(
            Level::Password,
            "a QR code can only be made from a password login",
        )?;
    let qr = QrToken::issue();
    let expires = Utc::now() + state.config.qr_ttl;
    let grant = QrGrant {
        session_id: authed.session.id().to_string(),
        issuer_token_id: authed.token_id.clone(),
        issuer_root: Some(authed.root().to_string()),
        phone: authed.session.phone.clone(),
        max_expires_at: authed.session.max_expires_at,
    };
    state
        .store
        .put_qr(&qr.hash, &grant, expires.timestamp())
        .await?;
    let svg = QrCode::new(qr.value.expose().as_bytes())
        .map_err(|e| ApiError::Internal(format!("QR rendering failed: {e}")))?
        .render::<svg::Color>()
        .min_dimensions(240, 240)
        .build();
    http::ok(&json!({
        "qr_token": qr.value.expose(),
        "expires_at": rfc3339(expires),
        "qr_svg": svg,
    }))
}
