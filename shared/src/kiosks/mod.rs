//! The kiosk registry: which `X-Kiosk-Key`s are live, and which kiosk (and store) each one
//! belongs to.
//!
//! Kiosks are items of their own table (`KIOSKS_TABLE`), which operators change with
//! `omnisession-admin kiosk add|list|revoke|rotate`; a key exists in clear only in the
//! output of the `add` or `rotate` that made it, and the table keeps its SHA-256 alone.
//! This module is the record, its checks and the keys (what the admin tool uses); the
//! functions look keys up in their per-instance copy of the table, [`Kiosks`] (`cache`).

mod cache;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secrets::SecretString;

pub use cache::{CacheAges, Kiosks};

/// A registered, active kiosk, as a request presenting its key is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kiosk {
    pub id: String,
    /// The store the kiosk stands in: recorded with its logins, so the sales agent sees
    /// which stores a customer visited.
    pub store: String,
}

/// A kiosk as the registry stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KioskRecord {
    pub kiosk_id: String,
    pub store: String,
    pub label: String,
    /// SHA-256 (hex) of the key, never the key.
    pub key_hash: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Set once revoked: the key is refused from then on (within [`CacheAges::max_age`]),
    /// and `kiosk revoke` ends the logins the kiosk made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// When the key was last replaced by `kiosk rotate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<String>,
}

impl KioskRecord {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }

    pub fn kiosk(&self) -> Kiosk {
        Kiosk {
            id: self.kiosk_id.clone(),
            store: self.store.clone(),
        }
    }
}

/// The stored form of a key. One fast hash, not bcrypt: every key the registry makes is
/// 256 random bits ([`generate_key`]), which no amount of hashing speed lets anyone guess
/// back from a leaked table, and a slow hash would cost every kiosk request CPU time. The
/// few keys an operator brings (`--key-from-env`) must be long ([`MIN_GIVEN_KEY_CHARS`]).
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new kiosk key: 256 random bits, URL-safe base64 (43 characters).
pub fn generate_key() -> SecretString {
    SecretString::new(URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()))
}

/// An id for a kiosk the operator did not name: `kiosk-` and 8 random hex digits.
pub fn generate_id() -> String {
    format!("kiosk-{}", hex::encode(rand::random::<[u8; 4]>()))
}

/// A key an operator brings instead of a generated one (the development kiosk, or a key
/// already configured in a kiosk when moving it into the registry) must be at least this
/// long.
pub const MIN_GIVEN_KEY_CHARS: usize = 24;
/// No registered key is longer: a longer `X-Kiosk-Key` is refused without a lookup.
pub const MAX_KEY_CHARS: usize = 256;

/// Checks a kiosk id: 1 to 32 lowercase letters, digits and `-`, starting with a letter or
/// a digit. It appears in item keys of the sessions table (`lockout#qr-verify#<id>…`,
/// `rate#code#kiosk#<id>#…`), which an erasure's sweep matches by substring against
/// phones (`+…`), customer ids (`cus_…`), WhatsApp user ids (upper case, `.`) and
/// session ids (32 hex digits): this alphabet and length cannot hold the first three, and
/// hold a session id only by a 2^-128 coincidence.
pub fn check_id(id: &str) -> Result<(), String> {
    check_slug("kiosk id", id, 32)
}

/// Checks a store code: 1 to 40 lowercase letters, digits and `-`, starting with a letter
/// or a digit (e.g. `blr-indiranagar`). The sales agent sees it as it is written.
pub fn check_store(store: &str) -> Result<(), String> {
    check_slug("store", store, 40)
}

/// Checks a label (what an operator calls the kiosk, e.g. "Till 2, ground floor"): 1 to
/// 80 characters, no control characters, no leading or trailing spaces.
pub fn check_label(label: &str) -> Result<(), String> {
    let chars = label.chars().count();
    if chars == 0 || chars > 80 {
        return Err(format!("label must be 1 to 80 characters, not {chars}"));
    }
    if label.chars().any(char::is_control) {
        return Err("label must not contain control characters (tabs, newlines…)".into());
    }
    if label.trim() != label {
        return Err("label must not start or end with spaces".into());
    }
    Ok(())
}

fn check_slug(what: &str, value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() || value.len() > max {
        return Err(format!(
            "{what} must be 1 to {max} characters, not {}",
            value.chars().count()
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "{what} {value:?} may only hold lowercase letters a-z, digits and '-'"
        ));
    }
    if value.starts_with('-') {
        return Err(format!(
            "{what} {value:?} must start with a letter or a digit"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stores_and_labels_are_checked_with_a_reason() {
        for good in ["dev-kiosk", "k1", "blr-indiranagar-2", &"a".repeat(32)] {
            assert_eq!(check_id(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("", "1 to 32"),
            (&"a".repeat(33), "1 to 32"),
            ("Till-1", "lowercase"),
            ("till_1", "lowercase"),
            ("till 1", "lowercase"),
            ("+919876543210", "lowercase"),
            ("-till", "start with"),
        ] {
            let err = check_id(bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
        assert!(check_id(&generate_id()).is_ok());
        assert!(check_store("blr-indiranagar").is_ok());
        assert!(check_store("BLR").unwrap_err().contains("store"));
        assert!(check_label("Till 2, ground floor — près de l'entrée").is_ok());
        for bad in ["", " padded", "two\nlines", &"x".repeat(81)] {
            assert!(check_label(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generated_keys_are_long_random_and_stored_only_as_their_hash() {
        let (a, b) = (generate_key(), generate_key());
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().len() >= MIN_GIVEN_KEY_CHARS);
        let hash = key_hash(a.expose());
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(a.expose()));
    }
}
