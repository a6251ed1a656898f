//! The real courier (`omnisession::courier`) against the local stand-in of WhatsApp's
//! Cloud API and SNS (`scripts/standin.py`, started per test process by the testkit): what
//! lands in the outbox, the fallbacks to SMS, the retry, and the time budget. No DynamoDB.

use std::time::{Duration, Instant};

use omnisession::courier::{Courier, CourierConfig, DeliveryError, Via};
use omnisession::phone::PhoneNumber;
use omnisession::secrets::SecretString;
use omnisession_testkit::setup;
use omnisession_testkit::standin::{local_sdk_config, standin};
use omnisession_testkit::unique_phone;
use serde_json::Value;

/// What a verify function would pass (its own hard limit is 9 s).
const BUDGET: Duration = Duration::from_secs(5);
/// Scheduling slack on top of a budget.
const MARGIN: Duration = Duration::from_millis(500);

/// config/dev.env's courier settings pointed at this process's stand-in, with `extra`.
async fn courier(extra: &[(&str, &str)]) -> Courier {
    let mut env = setup::dev_env("test").expect("config/dev.env");
    env.extend(standin().env());
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let config = CourierConfig::from_lookup(|k| env.get(k).cloned()).expect("courier config");
    Courier::new(config, &local_sdk_config().await)
}

/// config/dev.env's access token (the stand-in wants one, any).
fn token() -> SecretString {
    let env = setup::dev_env("test").expect("config/dev.env");
    SecretString::new(env["WHATSAPP_ACCESS_TOKEN"].clone())
}

fn phone() -> PhoneNumber {
    PhoneNumber::from_stored(unique_phone())
}

fn code() -> String {
    format!("{:06}", rand::random::<u32>() % 1_000_000)
}

fn outbox(to: &PhoneNumber) -> Vec<Value> {
    standin().outbox(to.as_str())
}

