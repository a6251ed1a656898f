//! Secrets that must never reach a log, and constant-time checks against them.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A string whose `Debug` and `Display` print `[redacted]`, so that a secret inside a
/// struct cannot end up in a log line by accident.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The only way to read the secret; grep for it when auditing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Compares two secrets in time that depends on neither their contents nor their lengths
/// (both sides are hashed to 32 bytes first).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let a = Sha256::digest(a);
    let b = Sha256::digest(b);
    a.ct_eq(&b).into()
}

/// A short, stable, non-reversible name for a value that must not be stored as it is
/// (a caller's address, which counters and guessing buckets are keyed by).
pub fn fingerprint(secret: &str) -> String {
    hex::encode(&Sha256::digest(secret.as_bytes())[..8])
}

/// The values of one secret, newest first: API keys (the sales agent's), or a key in
/// rotation (the new value signs, every value verifies). Checking a key looks at every
/// key in the ring, so timing tells nothing about which one, if any, was close.
#[derive(Clone, Debug, Default)]
pub struct KeyRing(Vec<SecretString>);

impl KeyRing {
    pub fn new(keys: Vec<SecretString>) -> Self {
        Self(keys)
    }

    pub fn contains(&self, presented: &str) -> bool {
        self.0.iter().fold(false, |found, key| {
            found | constant_time_eq(key.expose().as_bytes(), presented.as_bytes())
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value that signs and stores: the first.
    pub fn current(&self) -> Option<&SecretString> {
        self.0.first()
    }

    /// Every value, the current one first.
    pub fn iter(&self) -> impl Iterator<Item = &SecretString> {
        self.0.iter()
    }

    pub fn into_values(self) -> Vec<SecretString> {
        self.0
    }
}

/// Checks `X-Hub-Signature-256` against every app secret of the ring (two during a
/// rotation); none (not configured) verifies nothing.
pub fn signed_by_any(app_secrets: &KeyRing, body: &[u8], header: Option<&str>) -> bool {
    app_secrets.iter().fold(false, |valid, secret| {
        valid | valid_hub_signature(secret, body, header)
    })
}

/// Checks `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw body keyed with
/// the WhatsApp app secret (Meta's webhook signature, also used by our WhatsApp bot).
pub fn valid_hub_signature(app_secret: &SecretString, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.expose().as_bytes()) else {
        return false;
    };
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected).is_ok()
}

/// What a timed `/session/login` signature covers: `<X-Omnisession-Timestamp>.<raw body>`,
/// so that a captured request stops working once its timestamp is old.
pub fn timed_payload(timestamp: &str, body: &[u8]) -> Vec<u8> {
    [timestamp.as_bytes(), b".", body].concat()
}

/// The `X-Omnisession-Timestamp` and `X-Hub-Signature-256` values our WhatsApp bot sends
/// with a `/session/login` body signed at `signed_at` (epoch seconds).
pub fn sign_login(app_secret: &SecretString, body: &[u8], signed_at: i64) -> (String, String) {
    let signed_at = signed_at.to_string();
    let signature = hub_signature(app_secret, &timed_payload(&signed_at, body));
    (signed_at, signature)
}

/// The header value a signer sends; used by tests, the sample events and the WhatsApp bot.
pub fn hub_signature(app_secret: &SecretString, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = SecretString::new("hunter22");
        assert_eq!(format!("{s:?}"), "[redacted]");
    }

    #[test]
    fn a_key_ring_finds_only_its_keys() {
        let ring = KeyRing::new(vec![
            SecretString::new("kiosk-a"),
            SecretString::new("kiosk-b"),
        ]);
        assert!(ring.contains("kiosk-b"));
        assert!(!ring.contains("kiosk-c"));
        assert!(!ring.contains(""));
        assert!(!KeyRing::default().contains(""));
    }

    #[test]
    fn hub_signatures_verify_only_the_exact_body() {
        let secret = SecretString::new("app-secret");
        let sig = hub_signature(&secret, b"{\"a\":1}");
        assert!(valid_hub_signature(&secret, b"{\"a\":1}", Some(&sig)));
        assert!(!valid_hub_signature(&secret, b"{\"a\":2}", Some(&sig)));
        assert!(!valid_hub_signature(
            &SecretString::new("other"),
            b"{\"a\":1}",
            Some(&sig)
        ));
        assert!(!valid_hub_signature(&secret, b"{\"a\":1}", None));
        assert!(!valid_hub_signature(
            &secret,
            b"{\"a\":1}",
            Some("sha256=zz")
        ));
    }
}
