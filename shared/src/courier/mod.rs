//! Delivery of verification codes (docs/design.md §3 "Identities and proofs"): WhatsApp
//! first (an authentication template through Meta's Cloud API), SMS (Amazon SNS) when
//! asked for or when WhatsApp cannot deliver, all inside the caller's time budget.
//!
//! Only the function that sends codes builds a [`Courier`]; nothing here runs at the cold
//! start of the others. The code and the access token never reach a log line or an error.

mod config;
mod sms;
mod whatsapp;

use std::time::{Duration, Instant};

pub use config::{CourierConfig, DEFAULT_GRAPH_API_BASE};

use crate::phone::PhoneNumber;
use crate::secrets::SecretString;
use whatsapp::Failure;

/// How long a code stays valid, as the SMS text says (docs/design.md §5 "Codes").
pub const CODE_VALID_MINUTES: u32 = 10;

/// One WhatsApp attempt waits at most this long: the Graph API answers a send in well
/// under a second, so a slower one is more likely stuck than about to answer.
const WHATSAPP_ATTEMPT: Duration = Duration::from_secs(2);
/// An attempt with less time than this is not started.
const MIN_ATTEMPT: Duration = Duration::from_millis(250);
/// When SMS can take over, WhatsApp leaves it this much of the budget (a `Publish`
/// answers in a few hundred ms; the rest covers one SDK retry).
const SMS_RESERVE: Duration = Duration::from_millis(1500);

/// The channel a code is sent on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    WhatsApp,
    Sms,
}

/// Why a code was not delivered. Never holds the code, the access token or the phone.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the code is not 4 to 15 letters or digits")]
    BadCode,
    #[error("SMS is disabled (SMS_ENABLED=0)")]
    SmsDisabled,
    #[error(
        "the recipient cannot receive WhatsApp messages (Graph API error {code}) and SMS is disabled"
    )]
    NotOnWhatsApp { code: i64 },
    #[error("WhatsApp is unavailable: {0}")]
    WhatsAppUnavailable(String),
    #[error("WhatsApp refused the message: HTTP {status}, Graph API error {code:?}: {message}")]
    WhatsAppRejected {
        status: u16,
        code: Option<i64>,
        message: String,
    },
    #[error("SNS did not take the SMS: {0}")]
    Sms(String),
    #[error("the delivery budget was spent before an attempt could start")]
    OutOfTime,
}

impl From<Failure> for DeliveryError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::NotOnWhatsApp { code } => Self::NotOnWhatsApp { code },
            Failure::Transient(why) => Self::WhatsAppUnavailable(why),
            Failure::Rejected {
                status,
                code,
                message,
            } => Self::WhatsAppRejected {
                status,
                code,
                message,
            },
        }
    }
}

/// Sends codes. Cheap to build: the HTTPS client is made on the first WhatsApp send and
/// the SNS client does no I/O until it publishes.
pub struct Courier {
    whatsapp: whatsapp::WhatsApp,
    sms: Option<sms::Sms>,
}

impl Courier {
    pub fn new(config: CourierConfig, sdk: &aws_config::SdkConfig) -> Self {
        Self {
            whatsapp: whatsapp::WhatsApp::new(&config),
            sms: config.sms_enabled.then(|| sms::Sms::new(&config, sdk)),
        }
    }

