//! `POST /auth/login {phone_number, password, channel}`: password login on the web or a
//! kiosk. An unknown phone and a wrong password get the same 401, after the same bcrypt
//! work, so neither the body nor the timing tells them apart. Failures fill the phone's
//! guessing buckets (429 with `Retry-After`, see `omnisession::guard`).

use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::guard;
use omnisession::http::{self, HttpResult};
use omnisession::logins::{Maker, NewLogin};
use omnisession::passwords::Password;
use omnisession::phone::PhoneNumber;
use omnisession::sessions;
use omnisession::token::Level;
use serde::Deserialize;

#[derive(Deserialize)]
struct LoginRequest {
    phone_number: String,
    password: String,
    channel: Channel,
}

pub async fn login(state: &AppState, req: &Request) -> HttpResult {
    let body: LoginRequest = http::parse_json(req, state.config.max_body_bytes)?;
    let channel = super::password_channel(body.channel)?;
    let phone = PhoneNumber::parse(&body.phone_number, state.config.phone_region)
        .map_err(|e| ApiError::field("phone_number", e))?;
    let password =
        Password::for_login(body.password).map_err(|e| ApiError::field("password", e))?;

    // Failures are counted per phone, known or not, so the lock tells nothing either.
    // The phone's session is looked up beside the check: one round trip before bcrypt.
    let source = http::source_ip(req);
    let (checked, found) = tokio::join!(
        guard::check_password(state, &phone, &source, &password),
        sessions::find(state, &phone),
    );
    let customer = checked?.ok_or(ApiError::InvalidCredentials)?;
    let login = NewLogin::direct(channel, Level::Password, Maker::Password);
    // A password change since the check above refuses this login (401).
    let version = Some(customer.password_version);
    http::ok(&sessions::enter(state, &customer, login, version, found?).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_is_not_a_password_channel() {
        assert!(crate::password_channel(Channel::Whatsapp).is_err());
        assert!(crate::password_channel(Channel::Kiosk).is_ok());
    }
}
