//! `POST /auth/login {phone_number, password, channel}`: password login on the web or a
//! kiosk. An unknown phone and a wrong password get the same 401, after the same bcrypt
//! work, so neither the body nor the timing tells them apart.

use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
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

    let customer = state.store.customer_by_phone(&phone).await?;
    let hash = customer.as_ref().and_then(|c| c.password_hash.as_deref());
    // Verifies against a dummy hash when there is no customer or no password.
    if !state.passwords.verify(&password, hash).await {
        return Err(ApiError::InvalidCredentials);
    }
    let Some(customer) = customer else {
        return Err(ApiError::InvalidCredentials);
    };
    let entered = sessions::enter(state, &customer, channel, Level::Password).await?;
    http::ok(&entered)
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
