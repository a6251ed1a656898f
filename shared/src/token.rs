//! Session tokens: one per login, bound to the shared session, stored only as a hash.
//!
//! A token reads `<session_id>.<token_id>.<secret>`. The session id lets a check find
//! the session with one strongly consistent read; the token id names the login inside
//! the session (so one channel can log out alone); the secret is 256 bits from a CSPRNG
//! and only its SHA-256 is stored.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secrets::SecretString;

/// How a login was proven. Phone-level logins (WhatsApp, a kiosk entering a phone) may
/// chat and use the session; account changes need a password-level login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Phone,
    Password,
}

/// A session id: 128 random bits as 32 lowercase hex characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    pub fn generate() -> Self {
        Self(hex::encode(rand::random::<[u8; 16]>()))
    }

    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 32 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A freshly issued token: the value goes to the client once, the hash to the table.
pub struct IssuedToken {
    pub value: SecretString,
    pub token_id: String,
    pub hash: String,
}

impl IssuedToken {
    pub fn issue(session_id: &SessionId) -> Self {
        let token_id = hex::encode(rand::random::<[u8; 8]>());
        let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let value = format!("{session_id}.{token_id}.{secret}");
        let hash = hash(&value);
        Self {
            value: SecretString::new(value),
            token_id,
            hash,
        }
    }
}

/// A token as a client presented it, split but not yet checked against the table.
pub struct PresentedToken {
    pub session_id: SessionId,
    pub token_id: String,
    value: SecretString,
}

impl PresentedToken {
    /// `None` for anything that cannot be one of our tokens; the caller answers 401.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if raw.len() > 128 {
            return None;
        }
        let mut parts = raw.split('.');
        let (sid, tid, secret) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some()
            || tid.len() != 16
            || !tid.bytes().all(|b| b.is_ascii_hexdigit())
            || secret.len() != 43
        {
            return None;
        }
        Some(Self {
            session_id: SessionId::parse(sid)?,
            token_id: tid.to_string(),
            value: SecretString::new(raw),
        })
    }

    /// Compares with the stored hash in constant time.
    pub fn matches(&self, stored_hash: &str) -> bool {
        hash(self.value.expose())
            .as_bytes()
            .ct_eq(stored_hash.as_bytes())
            .into()
    }
}

/// A QR handoff code: 160 random bits, single use, stored only as its hash.
pub struct QrToken {
    pub value: SecretString,
    pub hash: String,
}

impl QrToken {
    const BYTES: usize = 20;
    const CHARS: usize = 27; // base64url of 20 bytes, unpadded

    pub fn issue() -> Self {
        let value = URL_SAFE_NO_PAD.encode(rand::random::<[u8; Self::BYTES]>());
        let hash = hash(&value);
        Self {
            value: SecretString::new(value),
            hash,
        }
    }

    /// The hash to look a presented code up by; `None` when it cannot be one of ours.
    pub fn hash_of_presented(raw: &str) -> Option<String> {
        let raw = raw.trim();
        let well_formed = raw.len() == Self::CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| hash(raw))
    }
}

fn hash(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_parses_and_matches_only_its_own_hash() {
        let sid = SessionId::generate();
        let issued = IssuedToken::issue(&sid);
        let presented = PresentedToken::parse(issued.value.expose()).unwrap();
        assert_eq!(presented.session_id, sid);
        assert_eq!(presented.token_id, issued.token_id);
        assert!(presented.matches(&issued.hash));
        let other = IssuedToken::issue(&sid);
        assert!(!presented.matches(&other.hash));
    }

    #[test]
    fn tokens_carry_256_bits_and_the_hash_is_not_the_token() {
        let issued = IssuedToken::issue(&SessionId::generate());
        let secret = issued.value.expose().rsplit('.').next().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(secret).unwrap().len(), 32);
        assert!(!issued.hash.contains(secret));
    }

    #[test]
    fn qr_tokens_carry_160_bits_and_are_looked_up_by_hash() {
        let qr = QrToken::issue();
        assert_eq!(URL_SAFE_NO_PAD.decode(qr.value.expose()).unwrap().len(), 20);
        assert_eq!(
            QrToken::hash_of_presented(qr.value.expose()),
            Some(qr.hash.clone())
        );
        assert_eq!(QrToken::hash_of_presented("short"), None);
        assert_eq!(QrToken::hash_of_presented(&"!".repeat(27)), None);
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for bad in ["", "abc", "a.b.c", &"x".repeat(500), "..", "0.0.0.0"] {
            assert!(PresentedToken::parse(bad).is_none(), "{bad}");
        }
    }
}
