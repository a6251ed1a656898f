//! The secrets themselves: one set, read by name from AWS Secrets Manager's JSON or, on a
//! developer's machine, from environment variables of the same names.

use crate::secrets::{KeyRing, SecretString};

/// Every name a secret set may hold. A name not listed is ignored with a warning (a key
/// staged for a later version), so a typo still shows up: the name it was meant to be
/// is then missing.
pub const NAMES: [&str; 5] = [
    "SERVICE_KEYS",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "CODE_HMAC_KEY",
    "WHATSAPP_ACCESS_TOKEN",
];

/// The service's secrets. Each is a ring of values: during a rotation the new value comes
/// first (it signs and stores) and the old one still verifies until it is removed.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    /// `SERVICE_KEYS`: `X-Service-Key` values of the sales agent.
    pub service_keys: KeyRing,
    /// `WHATSAPP_APP_SECRET`: signs the webhook and `POST /session/login`.
    pub whatsapp_app_secrets: KeyRing,
    /// `WHATSAPP_VERIFY_TOKEN`: Meta's webhook subscription handshake.
    pub whatsapp_verify_tokens: KeyRing,
    /// `CODE_HMAC_KEY`: codes and click-to-verify texts are stored as HMACs under the
    /// first; a code stored under another is still checked against it.
    pub code_keys: KeyRing,
    /// `WHATSAPP_ACCESS_TOKEN`: the Cloud API's bearer token (the function that sends
    /// codes only).
    pub whatsapp_access_token: Option<SecretString>,
}

/// How strictly a set is checked.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// Outside local development every secret is required and no `dev-` value (the
    /// public ones of config/dev.env) is accepted.
    pub strict: bool,
    /// This function sends codes, so it needs the access token.
    pub courier: bool,
}

/// What is wrong with a secret set. Names the secret, never shows a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ValueError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Secrets {
    /// Reads the set through `lookup` (each name's values, in order) and checks it.
    pub fn read(lookup: impl Fn(&str) -> Vec<String>, rules: Rules) -> Result<Self, ValueError> {
        let ring = |name: &'static str, min_len: usize| -> Result<KeyRing, ValueError> {
            let values = lookup(name);
            if values.iter().any(|v| v.chars().count() < min_len) {
                return Err(ValueError::Invalid {
                    name,
                    reason: format!("every value must be at least {min_len} characters"),
                });
            }
            if rules.strict {
                if values.is_empty() {
                    return Err(ValueError::Missing(name));
                }
                if values.iter().any(|v| v.starts_with("dev-")) {
                    return Err(ValueError::Invalid {
                        name,
                        reason: "holds a development value; set a real secret (or OMNISESSION_LOCAL_DEV=1 on a developer machine)".into(),
                    });
                }
            }
            Ok(KeyRing::new(
                values.into_iter().map(SecretString::new).collect(),
            ))
        };
        let whatsapp_access_token = if rules.courier {
            let mut tokens = ring("WHATSAPP_ACCESS_TOKEN", 1)?.into_values();
            if tokens.len() > 1 {
                return Err(ValueError::Invalid {
                    name: "WHATSAPP_ACCESS_TOKEN",
                    reason: "expected one token (codes are sent with it)".into(),
                });
            }
            Some(
                tokens
                    .pop()
                    .ok_or(ValueError::Missing("WHATSAPP_ACCESS_TOKEN"))?,
            )
        } else {
            None
        };
        Ok(Self {
            service_keys: ring("SERVICE_KEYS", 16)?,
            whatsapp_app_secrets: ring("WHATSAPP_APP_SECRET", 1)?,
            whatsapp_verify_tokens: ring("WHATSAPP_VERIFY_TOKEN", 1)?,
            code_keys: ring("CODE_HMAC_KEY", 32)?,
            whatsapp_access_token,
        })
    }
}

/// A value as written in an environment variable or a JSON string: comma-separated,
/// each trimmed, empty ones dropped.
pub fn split(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)], rules: Rules) -> Result<Secrets, ValueError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        Secrets::read(
            |name| map.get(name).map(|v| split(v)).unwrap_or_default(),
            rules,
        )
    }

    const STRICT: Rules = Rules {
        strict: true,
        courier: false,
    };
    const REAL: [(&str, &str); 4] = [
        (
            "SERVICE_KEYS",
            "service-key-0123456789, service-key-old-0123456789",
        ),
        ("WHATSAPP_APP_SECRET", "app-secret"),
        ("WHATSAPP_VERIFY_TOKEN", "verify-token"),
        ("CODE_HMAC_KEY", "code-hmac-key-0123456789abcdef-0123456789"),
    ];

    #[test]
    fn a_ring_keeps_every_value_in_order_the_first_one_current() {
        let secrets = read(&REAL, STRICT).unwrap();
        assert_eq!(
            secrets
                .service_keys
                .iter()
                .map(SecretString::expose)
                .collect::<Vec<_>>(),
            ["service-key-0123456789", "service-key-old-0123456789"]
        );
        assert!(secrets.service_keys.contains("service-key-old-0123456789"));
        assert_eq!(
            secrets.code_keys.current().map(SecretString::expose),
            Some("code-hmac-key-0123456789abcdef-0123456789")
        );
        assert!(secrets.whatsapp_access_token.is_none());
    }

    #[test]
    fn strict_rules_refuse_missing_and_development_values_by_name() {
        assert_eq!(
            read(&REAL[1..], STRICT).unwrap_err(),
            ValueError::Missing("SERVICE_KEYS")
        );
        let mut dev = REAL.to_vec();
        dev[1].1 = "dev-whatsapp-app-secret-00000001";
        let err = read(&dev, STRICT).unwrap_err().to_string();
        assert!(
            err.contains("WHATSAPP_APP_SECRET") && err.contains("development"),
            "{err}"
        );
        assert!(!err.contains("dev-whatsapp"), "a value leaked: {err}");
        let lenient = Rules {
            strict: false,
            courier: false,
        };
        assert!(read(&dev, lenient).is_ok());
        assert!(read(&[], lenient).is_ok());
    }

    #[test]
    fn short_keys_and_a_missing_or_second_access_token_are_refused() {
        let mut short = REAL.to_vec();
        short[3].1 = "too-short";
        assert!(
            read(&short, STRICT)
                .unwrap_err()
                .to_string()
                .contains("CODE_HMAC_KEY")
        );
        let courier = Rules {
            strict: true,
            courier: true,
        };
        assert_eq!(
            read(&REAL, courier).unwrap_err(),
            ValueError::Missing("WHATSAPP_ACCESS_TOKEN")
        );
        let mut two = REAL.to_vec();
        two.push(("WHATSAPP_ACCESS_TOKEN", "token-a,token-b"));
        assert!(read(&two, courier).is_err());
        two.pop();
        two.push(("WHATSAPP_ACCESS_TOKEN", "token-a"));
        assert_eq!(
            read(&two, courier)
                .unwrap()
                .whatsapp_access_token
                .map(|t| t.expose().to_string()),
            Some("token-a".to_string())
        );
    }
}