/// The one message `to` received: its channel and text.
fn only_message(to: &PhoneNumber) -> (String, String) {
    let lines = outbox(to);
    assert_eq!(lines.len(), 1, "expected one message, got {lines:?}");
    let line = &lines[0];
    assert_eq!(line["to"], to.as_str());
    assert!(
        line["at"].as_str().is_some_and(|at| at.ends_with('Z')),
        "{line}"
    );
    (
        line["via"].as_str().unwrap().to_string(),
        line["body"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn courier_whatsapp_delivers_the_code_in_one_message() {
    let (to, code) = (phone(), code());
    let via = courier(&[])
        .await
        .send_code(&to, &code, Via::WhatsApp, &token(), BUDGET)
        .await
        .unwrap();
    assert_eq!(via, Via::WhatsApp);
    let (channel, body) = only_message(&to);
    assert_eq!(channel, "whatsapp");
    assert!(
        body.starts_with(&format!("{code} is your verification code")),
        "{body}"
    );
    assert_eq!(standin().last_code(to.as_str()), Some(code));
}

#[tokio::test]
async fn courier_sms_is_transactional_from_the_configured_sender() {
    let (to, code) = (phone(), code());
    let courier = courier(&[("SMS_SENDER_ID", "OMNI")]).await;
    let via = courier
        .send_code(&to, &code, Via::Sms, &token(), BUDGET)
        .await
        .unwrap();
    assert_eq!(via, Via::Sms);
    let (channel, body) = only_message(&to);
    assert_eq!(channel, "sms");
    assert_eq!(
        body,
        format!("{code} is your verification code. It expires in 10 minutes.")
    );
    let attributes = &outbox(&to)[0]["attributes"];
    assert_eq!(attributes["AWS.SNS.SMS.SMSType"], "Transactional");
    assert_eq!(attributes["AWS.SNS.SMS.SenderID"], "OMNI");
}

#[tokio::test]
async fn courier_not_on_whatsapp_falls_back_to_sms() {
    let (to, code) = (phone(), code());
    standin().fail(to.as_str(), "whatsapp", "not_on_whatsapp", None);
    let via = courier(&[])
        .await
        .send_code(&to, &code, Via::WhatsApp, &token(), BUDGET)
        .await
        .unwrap();
    assert_eq!(via, Via::Sms);
    let (channel, body) = only_message(&to);
    assert_eq!(channel, "sms");
    assert!(body.starts_with(&code));
}

#[tokio::test]
async fn courier_retries_a_5xx_once_on_whatsapp() {
    let (to, code) = (phone(), code());
    standin().fail(to.as_str(), "whatsapp", "5xx", Some(1));
    let via = courier(&[])
        .await
        .send_code(&to, &code, Via::WhatsApp, &token(), BUDGET)
        .await
        .unwrap();
    assert_eq!(via, Via::WhatsApp);
    assert_eq!(only_message(&to).0, "whatsapp");
}

#[tokio::test]
async fn courier_whatsapp_down_falls_back_to_sms() {
    let (to, code) = (phone(), code());
    standin().fail(to.as_str(), "whatsapp", "5xx", None);
    let via = courier(&[])
        .await
        .send_code(&to, &code, Via::WhatsApp, &token(), BUDGET)
        .await
        .unwrap();
    assert_eq!(via, Via::Sms);
    assert_eq!(only_message(&to).0, "sms");
}

#[tokio::test]
async fn courier_a_silent_whatsapp_falls_back_to_sms_within_the_budget() {
    let (to, code) = (phone(), code());
    standin().fail(to.as_str(), "whatsapp", "timeout", None);
    let budget = Duration::from_secs(3);
    let started = Instant::now();
    let via = courier(&[])
        .await
        .send_code(&to, &code, Via::WhatsApp, &token(), budget)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(via, Via::Sms);
    assert!(elapsed < budget + MARGIN, "took {elapsed:?}");
    assert_eq!(only_message(&to).0, "sms");
}

#[tokio::test]
async fn courier_retries_after_a_whatsapp_timeout_when_the_budget_allows() {
    let (to, code) = (phone(), code());
    standin().fail(to.as_str(), "whatsapp", "timeout", Some(1));
    let budget = Duration::from_secs(3);
    let started = Instant::now();
    let via = courier(&[("SMS_ENABLED", "0")])
        .await
        .send_code(&to, &code, Via::WhatsApp, &token(), budget)
        .await
        .unwrap();
    assert_eq!(via, Via::WhatsApp);
    assert!(
        started.elapsed() < budget + MARGIN,
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(only_message(&to).0, "whatsapp");
}

#[tokio::test]
async fn courier_gives_up_within_the_budget_when_whatsapp_stays_silent_and_sms_is_off() {
    let (to, code) = (phone(), code());
    standin().fail(to.as_str(), "whatsapp", "timeout", None);
    let budget = Duration::from_millis(1500);
    let started = Instant::now();
    let err = courier(&[("SMS_ENABLED", "0")])
        .await
        .send_code(&to, &code, Via::WhatsApp, &token(), budget)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < budget + MARGIN,
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, DeliveryError::WhatsAppUnavailable(_)),
        "{err}"
    );
    assert!(!err.to_string().contains(&code));
    assert!(outbox(&to).is_empty());
}

#[tokio::test]
async fn courier_with_sms_disabled_reports_a_recipient_without_whatsapp() {
    let (to, code) = (phone(), code());
    standin().fail(to.as_str(), "whatsapp", "not_on_whatsapp", None);
    let courier = courier(&[("SMS_ENABLED", "0")]).await;
    let err = courier
        .send_code(&to, &code, Via::WhatsApp, &token(), BUDGET)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeliveryError::NotOnWhatsApp { code: 131026 }),
        "{err}"
    );
    let err = courier
        .send_code(&to, &code, Via::Sms, &token(), BUDGET)
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::SmsDisabled), "{err}");
    assert!(outbox(&to).is_empty());
}

#[tokio::test]
async fn courier_sms_outage_is_an_error_without_the_code() {
    let (to, code) = (phone(), code());
    standin().fail(to.as_str(), "sms", "5xx", None);
    let err = courier(&[])
        .await
        .send_code(&to, &code, Via::Sms, &token(), BUDGET)
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Sms(_)), "{err}");
    assert!(!err.to_string().contains(&code), "{err}");
    assert!(outbox(&to).is_empty());
}

#[tokio::test]
async fn courier_never_puts_the_access_token_in_a_message() {
    let token = token();
    let (to, code) = (phone(), code());
    let courier = courier(&[]).await;
    courier
        .send_code(&to, &code, Via::WhatsApp, &token, BUDGET)
        .await
        .unwrap();
    courier
        .send_code(&to, &code, Via::Sms, &token, BUDGET)
        .await
        .unwrap();
    let lines = outbox(&to);
    assert_eq!(lines.len(), 2);
    let text = serde_json::to_string(&lines).unwrap();
    assert!(!text.contains(token.expose()), "{text}");
    assert!(!text.contains("Bearer"), "{text}");
}
