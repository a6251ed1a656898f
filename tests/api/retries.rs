//! Retries after a timeout or a lost response: `Idempotency-Key` on the appending writes,
//! and a signup sent twice.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

fn with_key(req: lambda_http::Request, key: &str) -> lambda_http::Request {
    with_header(req, "idempotency-key", key)
}

fn fresh_key() -> String {
    format!("retry-{}", hex::encode(rand::random::<[u8; 8]>()))
}

impl App {
    async fn update_with_key(&self, token: &str, key: &str, body: &Value) -> Reply {
        let req = with_body(with_token(event("session-update"), token), body);
        self.send(with_key(req, key)).await
    }

    async fn agent_with_key(&self, name: &str, sid: &str, key: &str, body: &Value) -> Reply {
        self.send(with_key(with_body(memory_event(name, sid), body), key))
            .await
    }

    /// Every chat message stored for `sid` in the messages table.
    async fn stored_messages(&self, sid: &str) -> Vec<String> {
        let out = self
            .db()
            .query()
            .table_name(&self.state.config.tables.messages)
            .key_condition_expression("pk = :sid")
            .expression_attribute_values(":sid", AttributeValue::S(sid.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("query messages");
        out.items()
            .iter()
            .filter_map(|i| i.get("content").and_then(|v| v.as_s().ok()).cloned())
            .collect()
    }
}

fn replayed(reply: &Reply) -> bool {
    reply
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

#[tokio::test]
async fn an_update_retried_with_its_idempotency_key_appends_once() {
    let app = App::old_front_ends().await;
    let (_, web) = app.new_customer().await;
    let token = web.token();
    let key = fresh_key();
    let body = json!({"messages": [{"role": "user", "content": "Red shoes, size 9"}],
                      "recommended_skus": ["SHOE-9"]});

    let first = app.update_with_key(&token, &key, &body).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert!(!replayed(&first));
    let retry = app.update_with_key(&token, &key, &body).await;
    assert_eq!(retry.status, 200, "{:?}", retry.body);
    assert!(replayed(&retry), "a replay says so: {:?}", retry.headers);
    assert_eq!(retry.body["session"], first.body["session"]);

    // The same text under a new key is a new message.
    let again = app.update_with_key(&token, &fresh_key(), &body).await;
    assert_eq!(again.status, 200);
    assert!(!replayed(&again));

    let restored = app.restore(&token).await;
    assert_eq!(
        restored.body["session"]["chat_context"]
            .as_array()
            .expect("chat_context")
            .len(),
        2
    );
    assert_eq!(
        app.stored_messages(&web.session_id()).await,
        ["Red shoes, size 9", "Red shoes, size 9"]
    );
}

#[tokio::test]
async fn a_key_sent_with_another_body_is_refused_and_changes_nothing() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let token = web.token();
    let key = fresh_key();
    let first = json!({"messages": [{"role": "user", "content": "first"}]});
    assert_eq!(app.update_with_key(&token, &key, &first).await.status, 200);

    let other = json!({"messages": [{"role": "user", "content": "second"}]});
    let reused = app.update_with_key(&token, &key, &other).await;
    assert_eq!(reused.status, 422, "{:?}", reused.body);
    assert_eq!(reused.body["error_type"], "idempotency_key_reused");
    assert!(reused.detail().contains("Idempotency-Key"));
    assert_eq!(app.stored_messages(&web.session_id()).await, ["first"]);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_append_once() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let token = web.token();
    let key = fresh_key();
    let body = json!({"messages": [{"role": "user", "content": "once"}]});
    let replies =
        futures::future::join_all((0..6).map(|_| app.update_with_key(&token, &key, &body))).await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    assert_eq!(replies.iter().filter(|r| !replayed(r)).count(), 1);
    assert_eq!(app.stored_messages(&web.session_id()).await, ["once"]);
}

#[tokio::test]
async fn the_agents_appending_writes_honour_the_key() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let sid = web.session_id();

    let said = json!({"role": "assistant", "content": "Try MUG-1"});
    let key = fresh_key();
    let first = app
        .agent_with_key("session-sid-messages", &sid, &key, &said)
        .await;
    let retry = app
        .agent_with_key("session-sid-messages", &sid, &key, &said)
        .await;
    assert_eq!((first.status, retry.status), (200, 200), "{:?}", retry.body);
    assert!(replayed(&retry) && !replayed(&first));
    assert_eq!(retry.body["total_messages"], 1);
    assert_eq!(
        retry.body["message"], first.body["message"],
        "the stored message, its time too"
    );
    assert_eq!(app.stored_messages(&sid).await, ["Try MUG-1"]);

    // Recommendations: a replay must not move an SKU shown since back to the end.
    let key = fresh_key();
    let shown = json!({"skus": ["MUG-1"]});
    let r1 = app
        .agent_with_key("session-sid-recommendations-post", &sid, &key, &shown)
        .await;
    assert_eq!(r1.status, 200, "{:?}", r1.body);
    let later = json!({"skus": ["PEN-9"]});
    let r2 = app
        .agent_with_key(
            "session-sid-recommendations-post",
            &sid,
            &fresh_key(),
            &later,
        )
        .await;
    assert_eq!(r2.body["last_recommended_skus"], json!(["MUG-1", "PEN-9"]));
    let retry = app
        .agent_with_key("session-sid-recommendations-post", &sid, &key, &shown)
        .await;
    assert!(replayed(&retry));
    assert_eq!(
        retry.body["last_recommended_skus"],
        json!(["MUG-1", "PEN-9"])
    );
}

#[tokio::test]
async fn keys_are_per_session_and_forgotten_after_24_hours() {
    let app = App::new().await;
    let (_, a) = app.new_customer().await;
    let (_, b) = app.new_customer().await;
    let key = fresh_key();
    let body = json!({"messages": [{"role": "user", "content": "hello"}]});
    let in_a = app.update_with_key(&a.token(), &key, &body).await;
    let in_b = app.update_with_key(&b.token(), &key, &body).await;
    assert_eq!(
        (in_a.status, in_b.status),
        (200, 200),
        "{:?} {:?}",
        in_a.body,
        in_b.body
    );
    assert!(
        !replayed(&in_a) && !replayed(&in_b),
        "another session's key never replays"
    );
    assert_eq!(app.stored_messages(&b.session_id()).await, ["hello"]);

    // Remembered for 24 hours: move the record's expiry into the past.
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    let seen = format!("seen#idem#update#{}#{hash}", a.session_id());
    let day = 24 * 3600;
    let now = chrono::Utc::now().timestamp();
    let stored = app
        .sessions_item(&seen)
        .await
        .expect("the key is remembered");
    let expires = stored["expires_at"]
        .as_n()
        .expect("number")
        .parse::<i64>()
        .expect("epoch");
    assert!(
        (expires - now - day).abs() < 60,
        "kept 24 h, not {}",
        expires - now
    );
    app.set_session_numbers(&seen, &[("expires_at", now - 1)])
        .await;
    let later = app.update_with_key(&a.token(), &key, &body).await;
    assert_eq!(later.status, 200);
    assert!(!replayed(&later), "an expired key writes again");
    assert_eq!(app.stored_messages(&a.session_id()).await.len(), 2);
}

#[tokio::test]
async fn a_malformed_key_is_a_400_and_nothing_is_written() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let body = json!({"messages": [{"role": "user", "content": "x"}]});
    for key in ["has space", &"k".repeat(256)] {
        let reply = app.update_with_key(&web.token(), key, &body).await;
        assert_eq!(reply.status, 400, "{key}: {:?}", reply.body);
        assert!(reply.detail().contains("Idempotency-Key"));
    }
    assert!(app.stored_messages(&web.session_id()).await.is_empty());
}

