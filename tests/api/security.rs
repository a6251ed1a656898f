//! The security model of DESIGN.md §3 and README → Security: assurance levels, account
//! changes, token hygiene, enumeration, hostile input, and secrets at cold start.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use omnisession_testkit::standin::standin;

use crate::helpers::*;

/// README → Security → "Who may do what": (event, status for a phone-level token,
/// status for a password-level token). Phone-level logins chat and use the session's
/// memory and cart; account changes and QR codes need a password.
const LEVELS: [(&str, u16, u16); 8] = [
    ("session-restore", 200, 200),
    ("session-update", 200, 200),
    ("session-sid-context", 200, 200),
    ("session-sid-cart", 200, 200),
    ("auth-qr-init", 403, 200),
    ("auth-password", 403, 200),
    ("auth-logout-all", 403, 200),
    ("session-end", 200, 200),
];

async fn call_as(app: &App, name: &str, reply: &Reply) -> u16 {
    let token = reply.token();
    let mut req = if name.starts_with("session-sid-") {
        without_header(memory_event(name, &reply.session_id()), "x-service-key")
    } else {
        event(name)
    };
    if name == "auth-password" {
        req = with_body(
            req,
            &json!({"current_password": "secret-pass", "new_password": "a much better pass"}),
        );
    }
    app.send(with_token(req, &token)).await.status
}

#[tokio::test]
async fn every_endpoint_checks_the_level_of_the_login() {
    let app = App::new().await;
    for (name, phone_status, password_status) in LEVELS {
        let (phone, _) = app.new_customer().await;
        let password = app.login(&phone, "secret-pass", "web").await;
        let whatsapp = app.whatsapp_login(&phone, "Level").await;
        assert_eq!(
            call_as(&app, name, &whatsapp).await,
            phone_status,
            "{name} with a phone-level token"
        );
        assert_eq!(
            call_as(&app, name, &password).await,
            password_status,
            "{name} with a password-level token"
        );
    }
    // A phone-level login sees no personal record.
    let (phone, _) = app.new_customer().await;
    let whatsapp = app.whatsapp_login(&phone, "Level").await;
    assert_eq!(whatsapp.body["customer"]["city"], Value::Null);
}

#[tokio::test]
async fn logout_all_and_a_password_change_sign_out_every_login() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let kiosk = app.kiosk_start(&phone).await;
    let out = app
        .send(with_token(event("auth-logout-all"), &web.token()))
        .await;
    assert_eq!(out.status, 200);
    for token in [web.token(), kiosk.token()] {
        assert_eq!(app.restore(&token).await.status, 401);
    }

    let web = app.login(&phone, "secret-pass", "web").await;
    let whatsapp = app.whatsapp_login(&phone, "Again").await;
    let change = |current: &str, new: &str| {
        with_body(
            with_token(event("auth-password"), &web.token()),
            &json!({"current_password": current, "new_password": new}),
        )
    };
    let wrong = app.send(change("not-it", "a much better pass")).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.detail().contains("current_password"));
    let common = app.send(change("secret-pass", "password123")).await;
    assert_eq!(common.status, 400);
    assert!(common.detail().contains("common"));
    assert_eq!(
        app.send(change("secret-pass", "a much better pass"))
            .await
            .status,
        200
    );
    for token in [web.token(), whatsapp.token()] {
        assert_eq!(app.restore(&token).await.status, 401);
    }
    assert_eq!(app.login(&phone, "secret-pass", "web").await.status, 401);
    assert_eq!(
        app.login(&phone, "a much better pass", "web").await.status,
        200
    );
}

#[tokio::test]
async fn the_tables_hold_no_token_and_no_qr_code_anywhere() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let kiosk = app.kiosk_start(&phone).await;
    let init = app.qr_init(&web.token()).await;
    let code = init.body["qr_token"].as_str().unwrap().to_string();
    let mut secrets: Vec<String> = [&web, &kiosk]
        .iter()
        .map(|r| r.token().rsplit('.').next().unwrap().to_string())
        .collect();
    secrets.push(code);
    app.assert_stored_nowhere(&secrets).await;
}

