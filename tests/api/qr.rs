//! The QR handoff from a logged-in phone to a kiosk.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use futures::future::join;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::*;

const INVALID_QR: &str = "QR code is invalid, expired or already used";

/// A fresh code made by a login.
async fn code_for(app: &App, token: &str) -> String {
    let init = app.qr_init(token).await;
    assert_eq!(init.status, 200, "{:?}", init.body);
    init.body["qr_token"].as_str().unwrap().to_string()
}

fn qr_key(qr_token: &str) -> AttributeValue {
    AttributeValue::S(format!(
        "qr#{}",
        hex::encode(Sha256::digest(qr_token.as_bytes()))
    ))
}

#[tokio::test]
async fn a_kiosk_scanning_the_code_joins_the_web_session_once() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let chat = json!({"messages": [{"role": "user", "content": "Saw a jacket online"}]});
    assert_eq!(app.update(&web.token(), chat).await.status, 200);

    let init = app.qr_init(&web.token()).await;
    assert_eq!(init.status, 200, "{:?}", init.body);
    let code = init.body["qr_token"].as_str().unwrap().to_string();
    assert!(code.len() >= 22, "at least 128 bits");
    assert!(init.body["qr_svg"].as_str().unwrap().contains("<svg"));
    let expires = DateTime::parse_from_rfc3339(init.body["expires_at"].as_str().unwrap()).unwrap();
    let lifetime = expires.timestamp() - Utc::now().timestamp();
    assert!((100..=120).contains(&lifetime), "{lifetime}");

    let kiosk = app.qr_verify(&code, &app.kiosk_key()).await;
    assert_eq!(kiosk.status, 200, "{:?}", kiosk.body);
    assert_eq!(kiosk.body["reused"], true);
    assert_eq!(kiosk.session_id(), web.session_id());
    assert_eq!(kiosk.channels(), ["web", "kiosk"]);
    assert_eq!(kiosk.body["session"]["channel"], "kiosk");
    assert_eq!(
        kiosk.body["session"]["chat_context"][0]["content"],
        "Saw a jacket online"
    );
    assert_eq!(
        kiosk.body["customer"]["city"], "Pune",
        "a password-level login"
    );
    // The kiosk's login is password level: it can make a code itself.
    assert_eq!(app.qr_init(&kiosk.token()).await.status, 200);

    let again = app.qr_verify(&code, &app.kiosk_key()).await;
    assert_eq!(again.status, 401);
    assert_eq!(again.detail(), INVALID_QR);
}

#[tokio::test]
async fn only_a_password_login_can_make_a_code() {
    let app = App::new().await;
    let (phone, _) = app.new_customer().await;
    let whatsapp = app.whatsapp_login(&phone, "Test").await;
    let reply = app.qr_init(&whatsapp.token()).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.body["error_type"], "forbidden");
    let none = app
        .send(without_header(event("auth-qr-init"), "x-session-token"))
        .await;
    assert_eq!(none.status, 401);
}

#[tokio::test]
async fn of_two_kiosks_racing_for_one_code_exactly_one_wins() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let code = code_for(&app, &web.token()).await;
    let key = app.kiosk_key();
    let (a, b) = join(app.qr_verify(&code, &key), app.qr_verify(&code, &key)).await;
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 401]);
}

#[tokio::test]
async fn expired_unknown_and_malformed_codes_get_one_generic_401() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let code = code_for(&app, &web.token()).await;
    // The code stored only as a hash.
    let stored = app
        .db()
        .get_item()
        .table_name(&app.state.config.tables.sessions)
        .key("pk", qr_key(&code))
        .send()
        .await
        .unwrap()
        .item
        .expect("code stored under its hash");
    assert!(!format!("{stored:?}").contains(&code));
    app.db()
        .update_item()
        .table_name(&app.state.config.tables.sessions)
        .key("pk", qr_key(&code))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(
            ":past",
            AttributeValue::N((Utc::now().timestamp() - 1).to_string()),
        )
        .send()
        .await
        .unwrap();
    let key = app.kiosk_key();
    for presented in [code.as_str(), "A".repeat(27).as_str(), "not a code", ""] {
        let reply = app.qr_verify(presented, &key).await;
        assert_eq!(reply.status, 401, "{presented:?}");
        assert_eq!(reply.detail(), INVALID_QR, "{presented:?}");
    }
}

#[tokio::test]
async fn qr_verify_needs_a_registered_kiosk_and_the_kiosk_channel() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let code = code_for(&app, &web.token()).await;
    assert_eq!(
        app.qr_verify(&code, "not-a-kiosk-key-at-all").await.status,
        401
    );
    let body = json!({"qr_token": code, "channel": "web"});
    let reply = app.send(with_body(event("auth-qr-verify"), &body)).await;
    assert_eq!(reply.status, 400);
    assert!(reply.detail().contains("channel"));
    // Neither refusal used the code up.
    assert_eq!(app.qr_verify(&code, &app.kiosk_key()).await.status, 200);
}

#[tokio::test]
async fn a_kiosk_that_keeps_guessing_is_told_to_wait() {
    let app = App::new().await;
    let key = &app.kiosk_key();
    let (_, web) = app.new_customer().await;
    let code = code_for(&app, &web.token()).await;
    for i in 0..5 {
        let reply = app.qr_verify(&format!("{:027}", i), key).await;
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.detail(),
            INVALID_QR,
            "a registered key with bad codes"
        );
    }
    // The fifth failure locks the key for a second.
    let blocked = app.qr_verify(&code, key).await;
    assert_eq!(
        blocked.status, 429,
        "even a good code waits: {:?}",
        blocked.body
    );
    assert_eq!(blocked.body["error_type"], "rate_limited");
    let retry: u64 = blocked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(retry, 1, "the first lock is one second");
    // Other kiosks are not affected, and the code was not used up.
    assert_eq!(app.qr_verify(&code, &app.dev_kiosk_key()).await.status, 200);
}

#[tokio::test]
async fn logging_out_the_phone_voids_its_outstanding_code() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let code = code_for(&app, &web.token()).await;
    assert_eq!(
        app.send(with_token(event("auth-logout"), &web.token()))
            .await
            .status,
        200
    );
    let reply = app.qr_verify(&code, &app.kiosk_key()).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.detail(), INVALID_QR);
}