#[tokio::test]
async fn a_signup_retried_after_a_lost_response_is_a_409_and_the_login_works() {
    // Signup is no password oracle: a registered phone is a 409 whatever the password,
    // the same one included. The client's cue is to log in.
    let app = App::new().await;
    let phone = unique_phone();
    let first = app.signup(&phone, "secret-pass", "web").await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let retry = app.signup(&phone, "secret-pass", "web").await;
    assert_eq!(retry.status, 409, "{:?}", retry.body);
    assert!(retry.detail().contains("log in"), "{:?}", retry.body);
    let login = app.login(&phone, "secret-pass", "web").await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.session_id(), first.session_id());
    assert_eq!(app.restore(&first.token()).await.status, 200);
}

#[tokio::test]
async fn a_signup_for_a_taken_phone_is_a_409_whatever_the_password_and_counts_nothing() {
    let app = App::new().await;
    let (phone, _) = app.new_customer().await;
    for password in ["not-their-pass", "secret-pass"] {
        let reply = app.signup(&phone, password, "web").await;
        assert_eq!(reply.status, 409, "{:?}", reply.body);
        assert_eq!(reply.body["error_type"], "conflict");
    }
    assert!(
        app.sessions_item(&format!("lockout#login#{phone}"))
            .await
            .is_none(),
        "a signup is not a password attempt"
    );

    // A phone-only customer (WhatsApp) has no password to match: 409 too.
    let whatsapp_phone = unique_phone();
    assert_eq!(
        app.whatsapp_login(&whatsapp_phone, "Ravi").await.status,
        200
    );
    assert_eq!(
        app.signup(&whatsapp_phone, "secret-pass", "web")
            .await
            .status,
        409
    );
}
