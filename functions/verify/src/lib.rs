//! Proving a phone: verification codes sent over WhatsApp or SMS and typed back (a login,
//! a password reset, a step-up), and WhatsApp click-to-verify. This function alone holds
//! the messaging credentials and may send SMS.

mod code;
mod deliver;
mod walink;

use lambda_http::{Body, Request, Response};
use omnisession::AppState;
use omnisession::http;
use omnisession::metrics::Meter;
use omnisession::routes::{self, Route};

/// Routes one API Gateway event. Never fails: errors become JSON responses.
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    let meter = Meter::new(&state.config, env!("CARGO_PKG_NAME"));
    http::serve(&req, meter, |req| routes::dispatch(ROUTES, state, req)).await
}

/// The routes this function serves: [`handle`] dispatches through this table, and the tests
/// and the bench list it (template.yaml, the local router and openapi.yaml must agree).
// One route per line reads as a table; rustfmt would spread each over several lines.
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    Route::new("POST", "/auth/code/send", |s, r, _| Box::pin(code::send(s, r))),
    Route::new("POST", "/auth/code/verify", |s, r, _| Box::pin(code::verify(s, r))),
    Route::new("POST", "/auth/wa-link", |s, r, _| Box::pin(walink::create(s, r))),
    Route::new("GET", "/auth/wa-link/{link_id}", |s, r, p| Box::pin(walink::poll(s, r, p))),
];
