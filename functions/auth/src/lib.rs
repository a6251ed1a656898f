//! The auth endpoint group: password signup, login and logout for web and kiosk.

mod account;
mod login;
mod logout;
mod signup;

use lambda_http::{Body, Request, Response};
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};

/// Routes one API Gateway event. Never fails: errors become JSON responses.
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    http::serve(&req, |req| route(state, req)).await
}

async fn route(state: &AppState, req: &Request) -> HttpResult {
    match (req.method().as_str(), req.uri().path()) {
        ("POST", "/auth/signup") => signup::signup(state, req).await,
        ("POST", "/auth/login") => login::login(state, req).await,
        ("POST", "/auth/logout") => logout::logout(state, req).await,
        ("POST", "/auth/logout-all") => account::logout_all(state, req).await,
        ("POST", "/auth/password") => account::change_password(state, req).await,
        _ => Err(http::no_route(req)),
    }
}

/// The routes this function serves, for the drift test against template.yaml.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/auth/signup"),
    ("POST", "/auth/login"),
    ("POST", "/auth/logout"),
    ("POST", "/auth/logout-all"),
    ("POST", "/auth/password"),
];

/// Password logins are for the web and the kiosk; WhatsApp logs in by phone.
fn password_channel(channel: Channel) -> Result<Channel, ApiError> {
    match channel {
        Channel::Web | Channel::Kiosk => Ok(channel),
        Channel::Whatsapp => Err(ApiError::field(
            "channel",
            "must be \"web\" or \"kiosk\" for a password login",
        )),
    }
}
