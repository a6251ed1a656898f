//! `POST /auth/login {phone_number, password, channel}`: password login on the web or a
//! kiosk. An unknown phone and a wrong password get the same 401, after the same bcrypt
//! work, so neither the body nor the timing tells them apart. Repeated failures lock the
//! phone (429 with `Retry-After`, see `store::lockout`).

use chrono::Utc;
use lambda_http::Request;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::model::LoginResponse;
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
    http::ok(&password_login(state, &phone, &password, channel).await?)
}

/// Checks `password` for `phone` under the lockout and logs the customer in. Also serves
/// a retried signup, so a signup cannot be used to guess passwords past the lockout.
pub(crate) async fn password_login(
    state: &AppState,
    phone: &PhoneNumber,
    password: &Password,
    channel: Channel,
) -> Result<LoginResponse, ApiError> {
    // Failures are counted per phone, known or not, so the lock tells nothing either.
    let scope = format!("login#{phone}");
    let now = Utc::now().timestamp();
    let (customer, lockout) = state.store.customer_and_lockout(phone, &scope).await?;
    // Checked before bcrypt: during a lock even the right password is refused.
    if let Some(wait) = lockout.retry_after(now) {
        return Err(ApiError::TooManyRequests(wait));
    }
    let hash = customer.as_ref().and_then(|c| c.password_hash.as_deref());
    // Verifies against a dummy hash when there is no customer or no password.
    let verified = state.passwords.verify(password, hash).await;
    let Some(customer) = customer.filter(|_| verified) else {
        state.store.record_failure(&scope, lockout, now).await?;
        return Err(ApiError::InvalidCredentials);
    };
    if lockout.failures > 0 {
        state.store.clear_lockout(&scope).await?;
    }
    sessions::enter(state, &customer, channel, Level::Password).await
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
