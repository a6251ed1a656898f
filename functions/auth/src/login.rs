//! `POST /auth/login {phone_number, password, channel}`: password login on the web or a
//! kiosk. An unknown phone and a wrong password get the same 401, after the same bcrypt
//! work, so neither the body nor the timing tells them apart. Failures fill the phone's
//! guessing buckets (429 with `Retry-After`, see `omnisession::guard`).

use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::metrics;
use omnisession::passwords::Password;
use omnisession::phone::PhoneNumber;
use omnisession::service;
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
    metrics::login_attempt(channel);
    let phone = PhoneNumber::parse(&body.phone_number, state.config.phone_region)
        .map_err(|e| ApiError::field("phone_number", e))?;
    let password =
        Password::for_login(body.password).map_err(|e| ApiError::field("password", e))?;

    let login =
        service::login::password_login(state, &phone, &password, channel, &http::source_ip(req))
            .await?;
    http::ok(&login)
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
