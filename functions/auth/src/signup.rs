//! `POST /auth/signup`: creates a customer with a password and logs them in (201).
//!
//! A registered phone is a 409 whatever the password, so signup tells nothing about a
//! password and counts nothing against the owner's logins. A client whose signup was
//! answered 409 after a lost response logs in instead.

use chrono::Utc;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use omnisession::AppState;
use omnisession::channel::Channel;
use omnisession::error::ApiError;
use omnisession::http::{self, HttpResult};
use omnisession::model::{parse_name, parse_profile_field, rfc3339};
use omnisession::passwords::Password;
use omnisession::phone::PhoneNumber;
use omnisession::service;
use omnisession::store::CustomerItem;
use serde::Deserialize;

#[derive(Deserialize)]
struct SignupRequest {
    name: String,
    phone_number: String,
    password: String,
    #[serde(default)]
    age: Option<u32>,
    #[serde(default)]
    gender: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    building_name: Option<String>,
    #[serde(default)]
    address_landmark: Option<String>,
    channel: Channel,
}

const MAX_AGE: u32 = 130;

pub async fn signup(state: &AppState, req: &Request) -> HttpResult {
    let body: SignupRequest = http::parse_json(req, state.config.max_body_bytes)?;
    let channel = super::password_channel(body.channel)?;
    let name = parse_name(&body.name).map_err(|e| ApiError::field("name", e))?;
    let phone = PhoneNumber::parse(&body.phone_number, state.config.phone_region)
        .map_err(|e| ApiError::field("phone_number", e))?;
    let password =
        Password::parse_new(body.password).map_err(|e| ApiError::field("password", e))?;
    if body.age.is_some_and(|age| age == 0 || age > MAX_AGE) {
        return Err(ApiError::field(
            "age",
            format!("must be from 1 to {MAX_AGE}"),
        ));
    }
    let profile = |field: &str, value: Option<String>| {
        parse_profile_field(value).map_err(|e| ApiError::field(field, e))
    };

    let now = rfc3339(Utc::now());
    let mut customer = CustomerItem::new(CustomerItem::generate_id(), &phone, name, &now);
    customer.age = body.age;
    customer.gender = profile("gender", body.gender)?;
    customer.city = profile("city", body.city)?;
    customer.building_name = profile("building_name", body.building_name)?;
    customer.address_landmark = profile("address_landmark", body.address_landmark)?;
    let entered = service::account::signup(state, customer, &password, channel).await?;
    Ok(http::json(StatusCode::CREATED, &entered))
}
