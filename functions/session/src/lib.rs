//! The session endpoint group: start or join a session, restore it, update it, end it.

mod end;
mod login;
mod restore;
mod start;
mod update;

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
    Route::new("POST", "/session/start", |s, r, _| Box::pin(start::start(s, r))),
    Route::new("POST", "/session/login", |s, r, _| Box::pin(login::login(s, r))),
    Route::new("GET", "/session/restore", |s, r, _| Box::pin(restore::restore(s, r))),
    Route::new("POST", "/session/update", |s, r, _| Box::pin(update::update(s, r))),
    Route::new("POST", "/session/end", |s, r, _| Box::pin(end::end(s, r))),
];
