//! The sales agent's memory of a session: what was said, the summary, the SKUs it showed,
//! the cart. The agent authenticates with `X-Service-Key`; a customer may read and write
//! their own session with its token.

mod access;
mod read;
mod write;

use lambda_http::{Body, Request, Response};
use omnisession::AppState;
use omnisession::http::{self, HttpResult};

/// Routes one API Gateway event. Never fails: errors become JSON responses.
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    http::serve(&req, |req| route(state, req)).await
}

async fn route(state: &AppState, req: &Request) -> HttpResult {
    let path = req.uri().path();
    let Some((sid, part)) = path
        .strip_prefix("/session/")
        .and_then(|rest| rest.split_once('/'))
    else {
        return Err(http::no_route(req));
    };
    match (req.method().as_str(), part) {
        ("GET", "context") => read::context(state, req, sid).await,
        ("GET", "summary") => read::summary(state, req, sid).await,
        ("GET", "recommendations") => read::recommendations(state, req, sid).await,
        ("GET", "cart") => read::cart(state, req, sid).await,
        ("POST", "summary") => write::summary(state, req, sid).await,
        ("POST", "recommendations") => write::recommendations(state, req, sid).await,
        ("POST", "messages") => write::message(state, req, sid).await,
        _ => Err(http::no_route(req)),
    }
}

/// The routes this function serves, for the drift test against template.yaml.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/session/{sid}/context"),
    ("GET", "/session/{sid}/summary"),
    ("POST", "/session/{sid}/summary"),
    ("GET", "/session/{sid}/recommendations"),
    ("POST", "/session/{sid}/recommendations"),
    ("GET", "/session/{sid}/cart"),
    ("POST", "/session/{sid}/messages"),
];
