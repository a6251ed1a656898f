//! `POST /auth/qr-init`: a password-level login makes a single-use code, valid for at
//! most 120 s, and gets it back as text and as an SVG QR code to show.

use lambda_http::Request;
use omnisession::AppState;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::model::rfc3339;
use omnisession::service;
use omnisession::sessions;
use omnisession::token::Level;
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
    let (qr, expires) = service::login::issue_qr(state, &authed).await?;
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