#[tokio::test]
async fn unknown_phone_and_wrong_password_take_the_same_time() {
    // At a realistic cost, bcrypt dominates; the dummy hash makes both paths pay it.
    let mut app = App::new().await;
    std::sync::Arc::get_mut(&mut app.state)
        .expect("the app is not served yet")
        .passwords = omnisession::passwords::Passwords::new(10);
    let (phone, _) = app.new_customer().await;
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    // Interleaved, and fewer than five failures per phone so no lock intervenes.
    for round in 0..12 {
        let stranger = unique_phone();
        let started = Instant::now();
        assert_eq!(
            app.login(&stranger, "some-password", "web").await.status,
            401
        );
        unknown.push(started.elapsed());
        if round % 4 == 3 {
            // Reset the known phone's count with a success.
            assert_eq!(app.login(&phone, "secret-pass", "web").await.status, 200);
        }
        let started = Instant::now();
        assert_eq!(app.login(&phone, "some-password", "web").await.status, 401);
        wrong.push(started.elapsed());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    let (u, w) = (median(&mut unknown), median(&mut wrong));
    assert!(
        (u - w).abs() / u.max(w) < 0.2,
        "unknown {u:.3}s vs wrong password {w:.3}s"
    );
}

#[tokio::test]
async fn hostile_input_is_a_clear_4xx_and_stores_nothing() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let token = web.token();
    let nested = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let cases: Vec<(&str, String, u16)> = vec![
        ("session-update", format!(r#"{{"messages":{nested}}}"#), 400),
        ("session-update", json!({"recommended_skus": (0..100_000).map(|i| format!("S{i}")).collect::<Vec<_>>()}).to_string(), 413),
        ("session-update", json!({"summary": "x".repeat(1_000_000)}).to_string(), 413),
        ("session-update", json!({"summary": "x".repeat(50_000)}).to_string(), 400),
        ("session-update", json!({"cart": [{"sku": 5, "quantity": "two", "price": null}]}).to_string(), 400),
        ("auth-signup", json!({"name": "Evil\u{0007}Name", "phone_number": unique_phone(), "password": "strong-enough-1", "channel": "web"}).to_string(), 400),
        ("auth-signup", json!({"name": "A", "phone_number": unique_phone(), "password": "strong-enough-1", "channel": "carrier-pigeon"}).to_string(), 400),
    ];
    for (name, body, status) in cases {
        let req = with_raw_body(with_token(event(name), &token), &body);
        let reply = app.send(req).await;
        assert_eq!(
            reply.status,
            status,
            "{name} {}: {:?}",
            &body[..body.len().min(80)],
            reply.body
        );
        assert!(reply.body["detail"].is_string() && reply.body["error_type"].is_string());
    }
    let session = app.restore(&token).await.body["session"].clone();
    assert!(session["chat_context"].as_array().unwrap().is_empty());
    assert!(
        session["last_recommended_skus"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(session["conversation_summary"], "");

    let long_sid = app
        .send(memory_event("session-sid-summary-get", &"7".repeat(10_000)))
        .await;
    assert_eq!(long_sid.status, 404);
}

#[test]
fn a_function_refuses_to_start_without_real_secrets() {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"));
    let binary = target.join("debug").join("session");
    if !binary.exists() {
        panic!(
            "{} not built: `make test` builds the function binaries first",
            binary.display()
        );
    }
    let env = test_env();
    let output = std::process::Command::new(&binary)
        .env_clear()
        .envs(
            [
                "CUSTOMERS_TABLE",
                "SESSIONS_TABLE",
                "MESSAGES_TABLE",
                "KIOSKS_TABLE",
                "SERVICE_KEYS",
                "WHATSAPP_APP_SECRET",
                "WHATSAPP_VERIFY_TOKEN",
            ]
            .map(|k| (k, env[k].clone())),
        )
        .env("AWS_REGION", "ap-south-1")
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "it started with development secrets"
    );
    let logs = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("refusing to start"), "{logs}");
    // Secrets in environment variables are for a developer's machine only.
    assert!(logs.contains("SECRETS"), "{logs}");
}

/// The function that sends codes needs its messaging settings, and real ones.
#[test]
fn the_verify_function_refuses_to_start_without_real_messaging_settings() {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"));
    let binary = target.join("debug").join("verify");
    assert!(
        binary.exists(),
        "{} not built: `make test` builds the function binaries first",
        binary.display()
    );
    // Real secrets, but the access token config/dev.env's: read from Secrets Manager
    // (this process's stand-in) as in AWS.
    standin().put_secret(
        "omnisession-test-verify-start",
        &serde_json::json!({
            "SERVICE_KEYS": "service-key-0123456789abcdef",
            "WHATSAPP_APP_SECRET": "app-secret-0123456789abcdef",
            "WHATSAPP_VERIFY_TOKEN": "verify-token-0123456789",
            "CODE_HMAC_KEY": "code-key-0123456789abcdef0123456789",
            "WHATSAPP_ACCESS_TOKEN": "dev-whatsapp-access-token-0001",
        }),
    );
    let real = [
        ("CUSTOMERS_TABLE", "c"),
        ("SESSIONS_TABLE", "s"),
        ("MESSAGES_TABLE", "m"),
        ("KIOSKS_TABLE", "k"),
        ("SECRETS", "omnisession-test-verify-start"),
        ("SECRETS_MANAGER_ENDPOINT", standin().base.as_str()),
        ("AWS_REGION", "ap-south-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let start = |extra: &[(&str, &str)]| {
        let output = std::process::Command::new(&binary)
            .env_clear()
            .envs(real.iter().chain(extra).copied())
            .output()
            .unwrap();
        assert!(!output.status.success(), "it started with {extra:?}");
        String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr)
    };
    let logs = start(&[]);
    assert!(
        logs.contains("refusing to start") && logs.contains("WHATSAPP_PHONE_NUMBER_ID"),
        "{logs}"
    );
    let logs = start(&[("WHATSAPP_PHONE_NUMBER_ID", "100000000000001")]);
    assert!(
        logs.contains("refusing to start") && logs.contains("WHATSAPP_ACCESS_TOKEN"),
        "{logs}"
    );
}