    /// Sends `code` to `to` within `budget` and says which channel took it; WhatsApp's
    /// Cloud API is called with `token` (the current one of the refreshing secrets).
    ///
    /// - `Via::WhatsApp`: one WhatsApp attempt, and a second after a timeout, a dropped
    ///   connection or a 5xx if the budget allows (when SMS is enabled, WhatsApp leaves
    ///   it 1.5 s of the budget). When WhatsApp cannot deliver, for whatever reason (not a
    ///   WhatsApp user, unavailable, or a refusal such as an expired token or a missing
    ///   template), the code goes by SMS if SMS is enabled: the customer waiting for it
    ///   matters more than which channel carried it, and the log says why.
    /// - `Via::Sms`: SMS only. With SMS disabled this is [`DeliveryError::SmsDisabled`],
    ///   not a silent WhatsApp send: the caller asked for SMS (often because the customer
    ///   has no WhatsApp) and decides itself whether to offer WhatsApp instead.
    ///
    /// A WhatsApp attempt that timed out may still have been delivered, so a customer can
    /// now and then receive the same code twice (again, or also by SMS); never two codes.
    pub async fn send_code(
        &self,
        to: &PhoneNumber,
        code: &str,
        via: Via,
        token: &SecretString,
        budget: Duration,
    ) -> Result<Via, DeliveryError> {
        if !(4..=15).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(DeliveryError::BadCode);
        }
        let deadline = Deadline(Instant::now() + budget);
        match via {
            Via::Sms => {
                let sms = self.sms.as_ref().ok_or(DeliveryError::SmsDisabled)?;
                self.send_sms(sms, to, code, deadline).await
            }
            Via::WhatsApp => {
                let failure = match self.send_whatsapp(to, code, token, deadline).await {
                    Ok(()) => return Ok(Via::WhatsApp),
                    Err(failure) => failure,
                };
                let Some(sms) = &self.sms else {
                    tracing::warn!(error = %failure, "verification code not delivered by WhatsApp; SMS is disabled");
                    return Err(failure);
                };
                tracing::warn!(error = %failure, "verification code not delivered by WhatsApp; sending it by SMS");
                self.send_sms(sms, to, code, deadline).await
            }
        }
    }

    async fn send_whatsapp(
        &self,
        to: &PhoneNumber,
        code: &str,
        token: &SecretString,
        deadline: Deadline,
    ) -> Result<(), DeliveryError> {
        let reserve = if self.sms.is_some() {
            SMS_RESERVE
        } else {
            Duration::ZERO
        };
        let mut last = DeliveryError::OutOfTime;
        for attempt in 1..=2 {
            let Some(time) = deadline.slice(WHATSAPP_ATTEMPT, reserve) else {
                return Err(last);
            };
            match self.whatsapp.send(to, code, token, time).await {
                Ok(message_id) => {
                    tracing::info!(
                        via = "whatsapp",
                        attempt,
                        message_id = message_id.as_deref().unwrap_or("-"),
                        "verification code sent"
                    );
                    return Ok(());
                }
                Err(Failure::Transient(why)) => {
                    tracing::warn!(attempt, error = %why, "WhatsApp send failed");
                    last = DeliveryError::WhatsAppUnavailable(why);
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(last)
    }

    async fn send_sms(
        &self,
        sms: &sms::Sms,
        to: &PhoneNumber,
        code: &str,
        deadline: Deadline,
    ) -> Result<Via, DeliveryError> {
        let time = deadline
            .slice(Duration::MAX, Duration::ZERO)
            .ok_or(DeliveryError::OutOfTime)?;
        let message_id = sms.send(to, code, time).await.map_err(DeliveryError::Sms)?;
        tracing::info!(
            via = "sms",
            message_id = message_id.as_deref().unwrap_or("-"),
            "verification code sent"
        );
        Ok(Via::Sms)
    }
}

/// When the caller's budget ends.
#[derive(Clone, Copy)]
struct Deadline(Instant);

impl Deadline {
    /// The time an attempt may take: at most `cap`, leaving `reserve` of what remains;
    /// None when that is too short to be worth starting.
    fn slice(self, cap: Duration, reserve: Duration) -> Option<Duration> {
        let left = self.0.saturating_duration_since(Instant::now());
        Some(left.saturating_sub(reserve).min(cap)).filter(|t| *t >= MIN_ATTEMPT)
    }
}

/// `text` with each of `secrets` replaced and cut to a log-friendly length: for sentences
/// that come from outside (Meta's error message, an SDK error) and might quote a request.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut text = secrets
        .iter()
        .filter(|s| !s.is_empty())
        .fold(text.to_string(), |t, s| t.replace(s, "[redacted]"));
    if let Some((cut, _)) = text.char_indices().nth(300) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_reads_and_writes_lowercase() {
        assert_eq!(
            serde_json::to_string(&Via::WhatsApp).unwrap(),
            "\"whatsapp\""
        );
        assert_eq!(serde_json::from_str::<Via>("\"sms\"").unwrap(), Via::Sms);
        assert!(serde_json::from_str::<Via>("\"WhatsApp\"").is_err());
    }

    #[test]
    fn outside_sentences_lose_the_code_and_token_and_stay_short() {
        let said = "(#132000) param 123456 invalid for token EAAB-secret";
        let clean = scrub(said, &["123456", "EAAB-secret"]);
        assert!(
            !clean.contains("123456") && !clean.contains("EAAB-secret"),
            "{clean}"
        );
        assert!(scrub(&"é".repeat(1000), &[""]).chars().count() <= 301);
    }

    #[test]
    fn attempts_leave_the_sms_reserve_and_skip_slivers() {
        let deadline = Deadline(Instant::now() + Duration::from_secs(5));
        let t = deadline.slice(WHATSAPP_ATTEMPT, SMS_RESERVE).unwrap();
        assert_eq!(t, WHATSAPP_ATTEMPT);
        let deadline = Deadline(Instant::now() + Duration::from_millis(2000));
        let t = deadline.slice(WHATSAPP_ATTEMPT, SMS_RESERVE).unwrap();
        assert!(t <= Duration::from_millis(500) && t >= MIN_ATTEMPT, "{t:?}");
        let deadline = Deadline(Instant::now() + Duration::from_millis(1600));
        assert_eq!(deadline.slice(WHATSAPP_ATTEMPT, SMS_RESERVE), None);
        assert_eq!(
            Deadline(Instant::now()).slice(Duration::MAX, Duration::ZERO),
            None
        );
    }
}
