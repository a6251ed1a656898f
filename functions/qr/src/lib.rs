//! The QR handoff: a customer logged in with a password shows a QR code on their phone,
//! a registered kiosk scans it and joins the same session, with no password typed on the
//! kiosk.

mod init;
mod verify;

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
    Route::new("POST", "/auth/qr-init", |s, r, _| Box::pin(init::init(s, r))),
    Route::new("POST", "/auth/qr-verify", |s, r, _| Box::pin(verify::verify(s, r))),
];
