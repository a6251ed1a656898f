//! The one error type of the API. Each variant decides its status code and
//! `error_type` here, in one place; the body is always `{"detail", "error_type"}`.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// 401: no credentials, or credentials we do not accept.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 401 for a failed password login: one body for unknown phone and wrong password.
    #[error("Invalid phone number or password")]
    InvalidCredentials,
    /// 403: authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// 422: an `Idempotency-Key` sent again with a different request body.
    #[error(
        "Idempotency-Key was already used for a different request; use a new key for a new write"
    )]
    IdempotencyKeyReused,
    #[error("request body is larger than the {0}-byte limit")]
    PayloadTooLarge(usize),
    #[error("request body must be JSON, sent with Content-Type: application/json")]
    UnsupportedMediaType,
    /// 429: too many failed attempts from this caller; retry after the given seconds.
    #[error("too many failed attempts; retry in {0} seconds")]
    TooManyRequests(u64),
    /// 429: this login has opened too many other logins lately; retry after the seconds.
    #[error("this login has opened too many other logins in the last hour; retry in {0} seconds")]
    TooManyLogins(u64),
    /// 503: DynamoDB throttled or could not be reached after the SDK's retries.
    #[error("the service is temporarily unavailable; retry shortly")]
    Unavailable,
    /// 500: a fault of ours. The message is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A 400 that names the offending field: `phone is not a valid phone number`.
    pub fn field(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::Invalid(format!("{field} {problem}"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests(_) | Self::TooManyLogins(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_error",
            Self::Unauthorized(_) => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooManyRequests(_) | Self::TooManyLogins(_) => "rate_limited",
            Self::Unavailable => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    pub fn to_response(&self, request_id: &str) -> Response<Body> {
        let body = match self {
            Self::Internal(_) => json!({
                "detail": format!("Internal error. Quote request id {request_id} when reporting it."),
                "error_type": self.error_type(),
                "request_id": request_id,
            }),
            _ => json!({ "detail": self.to_string(), "error_type": self.error_type() }),
        };
        let mut response = crate::http::json(self.status(), &body);
        let retry_after = match self {
            Self::Unavailable => Some(1),
            Self::TooManyRequests(seconds) | Self::TooManyLogins(seconds) => {
                Some((*seconds).max(1))
            }
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Self::Unavailable,
            StoreError::Unexpected(msg) => Self::Internal(msg),
        }
    }
}
