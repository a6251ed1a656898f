//! `Idempotency-Key`: a client's name for one logical write, so that a retry after a
//! timeout or a lost response does not append twice. Honoured by the appending writes
//! (`/session/update`, `/session/{sid}/messages`, `/session/{sid}/recommendations`).
//!
//! The key is remembered for 24 hours in a `seen#` item claimed before the change is
//! written (and given back if the write fails), together with a hash of the request body:
//! - the same key with the same body changes nothing and answers 200 with the session as
//!   it is now, marked `Idempotent-Replayed: true`;
//! - the same key with another body is a 422, since the client has mixed up two writes.

use chrono::Duration;
use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::store::Dedupe;

pub const HEADER: &str = "idempotency-key";
/// Marks a response that replays an earlier write instead of making a new one.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long a key is remembered.
pub const TTL_HOURS: i64 = 24;
/// Longest accepted key: room for a UUID or a client's own composite key.
pub const MAX_KEY_CHARS: usize = 255;

/// The request's `Idempotency-Key`, if any, as a dedupe key scoped to `scope` (the route
/// and session), so that keys of different sessions or routes never meet.
pub fn from_request(req: &Request, scope: &str) -> Result<Option<Dedupe>, ApiError> {
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_CHARS)
        .filter(|k| k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::Invalid(format!(
                "Idempotency-Key header must be 1 to {MAX_KEY_CHARS} visible ASCII characters \
                 (a UUID is a good choice)"
            ))
        })?;
    Ok(Some(Dedupe {
        // Hashed: the stored item holds nothing the client chose.
        key: format!("idem#{scope}#{}", hex::encode(Sha256::digest(key))),
        fingerprint: hex::encode(Sha256::digest(req.body().as_ref())),
        ttl: Duration::hours(TTL_HOURS),
        sort_key: None,
    }))
}

/// A write's outcome for the handler: the session afterwards, and whether the write was
/// a replay of an earlier one.
/// Marks the answer to a replayed write (`Idempotent-Replayed: true`).
pub fn mark(mut response: Response<Body>, replayed: bool) -> Response<Body> {
    if replayed {
        crate::metrics::count(crate::metrics::Counter::IdempotentReplays);
        response
            .headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(key: Option<&str>, body: &str) -> Request {
        let mut req = Request::new(Body::Text(body.into()));
        if let Some(key) = key {
            req.headers_mut()
                .insert(HEADER, HeaderValue::from_str(key).unwrap());
        }
        req
    }

    #[test]
    fn no_header_means_no_dedupe() {
        assert!(from_request(&request(None, "{}"), "s").unwrap().is_none());
    }

    #[test]
    fn same_key_same_body_same_dedupe_and_scope_separates() {
        let a = from_request(&request(Some("k-1"), "{}"), "update#s1")
            .unwrap()
            .unwrap();
        let b = from_request(&request(Some("k-1"), "{}"), "update#s1")
            .unwrap()
            .unwrap();
        let c = from_request(&request(Some("k-1"), "{}"), "update#s2")
            .unwrap()
            .unwrap();
        let d = from_request(&request(Some("k-1"), "{\"x\":1}"), "update#s1")
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.key.as_str(), a.fingerprint.as_str()),
            (b.key.as_str(), b.fingerprint.as_str())
        );
        assert_ne!(a.key, c.key);
        assert_eq!(a.key, d.key);
        assert_ne!(a.fingerprint, d.fingerprint);
        assert!(!a.key.contains("k-1"), "the client's key is stored hashed");
        assert_eq!(a.ttl, Duration::hours(24));
    }

    #[test]
    fn bad_keys_are_400s_naming_the_header() {
        for key in ["", " ", "a b", &"k".repeat(MAX_KEY_CHARS + 1)] {
            let err = from_request(&request(Some(key), "{}"), "s").unwrap_err();
            assert_eq!(err.status().as_u16(), 400, "{key:?}");
            assert!(err.to_string().contains("Idempotency-Key"));
        }
        assert!(from_request(&request(Some(&"k".repeat(MAX_KEY_CHARS)), "{}"), "s").is_ok());
    }
}
