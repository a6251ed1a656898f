//! The QR handoff: a customer logged in with a password shows a QR code on their phone,
//! a registered kiosk scans it and joins the same session, with no password typed on the
//! kiosk.

mod init;
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
        ("POST", "/auth/qr-init") => init::init(state, req).await,
        ("POST", "/auth/qr-verify") => verify::verify(state, req).await,
        _ => Err(http::no_route(req)),
    }
}

/// The routes this function serves, for the drift test against template.yaml.
pub const ROUTES: &[(&str, &str)] = &[("POST", "/auth/qr-init"), ("POST", "/auth/qr-verify")];
