//! Configuration, read from environment variables once per cold start and validated
//! before the runtime takes its first event. Every variable is listed in README.md and
//! declared as a parameter in template.yaml.

use chrono::Duration;

use crate::phone::Region;
use crate::vault::{self, Rules, Secrets, ValueError};

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
    /// Where the secrets come from (`SECRETS`): AWS Secrets Manager, or environment
    /// variables on a developer's machine.
    pub secrets: SecretSource,
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
    /// `WHATSAPP_BUSINESS_NUMBER`: the number customers write to (its digits, without
    /// `+`), which click-to-verify links open a chat with.
    pub whatsapp_business_number: Option<String>,
    /// How codes are delivered (WhatsApp's Cloud API, SNS): set where
    /// `WHATSAPP_PHONE_NUMBER_ID` is, which only the verify function's is in AWS.
    pub courier: Option<crate::courier::CourierConfig>,
    /// `METRICS_NAMESPACE`: the CloudWatch namespace of the functions' metrics.
    pub metrics_namespace: String,
}

/// Where a function's secrets come from.
#[derive(Clone, Debug)]
pub enum SecretSource {
    /// `SECRETS` unset: `SERVICE_KEYS`, `WHATSAPP_APP_SECRET` and the other names of
    /// [`vault::NAMES`] are environment variables. Only with `OMNISESSION_LOCAL_DEV=1`.
    Environment(Secrets),
    /// `SECRETS`: the ids (ARNs) of AWS Secrets Manager secrets, re-read every
    /// `SECRETS_REFRESH_SECS`; `SECRETS_MANAGER_ENDPOINT` reaches a local stand-in.
    Manager {
        ids: Vec<String>,
        refresh: std::time::Duration,
        endpoint: Option<String>,
    },
}

impl SecretSource {
    /// How strictly the secrets are checked when they are read.
    pub fn rules(local_dev: bool, courier: bool) -> Rules {
        Rules {
            strict: !local_dev,
            courier,
        }
    }
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
        let local_dev = get("OMNISESSION_LOCAL_DEV").is_some_and(|v| v == "1" || v == "true");
        let secrets = match get("SECRETS") {
            Some(ids) => SecretSource::Manager {
                ids: vault::split(&ids),
                refresh: std::time::Duration::from_secs(number(
                    "SECRETS_REFRESH_SECS",
                    300,
                    1,
                    3600,
                )? as u64),
                endpoint: get("SECRETS_MANAGER_ENDPOINT"),
            },
            // Checked leniently here (shapes only, nothing required): outside local
            // development `require_real_secrets` refuses secrets in environment variables
            // altogether, and its error, not "set WHATSAPP_ACCESS_TOKEN", is the one a
            // deployed function must print.
            None => SecretSource::Environment(
                Secrets::read(
                    |name| get(name).map(|v| vault::split(&v)).unwrap_or_default(),
                    Rules {
                        strict: false,
                        courier: courier.is_some() && local_dev,
                    },
                )
                .map_err(|err| match err {
                    ValueError::Missing(name) => ConfigError::Missing(name),
                    ValueError::Invalid { name, reason } => ConfigError::Invalid { name, reason },
                })?,
            ),
        };
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

        let metrics_namespace = metrics_namespace(get("METRICS_NAMESPACE"))?;
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
            secrets,
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
            local_dev,
            customer_memory_writes,
            accept_untimed_login_signatures: switch("ACCEPT_UNTIMED_LOGIN_SIGNATURES")?,
            kiosk_phone_history,
            whatsapp_business_number,
            courier,
            metrics_namespace,
        })
    }

    /// A function must not run open: every secret must be set, and not to a development
    /// value (they all start with `dev-` and are public in `config/dev.env`), unless
    /// `OMNISESSION_LOCAL_DEV=1` says this is a developer's machine. Anywhere else the
    /// secrets come from Secrets Manager (checked strictly as they are read, see
    /// [`crate::vault`]) and a deploy without them fails at cold start with a log line
    /// naming the variable.
    pub fn require_real_secrets(&self) -> Result<(), ConfigError> {
        if self.local_dev {
            return Ok(());
        }
        if let SecretSource::Environment(_) = self.secrets {
            return Err(ConfigError::Invalid {
                name: "SECRETS",
                reason: "must name the AWS Secrets Manager secrets (their ARNs, comma-separated); only a developer's machine (OMNISESSION_LOCAL_DEV=1) reads secrets from environment variables".into(),
            });
        }
        Ok(())
    }
}

