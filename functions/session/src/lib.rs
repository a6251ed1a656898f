//! The session endpoint group: start or join a session, restore it, update it, end it.

mod end;
mod login;
mod restore;
mod start;
mod update;

use lambda_http::{Body, Request, Response};
use omnisession::AppState;
use omnisession::http::{self, HttpResult};

/// Routes one API Gateway event. Never fails: errors become JSON responses.
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    http::serve(&req, |req| route(state, req)).await
}

async fn route(state: &AppState, req: &Request) -> HttpResult {
    match (req.method().as_str(), req.uri().path()) {
        ("POST", "/session/start") => start::start(state, req).await,
        ("POST", "/session/login") => login::login(state, req).await,
        ("GET", "/session/restore") => restore::restore(state, req).await,
        ("POST", "/session/update") => update::update(state, req).await,
        ("POST", "/session/end") => end::end(state, req).await,
        _ => Err(http::no_route(req)),
    }
}

/// The routes this function serves, for the drift test against template.yaml.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/session/start"),
    ("POST", "/session/login"),
    ("GET", "/session/restore"),
    ("POST", "/session/update"),
    ("POST", "/session/end"),
];
