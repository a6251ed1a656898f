//! Configuration, read from environment variables once per cold start and validated
//! before the runtime takes its first event. Every variable is listed in README.md and
//! declared as a parameter in template.yaml.

use chrono::Duration;

use crate::phone::Region;
use crate::secrets::{KeyRing, SecretString};

#[derive(Clone, Debug)]
pub struct Tables {
    pub customers: String,
    pub sessions: String,
    pub messages: String,
    /// The kiosk registry (`omnisession-admin kiosk …`; see `kiosks`).
    pub kiosks: String,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub tables: Tables,
    /// Region used to read phone numbers written without a country code.
    pub phone_region: Region,
    pub bcrypt_cost: u32,
    /// `X-Service-Key` values of the sales agent.
    pub service_keys: KeyRing,
    /// Signs `POST /session/login` and the WhatsApp webhook (`X-Hub-Signature-256`).
    pub whatsapp_app_secret: SecretString,
    /// Meta's webhook verification handshake answers only this `hub.verify_token`.
    pub whatsapp_verify_token: SecretString,
    /// A session lives this long after its last activity (7 days).
    pub session_idle: Duration,
    /// ... but never longer than this after it started (30 days).
    pub session_max: Duration,
    /// A pure read slides the expiry at most this often (1 hour).
    pub touch_interval: Duration,
    /// How long a QR handoff code stays valid (at most 120 s).
    pub qr_ttl: Duration,
    /// Set locally to reach DynamoDB Local; unset in AWS.
    pub dynamodb_endpoint: Option<String>,
    /// Request bodies above this many bytes are refused with 413.
    pub max_body_bytes: usize,
    /// `OMNISESSION_LOCAL_DEV=1`: the development secrets of `config/dev.env` are accepted.
    pub local_dev: bool,
    /// `CUSTOMER_MEMORY_WRITES=all`: customer tokens may set the summary and recommended
    /// SKUs through `/session/update`, as old front ends did (default `none`: the agent's).
    pub customer_memory_writes: bool,
    /// `ACCEPT_UNTIMED_LOGIN_SIGNATURES=1`: a signed `/session/login` without
    /// `X-Omnisession-Timestamp` is still accepted (replayable; for old bots only).
    pub accept_untimed_login_signatures: bool,
    /// `KIOSK_PHONE_HISTORY`: what a kiosk login by typed phone sees of the session.
    pub kiosk_phone_history: KioskHistory,
    /// `CODE_HMAC_KEY`: verification codes and click-to-verify texts are stored only as
    /// HMACs under this key.
    pub code_key: SecretString,
    /// `WHATSAPP_BUSINESS_NUMBER`: the number customers write to (its digits, without
    /// `+`), which click-to-verify links open a chat with.
    pub whatsapp_business_number: Option<String>,
    /// How codes are delivered (WhatsApp's Cloud API, SNS): set where
    /// `WHATSAPP_PHONE_NUMBER_ID` is, which only the verify function's is in AWS.
    pub courier: Option<crate::courier::CourierConfig>,
}

