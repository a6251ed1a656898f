//! WhatsApp click-to-verify: `POST /auth/wa-link` makes a `wa.me` link (and its QR) whose
//! prefilled text the customer sends from their WhatsApp; `GET /auth/wa-link/{link_id}`
//! is the page's or kiosk's poll, which becomes the sender's `password`-level login (or
//! steps the maker's login up) once the webhook has seen the text.

use lambda_http::Request;
use lambda_http::http::StatusCode;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::model::rfc3339;
use omnisession::routes::Params;
use omnisession::service::walink::{self, LinkRequest, Poll, Polled};
use omnisession::sessions;
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Deserialize;
use serde_json::json;

/// The header a poll proves it made the link with.
const LINK_SECRET: &str = "x-link-secret";

#[derive(Deserialize)]
struct CreateRequest {
    channel: Channel,
}

/// `{link_id, link_secret, wa_url, qr_svg, expires_at}`: the only answer that ever holds
/// the secret and the text.
pub async fn create(state: &AppState, req: &Request) -> HttpResult {
    let kiosk = http::kiosk(state, req).await?;
    let body: CreateRequest = http::parse_json(req, state.config.max_body_bytes)?;
    match (body.channel, &kiosk) {
        (Channel::Web, None) | (Channel::Kiosk, Some(_)) => {}
        (Channel::Kiosk, None) => {
            return Err(ApiError::Unauthorized(
                "a kiosk link needs a registered kiosk's X-Kiosk-Key",
            ));
        }
        (Channel::Web, Some(_)) => {
            return Err(ApiError::Forbidden("a kiosk key can only make kiosk links"));
        }
        (Channel::Whatsapp, _) => {
            return Err(ApiError::field("channel", "must be \"web\" or \"kiosk\""));
        }
    }
    // A token makes it a step-up link for that login; one that does not open a session
    // is refused rather than silently ignored.
    let step_up = match http::session_token(req) {
        Some(token) => Some(sessions::authenticate(state, Some(token)).await?),
        None => None,
    };
    let address = http::source_ip(req);
    let link = walink::create_link(
        state,
        LinkRequest {
            channel: body.channel,
            kiosk: kiosk.as_ref(),
            address: &address,
            step_up: step_up.as_ref(),
        },
    )
    .await?;
    let qr_svg = QrCode::new(link.wa_url.as_bytes())
        .map_err(|e| ApiError::Internal(format!("QR rendering failed: {e}")))?
        .render::<svg::Color>()
        .min_dimensions(240, 240)
        .build();
    http::ok(&json!({
        "link_id": link.link_id,
        "link_secret": link.link_secret.expose(),
        "wa_url": link.wa_url,
        "qr_svg": qr_svg,
        "expires_at": rfc3339(link.expires_at),
    }))
}

/// `202 {status: "pending", expires_at}` until the customer's message has arrived, then
/// the login response once, then `410`.
pub async fn poll(state: &AppState, req: &Request, params: &Params<'_>) -> HttpResult {
    let secret = http::header(req, LINK_SECRET)
        .ok_or(ApiError::Unauthorized("X-Link-Secret is required"))?;
    let kiosk = http::kiosk(state, req).await?;
    let polled = walink::poll_link(
        state,
        Poll {
            link_id: params.get("link_id"),
            secret,
            kiosk: kiosk.as_ref(),
            token: http::session_token(req),
        },
    )
    .await?;
    match polled {
        Polled::Pending { expires_at } => Ok(http::json(
            StatusCode::ACCEPTED,
            &json!({"status": "pending", "expires_at": rfc3339(expires_at)}),
        )),
        Polled::Login(login) => http::ok(&login),
    }
}
