//! The auth endpoint group: password signup, login and logout for web and kiosk, and the
//! customer's own logins (listing them, ending one).

mod account;
mod data;
mod devices;
mod login;
mod logout;
mod number;
mod signup;

use lambda_http::{Body, Request, Response};
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
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
    Route::new("POST", "/auth/signup", |s, r, _| Box::pin(signup::signup(s, r))),
    Route::new("POST", "/auth/login", |s, r, _| Box::pin(login::login(s, r))),
    Route::new("POST", "/auth/logout", |s, r, _| Box::pin(logout::logout(s, r))),
    Route::new("POST", "/auth/logout-all", |s, r, _| Box::pin(account::logout_all(s, r))),
    Route::new("POST", "/auth/password", |s, r, _| Box::pin(account::change_password(s, r))),
    Route::new("GET", "/auth/sessions", |s, r, _| Box::pin(devices::list(s, r))),
    Route::new("DELETE", "/auth/sessions/{login_id}", |s, r, p| Box::pin(devices::end(s, r, p))),
    Route::new("GET", "/auth/me/export", |s, r, _| Box::pin(data::export(s, r))),
    Route::new("POST", "/auth/me/delete", |s, r, _| Box::pin(data::delete(s, r))),
    Route::new("POST", "/auth/phone/change", |s, r, _| Box::pin(number::change(s, r))),
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
