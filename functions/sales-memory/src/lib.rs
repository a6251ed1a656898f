//! The sales agent's memory of a session: what was said, the summary, the SKUs it showed,
//! the cart. The agent authenticates with `X-Service-Key`; a customer may read and write
//! their own session with its token.

mod access;
mod read;
mod write;

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
    Route::new("GET", "/session/{sid}/context", |s, r, p| Box::pin(read::context(s, r, p.get("sid")))),
    Route::new("GET", "/session/{sid}/summary", |s, r, p| Box::pin(read::summary(s, r, p.get("sid")))),
    Route::new("POST", "/session/{sid}/summary", |s, r, p| Box::pin(write::summary(s, r, p.get("sid")))),
    Route::new("GET", "/session/{sid}/recommendations", |s, r, p| Box::pin(read::recommendations(s, r, p.get("sid")))),
    Route::new("POST", "/session/{sid}/recommendations", |s, r, p| Box::pin(write::recommendations(s, r, p.get("sid")))),
    Route::new("GET", "/session/{sid}/cart", |s, r, p| Box::pin(read::cart(s, r, p.get("sid")))),
    Route::new("POST", "/session/{sid}/messages", |s, r, p| Box::pin(write::message(s, r, p.get("sid")))),
];
