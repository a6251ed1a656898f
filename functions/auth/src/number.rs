//! `POST /auth/phone/change {new_phone_number, code}`: a new phone number for the account,
//! proven by a code sent to it (`POST /auth/code/send` with purpose `change_phone`).

use lambda_http::Request;
use omnisession::AppState;
use omnisession::codes::Code;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::phone::PhoneNumber;
use omnisession::service::renumber;
use omnisession::sessions;
use omnisession::token::Level;
use serde::Deserialize;

#[derive(Deserialize)]
struct ChangeRequest {
    new_phone_number: String,
    code: String,
}

pub async fn change(state: &AppState, req: &Request) -> HttpResult {
    let token = http::session_token(req);
    let authed = sessions::authenticate(state, token).await?.require(
        Level::Password,
        "changing the phone number needs a password login",
    )?;
    let body: ChangeRequest = http::parse_json(req, state.config.max_body_bytes)?;
    let to = PhoneNumber::parse(&body.new_phone_number, state.config.phone_region)
        .map_err(|e| ApiError::field("new_phone_number", e))?;
    let code =
        Code::parse(&body.code).ok_or_else(|| ApiError::field("code", "must be 6 digits"))?;
    let token = token.unwrap_or_default();
    let login = renumber::change_number(state, &authed, token, &to, &code).await?;
    http::ok(&login)
}
