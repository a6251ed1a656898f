//! Password policy and bcrypt, always off the async executor.

use tokio::sync::OnceCell;

use crate::secrets::SecretString;

/// Minimum length in characters, as the old service had it.
pub const MIN_CHARS: usize = 6;
/// bcrypt reads at most 72 bytes; longer passwords are refused, never truncated.
pub const MAX_BYTES: usize = 72;

/// A password that meets the policy. Whitespace is kept as typed; any Unicode is allowed.
#[derive(Clone, Debug)]
pub struct Password(SecretString);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("must be at least {MIN_CHARS} characters")]
    TooShort,
    #[error("must be at most {MAX_BYTES} bytes (bcrypt would silently ignore the rest)")]
    TooLong,
    #[error("is one of the most common passwords; choose a less guessable one")]
    Common,
}

impl Password {
    pub fn parse(raw: String) -> Result<Self, PasswordError> {
        if raw.len() > MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        if raw.chars().count() < MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        Ok(Self(SecretString::new(raw)))
    }

    /// A password a customer chooses (signup, a password change): the policy, and not one
    /// of the most common passwords.
    pub fn parse_new(raw: String) -> Result<Self, PasswordError> {
        let password = Self::parse(raw)?;
        if password.is_common() {
            return Err(PasswordError::Common);
        }
        Ok(password)
    }

    /// For login, where the policy must not reveal anything: any non-empty string that
    /// bcrypt can take is checked, and a mismatch is the same 401 as an unknown phone.
    pub fn for_login(raw: String) -> Result<Self, PasswordError> {
        if raw.len() > MAX_BYTES {
            return Err(PasswordError::TooLong);
        }
        if raw.is_empty() {
            return Err(PasswordError::TooShort);
        }
        Ok(Self(SecretString::new(raw)))
    }
}

/// The most common passwords of at least six characters, lower-cased: the top 10 000 of
/// the frequency list that ships with zxcvbn (MIT), itself drawn from public password leaks.
const COMMON: &str = include_str!("common-passwords.txt");

impl Password {
    /// Whether this is one of the most common passwords (compared without case), which
    /// [`Password::parse_new`] refuses: they are the first an attacker tries.
    pub fn is_common(&self) -> bool {
        static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
            std::sync::OnceLock::new();
        let set = SET.get_or_init(|| COMMON.lines().collect());
        set.contains(self.0.expose().to_lowercase().as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// bcrypt at the configured cost. The policy has already refused anything over 72 bytes,
/// so bcrypt's own 72-byte limit never cuts a password (its `non_truncating_*` variants
/// would also refuse exactly 72 bytes, counting the terminating NUL). Holds a dummy hash of the same cost so that a login
/// for an unknown phone costs the same time as a wrong password.
pub struct Passwords {
    cost: u32,
    dummy: OnceCell<String>,
}

impl Passwords {
    pub fn new(cost: u32) -> Self {
        Self {
            cost,
            dummy: OnceCell::new(),
        }
    }

    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let secret = password.0.clone();
        let cost = self.cost;
        tokio::task::spawn_blocking(move || bcrypt::hash(secret.expose(), cost))
            .await
            .map_err(|e| HashError(e.to_string()))?
            .map_err(|e| HashError(e.to_string()))
    }

    /// `true` only when `stored` is a hash of `password`. With no stored hash (unknown
    /// phone, or a customer who never set a password) a dummy hash is verified instead,
    /// so the answer takes as long as a real check.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> bool {
        let (hash, real) = match stored {
            Some(h) => (h.to_string(), true),
            None => match self.dummy_hash().await {
                Some(h) => (h.to_string(), false),
                None => return false,
            },
        };
        let secret = password.0.clone();
        let ok = tokio::task::spawn_blocking(move || {
            bcrypt::verify(secret.expose(), &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        ok && real
    }

    async fn dummy_hash(&self) -> Option<&String> {
        let cost = self.cost;
        self.dummy
            .get_or_try_init(|| async move {
                let random = hex::encode(rand::random::<[u8; 16]>());
                tokio::task::spawn_blocking(move || bcrypt::hash(random, cost))
                    .await
                    .map_err(|_| ())?
                    .map_err(|_| ())
            })
            .await
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_counts_characters_and_bytes() {
        assert_eq!(
            Password::parse("12345".into()).unwrap_err(),
            PasswordError::TooShort
        );
        assert!(Password::parse("test123".into()).is_ok());
        assert!(Password::parse("a".repeat(72)).is_ok());
        assert_eq!(
            Password::parse("a".repeat(73)).unwrap_err(),
            PasswordError::TooLong
        );
        // Six characters, twelve bytes: long enough.
        assert!(Password::parse("éééééé".into()).is_ok());
        // 25 three-byte characters are 75 bytes: too long although only 25 characters.
        assert_eq!(
            Password::parse("€".repeat(25)).unwrap_err(),
            PasswordError::TooLong
        );
    }

    #[test]
    fn the_most_common_passwords_are_known_whatever_their_case() {
        for common in ["password", "PassWord1", "qwerty123", "iloveyou"] {
            assert!(
                Password::parse(common.into()).unwrap().is_common(),
                "{common}"
            );
        }
        assert!(
            !Password::parse("correct horse battery".into())
                .unwrap()
                .is_common()
        );
    }

    #[tokio::test]
    async fn a_72_byte_password_hashes_and_only_it_verifies() {
        let passwords = Passwords::new(4);
        let full = Password::parse("q".repeat(72)).unwrap();
        let hash = passwords.hash(&full).await.unwrap();
        assert!(passwords.verify(&full, Some(&hash)).await);
        let shorter = Password::parse("q".repeat(71)).unwrap();
        assert!(!passwords.verify(&shorter, Some(&hash)).await);
    }

    #[tokio::test]
    async fn hashes_verify_and_whitespace_matters() {
        let passwords = Passwords::new(4);
        let pw = Password::parse(" pass word ".into()).unwrap();
        let hash = passwords.hash(&pw).await.unwrap();
        assert!(!hash.contains("pass word"));
        assert!(passwords.verify(&pw, Some(&hash)).await);
        let trimmed = Password::parse("pass word".into()).unwrap();
        assert!(!passwords.verify(&trimmed, Some(&hash)).await);
        assert!(!passwords.verify(&pw, None).await);
    }
}
