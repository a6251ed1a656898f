//! The WhatsApp provider's webhook (Meta's WhatsApp Cloud API), its own trust boundary:
//! a delivery signed with the app secret proves the sender's phone, so each inbound
//! message is a phone-only login into the phone's session and a chat message in it.

mod deliver;
pub mod payload;
mod verify;

use lambda_http::{Body, Request, Response};
use omnisession::AppState;
use omnisession::http;
use omnisession::routes::{self, Route};

/// Routes one API Gateway event. Never fails: errors become JSON responses.
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    http::serve(&req, |req| routes::dispatch(ROUTES, state, req)).await
}

/// The routes this function serves: [`handle`] dispatches through this table, and the tests
/// and the bench list it (template.yaml, the local router and openapi.yaml must agree).
// One route per line reads as a table; rustfmt would spread each over several lines.
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    Route::new("GET", "/webhooks/whatsapp", |s, r, _| Box::pin(async move { verify::handshake(s, r).await })),
    Route::new("POST", "/webhooks/whatsapp", |s, r, _| Box::pin(deliver::deliver(s, r))),
];