/// What a kiosk login by typed phone (an asserted phone, `phone` level) sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KioskHistory {
    /// Everything, as the old service showed it (the default).
    Full,
    /// Nothing from before the login (chat, summary, SKUs, cart) until it is stepped up
    /// by a code, click-to-verify or the QR handoff.
    AfterProof,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Settings read through a lookup (the environment, or a test's map): trimmed, and empty
/// counts as unset. Every configuration of the service reads its variables with these.
pub(crate) struct Settings<F>(pub(crate) F);

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    /// `0` (or unset) or `1`.
    pub(crate) fn switch(&self, name: &'static str) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None | Some("0") => Ok(false),
            Some("1") => Ok(true),
            Some(_) => Err(ConfigError::Invalid {
                name,
                reason: "expected 0 or 1".into(),
            }),
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings(&lookup);
        let get = |name: &str| settings.get(name);
        let required = |name: &'static str| settings.required(name);
        let number =
            |name: &'static str, default: i64, min: i64, max: i64| -> Result<i64, ConfigError> {
                match get(name) {
                    None => Ok(default),
                    Some(v) => v
                        .parse::<i64>()
                        .ok()
                        .filter(|n| (min..=max).contains(n))
                        .ok_or_else(|| ConfigError::Invalid {
                            name,
                            reason: format!("expected a whole number from {min} to {max}"),
                        }),
                }
            };
        let keys = |name: &'static str| -> Result<KeyRing, ConfigError> {
            let keys: Vec<SecretString> = get(name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(SecretString::new)
                .collect();
            if keys.iter().any(|k| k.expose().len() < 16) {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "every key must be at least 16 characters".into(),
                });
            }
            Ok(KeyRing::new(keys))
        };

        let switch = |name: &'static str| settings.switch(name);
        let customer_memory_writes = match get("CUSTOMER_MEMORY_WRITES").as_deref() {
            None | Some("none") => false,
            Some("all") => true,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "CUSTOMER_MEMORY_WRITES",
                    reason: "expected \"none\" or \"all\"".into(),
                });
            }
        };

        let courier = match get("WHATSAPP_PHONE_NUMBER_ID") {
            Some(_) => Some(crate::courier::CourierConfig::from_lookup(&lookup)?),
            None => None,
        };
        let kiosk_phone_history = match get("KIOSK_PHONE_HISTORY").as_deref() {
            None | Some("full") => KioskHistory::Full,
            Some("after_proof") => KioskHistory::AfterProof,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "KIOSK_PHONE_HISTORY",
                    reason: "expected \"full\" or \"after_proof\"".into(),
                });
            }
        };
        let code_key = SecretString::new(get("CODE_HMAC_KEY").unwrap_or_default());
        if !code_key.expose().is_empty() && code_key.expose().len() < 32 {
            return Err(ConfigError::Invalid {
                name: "CODE_HMAC_KEY",
                reason: "must be at least 32 characters".into(),
            });
        }
        // Checked by shape, not parsed: phone metadata loads off the cold start's path.
        let whatsapp_business_number = get("WHATSAPP_BUSINESS_NUMBER")
            .map(|raw| {
                let digits = raw.trim_start_matches('+');
                if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(digits.to_string())
                } else {
                    Err(ConfigError::Invalid {
                        name: "WHATSAPP_BUSINESS_NUMBER",
                        reason: "expected an international number, e.g. +919800000000".into(),
                    })
                }
            })
            .transpose()?;

        let region_name = get("PHONE_DEFAULT_REGION").unwrap_or_else(|| "IN".into());
        let phone_region = region_name
            .to_ascii_uppercase()
            .parse::<Region>()
            .map_err(|_| ConfigError::Invalid {
                name: "PHONE_DEFAULT_REGION",
                reason: format!("{region_name:?} is not an ISO 3166 region code"),
            })?;

        let session_idle = Duration::hours(number("SESSION_IDLE_HOURS", 7 * 24, 1, 90 * 24)?);
        let session_max = Duration::hours(number("SESSION_MAX_HOURS", 30 * 24, 1, 365 * 24)?);
        if session_max < session_idle {
            return Err(ConfigError::Invalid {
                name: "SESSION_MAX_HOURS",
                reason: "must not be shorter than SESSION_IDLE_HOURS".into(),
            });
        }

        Ok(Self {
            tables: Tables {
                customers: required("CUSTOMERS_TABLE")?,
                sessions: required("SESSIONS_TABLE")?,
                messages: required("MESSAGES_TABLE")?,
                kiosks: required("KIOSKS_TABLE")?,
            },
            phone_region,
            bcrypt_cost: number("BCRYPT_COST", 12, 4, 31)? as u32,
            service_keys: keys("SERVICE_KEYS")?,
            whatsapp_app_secret: SecretString::new(get("WHATSAPP_APP_SECRET").unwrap_or_default()),
            whatsapp_verify_token: SecretString::new(
                get("WHATSAPP_VERIFY_TOKEN").unwrap_or_default(),
            ),
            session_idle,
            session_max,
            touch_interval: Duration::seconds(number(
                "SESSION_TOUCH_INTERVAL_SECS",
                3600,
                0,
                86_400,
            )?),
            qr_ttl: Duration::seconds(number("QR_TTL_SECS", 120, 10, 120)?),
            dynamodb_endpoint: get("DYNAMODB_ENDPOINT"),
            max_body_bytes: number("MAX_BODY_BYTES", 64 * 1024, 1024, 6 * 1024 * 1024)? as usize,
            local_dev: get("OMNISESSION_LOCAL_DEV").is_some_and(|v| v == "1" || v == "true"),
            customer_memory_writes,
            accept_untimed_login_signatures: switch("ACCEPT_UNTIMED_LOGIN_SIGNATURES")?,
            kiosk_phone_history,
            code_key,
            whatsapp_business_number,
            courier,
        })
    }

    /// A function must not run open: every secret must be set, and not to a development
    /// value (they all start with `dev-` and are public in `config/dev.env`), unless
    /// `OMNISESSION_LOCAL_DEV=1` says this is a developer's machine. A deploy without real
    /// secrets then fails at cold start with a log line naming the variable.
    pub fn require_real_secrets(&self) -> Result<(), ConfigError> {
        if let Some(courier) = &self.courier {
            courier.require_real_secrets(self.local_dev)?;
        }
        if self.local_dev {
            return Ok(());
        }
        let secrets: [(&'static str, Vec<&str>); 4] = [
            ("SERVICE_KEYS", self.service_keys.exposed()),
            (
                "WHATSAPP_APP_SECRET",
                vec![self.whatsapp_app_secret.expose()],
            ),
            (
                "WHATSAPP_VERIFY_TOKEN",
                vec![self.whatsapp_verify_token.expose()],
            ),
            ("CODE_HMAC_KEY", vec![self.code_key.expose()]),
        ];
        for (name, values) in secrets {
            if values.is_empty() || values.iter().any(|v| v.is_empty()) {
                return Err(ConfigError::Missing(name));
            }
            if values.iter().any(|v| v.starts_with("dev-")) {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "holds a development value; set a real secret (or OMNISESSION_LOCAL_DEV=1 on a developer machine)".into(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const TABLES: [(&str, &str); 4] = [
        ("CUSTOMERS_TABLE", "c"),
        ("SESSIONS_TABLE", "s"),
        ("MESSAGES_TABLE", "m"),
        ("KIOSKS_TABLE", "k"),
    ];

    #[test]
    fn defaults_follow_the_design() {
        let cfg = Config::from_lookup(lookup(&TABLES)).unwrap();
        assert_eq!(cfg.bcrypt_cost, 12);
        assert_eq!(cfg.session_idle, Duration::days(7));
        assert_eq!(cfg.session_max, Duration::days(30));
        assert_eq!(cfg.touch_interval, Duration::hours(1));
        assert_eq!(cfg.qr_ttl, Duration::seconds(120));
        assert_eq!(cfg.phone_region, Region::IN);
        assert!(!cfg.customer_memory_writes);
        assert!(!cfg.accept_untimed_login_signatures);
    }

    #[test]
    fn dev_or_missing_secrets_stop_a_deployed_function_but_not_a_dev_machine() {
        let dev = [
            ("SERVICE_KEYS", "dev-service-key-000000000000001"),
            ("WHATSAPP_APP_SECRET", "real-app-secret-0123456789"),
            ("WHATSAPP_VERIFY_TOKEN", "real-verify-token"),
            ("CODE_HMAC_KEY", "real-code-hmac-key-0123456789abcdef"),
        ];
        let cfg = Config::from_lookup(lookup(&[&TABLES[..], &dev[..]].concat())).unwrap();
        let err = cfg.require_real_secrets().unwrap_err().to_string();
        assert!(err.contains("SERVICE_KEYS"), "{err}");
        let missing = Config::from_lookup(lookup(&TABLES)).unwrap();
        assert!(
            missing
                .require_real_secrets()
                .unwrap_err()
                .to_string()
                .contains("SERVICE_KEYS")
        );
        let local = [&TABLES[..], &dev[..], &[("OMNISESSION_LOCAL_DEV", "1")]].concat();
        assert!(
            Config::from_lookup(lookup(&local))
                .unwrap()
                .require_real_secrets()
                .is_ok()
        );
        let mut real = dev.to_vec();
        real[0].1 = "service-key-0123456789abcdef";
        let cfg = Config::from_lookup(lookup(&[&TABLES[..], &real[..]].concat())).unwrap();
        assert!(cfg.require_real_secrets().is_ok());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = Config::from_lookup(lookup(&[])).unwrap_err();
        assert!(err.to_string().contains("CUSTOMERS_TABLE"));
        let err = Config::from_lookup(lookup(&TABLES[..3])).unwrap_err();
        assert!(err.to_string().contains("KIOSKS_TABLE"), "{err}");
        let mut bad = TABLES.to_vec();
        bad.push(("BCRYPT_COST", "3"));
        assert!(
            Config::from_lookup(lookup(&bad))
                .unwrap_err()
                .to_string()
                .contains("BCRYPT_COST")
        );
        let mut bad = TABLES.to_vec();
        bad.push(("SERVICE_KEYS", "short"));
        assert!(
            Config::from_lookup(lookup(&bad))
                .unwrap_err()
                .to_string()
                .contains("SERVICE_KEYS")
        );
        let mut bad = TABLES.to_vec();
        bad.push(("QR_TTL_SECS", "600"));
        assert!(
            Config::from_lookup(lookup(&bad))
                .unwrap_err()
                .to_string()
                .contains("QR_TTL_SECS")
        );
        let mut bad = TABLES.to_vec();
        bad.push(("PHONE_DEFAULT_REGION", "XX"));
        assert!(Config::from_lookup(lookup(&bad)).is_err());
        for (name, value) in [
            ("CUSTOMER_MEMORY_WRITES", "some"),
            ("ACCEPT_UNTIMED_LOGIN_SIGNATURES", "yes"),
        ] {
            let mut bad = TABLES.to_vec();
            bad.push((name, value));
            let err = Config::from_lookup(lookup(&bad)).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
