//! The one error type of the API. Each variant decides its status code and
//! `error_type` here, in one place; `http::error_response` writes the body, always
//! `{"detail", "error_type"}`. The layers below have errors of their own, and each is
//! turned into an `ApiError` by one `From` here: the edge alone picks HTTP statuses.

use lambda_http::http::StatusCode;

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
    /// 410: it existed, and is used up or expired for good (a click-to-verify link).
    #[error("{0}")]
    Gone(&'static str),
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
    /// 429: too many verification codes sent to this phone or by this caller lately.
    #[error("too many codes were sent lately; retry in {0} seconds")]
    TooManyCodes(u64),
    /// 503 without `Retry-After`: a feature whose settings are missing here (retrying
    /// will not help; the message names the setting for the operator).
    #[error("{0}")]
    NotConfigured(String),
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

    /// 404 for a session id that names no live session (the agent's routes).
    pub fn session_not_found() -> Self {
        Self::NotFound("session not found or expired".into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Gone(_) => StatusCode::GONE,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests(_) | Self::TooManyLogins(_) | Self::TooManyCodes(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::Unavailable | Self::NotConfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            Self::Gone(_) => "gone",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooManyRequests(_) | Self::TooManyLogins(_) | Self::TooManyCodes(_) => {
                "rate_limited"
            }
            Self::Unavailable => "service_unavailable",
            Self::NotConfigured(_) => "not_configured",
            Self::Internal(_) => "internal_error",
        }
    }

    /// Seconds a client should wait before trying again, for the answers that say so.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Unavailable => Some(1),
            Self::TooManyRequests(seconds)
            | Self::TooManyLogins(seconds)
            | Self::TooManyCodes(seconds) => Some((*seconds).max(1)),
            _ => None,
        }
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

impl From<crate::sessions::SessionError> for ApiError {
    fn from(err: crate::sessions::SessionError) -> Self {
        use crate::sessions::{INVALID_TOKEN, SessionError as E};
        match err {
            E::MissingToken => Self::Unauthorized(
                "missing session token: send it as X-Session-Token or Authorization: Bearer",
            ),
            E::InvalidToken => Self::Unauthorized(INVALID_TOKEN),
            E::CustomerGone => Self::Unauthorized("the customer of this session no longer exists"),
            // The same answer as a wrong password: the one it was checked with is old.
            E::PasswordChanged => Self::InvalidCredentials,
            E::TooManyMints(seconds) => Self::TooManyLogins(seconds),
            E::CustomerIdMismatch => {
                Self::field("customer_id", "does not belong to this phone number")
            }
            E::Forbidden(refusal) => Self::Forbidden(refusal),
            E::Contended => Self::Unavailable,
            E::Corrupt(message) => Self::Internal(message),
            E::Store(err) => err.into(),
        }
    }
}

impl From<crate::guard::GuardError> for ApiError {
    fn from(err: crate::guard::GuardError) -> Self {
        match err {
            crate::guard::GuardError::Locked(seconds) => Self::TooManyRequests(seconds),
            crate::guard::GuardError::Store(err) => err.into(),
        }
    }
}

impl From<crate::service::write::WriteError> for ApiError {
    fn from(err: crate::service::write::WriteError) -> Self {
        use crate::service::write::WriteError as E;
        match err {
            E::LoginGone => Self::Unauthorized(crate::sessions::INVALID_TOKEN),
            E::SessionGone => Self::session_not_found(),
            E::KeyReused => Self::IdempotencyKeyReused,
            E::Store(err) => err.into(),
        }
    }
}

impl From<crate::service::whatsapp::FileError> for ApiError {
    fn from(err: crate::service::whatsapp::FileError) -> Self {
        use crate::service::whatsapp::FileError as E;
        match err {
            E::Contended => Self::Unavailable,
            E::NoSender => Self::Invalid("the message names no sender".into()),
            E::Session(err) => err.into(),
        }
    }
}

impl From<crate::service::login::LoginError> for ApiError {
    fn from(err: crate::service::login::LoginError) -> Self {
        use crate::service::login::LoginError as E;
        match err {
            E::InvalidCredentials => Self::InvalidCredentials,
            E::Guard(err) => err.into(),
            E::Session(err) => err.into(),
        }
    }
}

impl From<crate::service::login::OpenError> for ApiError {
    fn from(err: crate::service::login::OpenError) -> Self {
        use crate::service::login::OpenError as E;
        match err {
            E::OtherPhone => {
                Self::Unauthorized("the session token belongs to another phone number")
            }
            E::Session(err) => err.into(),
        }
    }
}

impl From<crate::service::login::HandoffError> for ApiError {
    fn from(err: crate::service::login::HandoffError) -> Self {
        use crate::service::login::HandoffError as E;
        match err {
            E::InvalidCode => Self::Unauthorized("QR code is invalid, expired or already used"),
            E::Guard(err) => err.into(),
            E::Session(err) => err.into(),
        }
    }
}

impl From<crate::service::account::SignupError> for ApiError {
    fn from(err: crate::service::account::SignupError) -> Self {
        use crate::service::account::SignupError as E;
        match err {
            E::PhoneTaken => {
                // The same sentence for every registered phone (no oracle of which have a
                // password): the way in for one that has none, or whose password is lost.
                Self::Conflict(
                    "phone number is already registered; log in instead, or, to set a \
                     password, verify the phone with a reset code (POST /auth/code/send with \
                     purpose \"reset\")"
                        .into(),
                )
            }
            E::Hashing(message) => Self::Internal(message),
            E::Session(err) => err.into(),
        }
    }
}

impl From<crate::service::account::PasswordError> for ApiError {
    fn from(err: crate::service::account::PasswordError) -> Self {
        use crate::service::account::PasswordError as E;
        match err {
            E::WrongPassword => Self::Unauthorized("current_password is not the current password"),
            E::Hashing(message) => Self::Internal(message),
            E::Guard(err) => err.into(),
        }
    }
}

impl From<crate::service::devices::DevicesError> for ApiError {
    fn from(err: crate::service::devices::DevicesError) -> Self {
        use crate::service::devices::DevicesError as E;
        match err {
            E::UnknownLogin => Self::NotFound("no login of this session has that login_id".into()),
            E::Session(err) => err.into(),
        }
    }
}

impl From<crate::service::proof::SendError> for ApiError {
    fn from(err: crate::service::proof::SendError) -> Self {
        use crate::service::proof::SendError as E;
        match err {
            E::TooMany(seconds) => Self::TooManyCodes(seconds),
            E::NoCodeKey => Self::NotConfigured(err.to_string()),
            E::Store(err) => err.into(),
        }
    }
}

impl From<crate::service::proof::VerifyError> for ApiError {
    fn from(err: crate::service::proof::VerifyError) -> Self {
        use crate::service::proof::VerifyError as E;
        match err {
            E::InvalidCode => {
                Self::Unauthorized("the code is wrong, expired or already used; request a new one")
            }
            E::OtherPhone => Self::Forbidden("the session token belongs to another phone number"),
            E::Hashing(message) => Self::Internal(message),
            E::Session(err) => err.into(),
        }
    }
}

impl From<crate::service::walink::LinkError> for ApiError {
    fn from(err: crate::service::walink::LinkError) -> Self {
        use crate::service::walink::LinkError as E;
        match err {
            E::NotConfigured(_) => Self::NotConfigured(err.to_string()),
            E::TooMany(seconds) => Self::TooManyCodes(seconds),
            // Unknown id and wrong secret alike.
            E::Unknown => Self::NotFound("no such link, or the wrong X-Link-Secret".into()),
            E::Gone => Self::Gone(
                "the link has expired or was already used; make a new one (POST /auth/wa-link)",
            ),
            E::OtherKiosk => Self::Forbidden("the link was made by another kiosk"),
            E::OtherLogin => Self::Forbidden(
                "the link was made to step up another login; poll it with that login's token",
            ),
            E::OtherPhone => Self::Forbidden(
                "the message came from another phone number than this session's; the link is \
                 used up",
            ),
            E::Session(err) => err.into(),
        }
    }
}

impl From<crate::service::export::ExportError> for ApiError {
    fn from(err: crate::service::export::ExportError) -> Self {
        use crate::service::export::ExportError as E;
        match err {
            E::NoCustomer => Self::NotFound(err.to_string()),
            E::BadCursor => Self::field("cursor", "is not one this export gave out"),
            E::Store(err) => err.into(),
        }
    }
}

impl From<crate::service::erasure::EraseError> for ApiError {
    fn from(err: crate::service::erasure::EraseError) -> Self {
        use crate::service::erasure::EraseError as E;
        match err {
            E::WrongPassword => Self::Unauthorized("current_password is not the current password"),
            E::InvalidCode => {
                Self::Unauthorized("the code is wrong, expired or already used; request a new one")
            }
            E::NoCustomer => Self::NotFound(err.to_string()),
            E::Guard(err) => err.into(),
            E::Store(err) => err.into(),
        }
    }
}

impl From<crate::service::renumber::RenumberError> for ApiError {
    fn from(err: crate::service::renumber::RenumberError) -> Self {
        use crate::service::renumber::RenumberError as E;
        match err {
            E::InvalidCode => {
                Self::Unauthorized("the code is wrong, expired or already used; request a new one")
            }
            E::SameNumber => Self::field("new_phone_number", "is the account's number already"),
            E::Taken => Self::Conflict("the new number belongs to another account".into()),
            E::NoNumber => Self::Conflict(
                "this account has no phone number to change; log in with a code to add one".into(),
            ),
            E::Session(err) => err.into(),
        }
    }
}
