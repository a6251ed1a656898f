//! The WhatsApp provider's webhook (Meta's WhatsApp Cloud API), its own trust boundary:
//! a delivery signed with the app secret proves the sender's phone, so each inbound
//! message is a phone-only login into the phone's session and a chat message in it.

mod deliver;
mod payload;
mod verify;

use lambda_http::{Body, Request, Response};
use omnisession::AppState;
use omnisession::http::{self, HttpResult};

/// Routes one API Gateway event. Never fails: errors become JSON responses.
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    http::serve(&req, |req| route(state, req)).await
}

async fn route(state: &AppState, req: &Request) -> HttpResult {
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/webhooks/whatsapp") => verify::handshake(state, req),
        ("POST", "/webhooks/whatsapp") => deliver::deliver(state, req).await,
        _ => Err(http::no_route(req)),
    }
}

/// The routes this function serves, for the drift test against template.yaml.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/webhooks/whatsapp"),
    ("POST", "/webhooks/whatsapp"),
];
