//! Secrets from AWS Secrets Manager (`omnisession::vault`), read by the real client from
//! this test process's stand-in as a deployed function reads them: once at cold start,
//! again every `SECRETS_REFRESH_SECS` (1 s here) without a restart, two values of a key
//! valid during a rotation, and a bad or unreadable secret that keeps the values in hand.

use std::time::Duration;

use omnisession::config::Config;
use omnisession::secrets::{SecretString, hub_signature};
use omnisession::vault::VaultError;
use omnisession_testkit::standin::standin;
use omnisession_testkit::unique_phone;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::iam::Iam;

const KEY_A: &str = "service-key-a-000000000001";
const KEY_B: &str = "service-key-b-000000000002";
const APP_SECRET: &str = "app-secret-0000000000000001";
const CODE_KEY_1: &str = "code-hmac-key-one-000000000000000001";
const CODE_KEY_2: &str = "code-hmac-key-two-000000000000000002";

/// A secret set as an operator puts it, with these service keys and code keys.
fn secret(service_keys: Value, code_keys: Value) -> Value {
    json!({
        "SERVICE_KEYS": service_keys,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "verify-token-0001",
        "CODE_HMAC_KEY": code_keys,
        // The in-process functions include the one that sends codes.
        "WHATSAPP_ACCESS_TOKEN": "access-token-0001",
    })
}

/// What the agent gets with `key` for a session that does not exist: 404 with a
/// registered key, 401 without.
async fn agent_with(app: &App, key: &str) -> u16 {
    let sid = hex::encode(rand::random::<[u8; 16]>());
    let req = with_header(
        memory_event("session-sid-summary-get", &sid),
        "x-service-key",
        key,
    );
    app.send(req).await.status
}

/// Past the refresh interval (1 s).
async fn after_refresh() {
    tokio::time::sleep(Duration::from_millis(1200)).await;
}

#[tokio::test]
async fn a_rotated_service_key_is_picked_up_without_a_restart_and_both_work_meanwhile() {
    let app = App::with_secrets_manager(&secret(json!(KEY_A), json!(CODE_KEY_1)), &[]).await;
    assert_eq!(agent_with(&app, KEY_A).await, 404);
    assert_eq!(agent_with(&app, KEY_B).await, 401);

    // The rotation starts: the new key first, the old one still there.
    standin().put_secret(
        KEYS_SECRET,
        &secret(json!([KEY_B, KEY_A]), json!(CODE_KEY_1)),
    );
    after_refresh().await;
    assert_eq!(agent_with(&app, KEY_B).await, 404, "the new key");
    assert_eq!(
        agent_with(&app, KEY_A).await,
        404,
        "the old key, during the rotation"
    );

    // And ends: the old key goes.
    standin().put_secret(KEYS_SECRET, &secret(json!(KEY_B), json!(CODE_KEY_1)));
    after_refresh().await;
    assert_eq!(
        agent_with(&app, KEY_A).await,
        401,
        "the old key, after the rotation"
    );
    assert_eq!(agent_with(&app, KEY_B).await, 404);
}

#[tokio::test]
async fn a_bad_or_unreadable_secret_keeps_the_values_in_hand() {
    let app = App::with_secrets_manager(&secret(json!(KEY_A), json!(CODE_KEY_1)), &[]).await;

    // Not JSON, then a key too short: neither replaces the keys in hand.
    standin().put_secret(KEYS_SECRET, &json!("not an object"));
    after_refresh().await;
    assert_eq!(agent_with(&app, KEY_A).await, 404);
    standin().put_secret(KEYS_SECRET, &secret(json!("short"), json!(CODE_KEY_1)));
    after_refresh().await;
    assert_eq!(agent_with(&app, KEY_A).await, 404);

    // Secrets Manager failing: the same (and the request still answers).
    standin().put_secret(KEYS_SECRET, &secret(json!(KEY_B), json!(CODE_KEY_1)));
    standin().fail_secret(KEYS_SECRET, "5xx", None);
    after_refresh().await;
    assert_eq!(agent_with(&app, KEY_A).await, 404);
    assert_eq!(agent_with(&app, KEY_B).await, 401);

    // Secrets Manager not answering: the request that refreshes gives up after a second
    // (the SDK alone would wait 5 s) and answers with the keys in hand.
    standin().fail_secret(KEYS_SECRET, "timeout", None);
    after_refresh().await;
    let started = std::time::Instant::now();
    assert_eq!(agent_with(&app, KEY_A).await, 404);
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "a stuck refresh held the request {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_code_stored_under_the_previous_code_key_is_still_accepted_during_a_rotation() {
    let app = App::with_secrets_manager(&secret(json!(KEY_A), json!(CODE_KEY_1)), &[]).await;
    let (early, late) = (unique_phone(), unique_phone());
    assert_eq!(app.send_code(&early, "login").await.status, 202);
    assert_eq!(app.send_code(&late, "login").await.status, 202);

    standin().put_secret(
        KEYS_SECRET,
        &secret(json!(KEY_A), json!([CODE_KEY_2, CODE_KEY_1])),
    );
    after_refresh().await;
    let code = app.last_code(&early);
    let reply = app.verify_code(&early, &code, "login", json!({})).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);

    // Once the old key is gone, a code stored under it no longer matches.
    standin().put_secret(KEYS_SECRET, &secret(json!(KEY_A), json!(CODE_KEY_2)));
    after_refresh().await;
    let code = app.last_code(&late);
    let reply = app.verify_code(&late, &code, "login", json!({})).await;
    assert_eq!(reply.status, 401, "{:?}", reply.body);
}