/// A namespace CloudWatch accepts (else every metric would be dropped without a word):
/// 1–255 of letters, digits and `.-_/#: `, not starting with `AWS/`.
fn metrics_namespace(value: Option<String>) -> Result<String, ConfigError> {
    let Some(namespace) = value else {
        return Ok(crate::metrics::DEFAULT_NAMESPACE.to_string());
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
    if namespace.len() > 255 || !namespace.chars().all(allowed) || namespace.starts_with("AWS/") {
        return Err(ConfigError::Invalid {
            name: "METRICS_NAMESPACE",
            reason: "expected up to 255 letters, digits and . - _ / # : or spaces, not starting with AWS/".into(),
        });
    }
    Ok(namespace)
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
        assert_eq!(cfg.metrics_namespace, "omnisession");
        let stack = [&TABLES[..], &[("METRICS_NAMESPACE", "omnisession/prod-1")]].concat();
        let cfg = Config::from_lookup(lookup(&stack)).unwrap();
        assert_eq!(cfg.metrics_namespace, "omnisession/prod-1");
    }

    #[test]
    fn secrets_in_environment_variables_stop_a_deployed_function_but_not_a_dev_machine() {
        let real = [
            ("SERVICE_KEYS", "real-service-key-0123456789"),
            ("WHATSAPP_APP_SECRET", "real-app-secret-0123456789"),
            ("WHATSAPP_VERIFY_TOKEN", "real-verify-token"),
            ("CODE_HMAC_KEY", "real-code-hmac-key-0123456789abcdef"),
        ];
        let cfg = Config::from_lookup(lookup(&[&TABLES[..], &real[..]].concat())).unwrap();
        let err = cfg.require_real_secrets().unwrap_err().to_string();
        assert!(err.contains("SECRETS"), "{err}");
        // The function that sends codes, deployed without SECRETS: told to name its
        // secrets, not to put the access token into a variable.
        let courier = [("WHATSAPP_PHONE_NUMBER_ID", "100000000000001")];
        let cfg = Config::from_lookup(lookup(&[&TABLES[..], &courier[..]].concat())).unwrap();
        let err = cfg.require_real_secrets().unwrap_err().to_string();
        assert!(err.contains("SECRETS"), "{err}");
        let local = [&TABLES[..], &real[..], &[("OMNISESSION_LOCAL_DEV", "1")]].concat();
        let cfg = Config::from_lookup(lookup(&local)).unwrap();
        assert!(cfg.require_real_secrets().is_ok());
        let SecretSource::Environment(secrets) = &cfg.secrets else {
            panic!("expected the environment's secrets");
        };
        assert!(secrets.service_keys.contains("real-service-key-0123456789"));

        let managed = [
            &TABLES[..],
            &[(
                "SECRETS",
                "arn:aws:secretsmanager:ap-south-1:1:secret:a, arn:b",
            )],
        ]
        .concat();
        let cfg = Config::from_lookup(lookup(&managed)).unwrap();
        assert!(cfg.require_real_secrets().is_ok());
        let SecretSource::Manager { ids, refresh, .. } = &cfg.secrets else {
            panic!("expected Secrets Manager");
        };
        assert_eq!(
            ids,
            &["arn:aws:secretsmanager:ap-south-1:1:secret:a", "arn:b"]
        );
        assert_eq!(refresh.as_secs(), 300);
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
            ("METRICS_NAMESPACE", "AWS/Lambda"),
            ("METRICS_NAMESPACE", "omnisession\nsecond line"),
        ] {
            let mut bad = TABLES.to_vec();
            bad.push((name, value));
            let err = Config::from_lookup(lookup(&bad)).unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