#[tokio::test]
async fn webhook_deliveries_signed_with_either_app_secret_are_taken_during_a_rotation() {
    let app = App::with_secrets_manager(&secret(json!(KEY_A), json!(CODE_KEY_1)), &[]).await;
    let new = "app-secret-0000000000000002";
    let mut rotated = secret(json!(KEY_A), json!(CODE_KEY_1));
    rotated["WHATSAPP_APP_SECRET"] = json!([new, APP_SECRET]);
    standin().put_secret(KEYS_SECRET, &rotated);
    after_refresh().await;
    let body = json!({"object": "whatsapp_business_account", "entry": []});
    for (secret, expected) in [(APP_SECRET, 200), (new, 200), ("another-secret", 401)] {
        let raw = body.to_string();
        let signature = hub_signature(&SecretString::new(secret), raw.as_bytes());
        let req = with_raw_body(event("webhooks-whatsapp-post"), &raw);
        let reply = app
            .send(with_header(req, "x-hub-signature-256", &signature))
            .await;
        assert_eq!(
            reply.status, expected,
            "signed with {secret}: {:?}",
            reply.body
        );
    }
}

/// A configuration reading `SECRETS` from the stand-in, as a deployed function's would
/// (no `OMNISESSION_LOCAL_DEV`: strict checks).
fn deployed_config() -> Config {
    let mut env = test_env();
    env.extend(standin().env());
    env.insert("SECRETS".into(), crate::iam::secret_arn("KeysSecret"));
    env.remove("OMNISESSION_LOCAL_DEV");
    Config::from_lookup(|k| env.get(k).cloned()).expect("configuration")
}

async fn cold_start(config: &Config) -> Result<(), String> {
    vault_checked(config, Iam::for_tables(&config.tables))
        .await
        .map(|_| ())
        .map_err(|e: VaultError| e.to_string())
}

#[tokio::test]
async fn a_cold_start_refuses_a_missing_empty_malformed_or_development_secret_by_name() {
    let config = deployed_config();
    let missing = cold_start(&config).await.unwrap_err();
    assert!(missing.contains("KeysSecret"), "{missing}");

    standin().put_secret(
        KEYS_SECRET,
        &json!({"SERVICE_KEYS": ["hunter2-service-key-0001", 7]}),
    );
    let malformed = cold_start(&config).await.unwrap_err();
    assert!(malformed.contains("SERVICE_KEYS"), "{malformed}");
    assert!(
        !malformed.contains("hunter2"),
        "a value leaked: {malformed}"
    );

    let mut dev = secret(json!("dev-service-key-000000000000001"), json!(CODE_KEY_1));
    standin().put_secret(KEYS_SECRET, &dev);
    let development = cold_start(&config).await.unwrap_err();
    assert!(
        development.contains("SERVICE_KEYS") && development.contains("development"),
        "{development}"
    );
    assert!(!development.contains("dev-service-key"), "{development}");

    dev["SERVICE_KEYS"] = json!(KEY_A);
    dev.as_object_mut().unwrap().remove("CODE_HMAC_KEY");
    standin().put_secret(KEYS_SECRET, &dev);
    let incomplete = cold_start(&config).await.unwrap_err();
    assert!(
        incomplete.contains("CODE_HMAC_KEY is required"),
        "{incomplete}"
    );

    standin().put_secret(KEYS_SECRET, &secret(json!(KEY_A), json!(CODE_KEY_1)));
    assert_eq!(cold_start(&config).await, Ok(()));
    // A function that would read its secrets from environment variables does not start.
    let mut env = test_env();
    env.remove("OMNISESSION_LOCAL_DEV");
    let from_env = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let err = from_env.require_real_secrets().unwrap_err().to_string();
    assert!(err.contains("SECRETS"), "{err}");
}
