//! Expiry, sliding, the absolute cap, and what `/session/update` stores.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use omnisession::model::limits;
use serde_json::json;

use crate::helpers::*;

fn expires_at(reply: &Reply) -> i64 {
    let text = reply.body["session"]["expires_at"]
        .as_str()
        .expect("expires_at");
    DateTime::parse_from_rfc3339(text).unwrap().timestamp()
}

#[tokio::test]
async fn an_expired_session_is_not_restored_even_before_ttl_deletes_it() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let past = Utc::now().timestamp() - 10;
    app.set_session_numbers(&web.session_id(), &[("expires_at", past)])
        .await;
    let restored = app.restore(&web.token()).await;
    assert_eq!(restored.status, 401);
    assert_eq!(restored.body["error_type"], "unauthorized");

    // The next login starts a new session and takes over the phone's lock.
    let again = app.login(&phone, "secret-pass", "web").await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body["reused"], false);
    assert_ne!(again.session_id(), web.session_id());
    assert_eq!(
        app.kiosk_start(&phone).await.session_id(),
        again.session_id()
    );
}

#[tokio::test]
async fn a_restore_slides_the_expiry_but_writes_at_most_hourly() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let sid = web.session_id();
    let week = 7 * 24 * 3600;

    // Slid 30 minutes ago: not due, the stored expiry stays.
    let recent = Utc::now().timestamp() + week - 1800;
    app.set_session_numbers(&sid, &[("expires_at", recent)])
        .await;
    assert_eq!(expires_at(&app.restore(&web.token()).await), recent);

    // Slid two hours ago: due, the expiry moves to a week from now.
    let stale = Utc::now().timestamp() + week - 7200;
    app.set_session_numbers(&sid, &[("expires_at", stale)])
        .await;
    let slid = expires_at(&app.restore(&web.token()).await);
    assert!(slid >= Utc::now().timestamp() + week - 5, "{slid}");
    assert_eq!(
        expires_at(&app.restore(&web.token()).await),
        slid,
        "stored, not just shown"
    );
}

#[tokio::test]
async fn activity_never_extends_a_session_past_its_absolute_cap() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let cap = Utc::now().timestamp() + 3600;
    app.set_session_numbers(&web.session_id(), &[("max_expires_at", cap)])
        .await;
    let updated = app
        .update(
            &web.token(),
            json!({"messages": [{"role": "user", "content": "still here"}]}),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(expires_at(&updated), cap);
}

#[tokio::test]
async fn updates_append_messages_replace_the_cart_and_order_skus() {
    let app = App::old_front_ends().await;
    let (_, web) = app.new_customer().await;
    let token = web.token();
    let first = app
        .update(
            &token,
            json!({
                "messages": [{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"}],
                "cart": [{"sku": "A", "quantity": 1, "price": 10.0}, {"sku": "B", "quantity": 2, "price": 5.5}],
                "recommended_skus": ["A", "B", "A"]
            }),
        )
        .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(
        first.body["session"]["last_recommended_skus"],
        json!(["B", "A"])
    );

    let second = app
        .update(
            &token,
            json!({
                "messages": [{"role": "user", "content": "three"}],
                "cart": [{"sku": "C", "quantity": 1, "price": 99.0}],
                "recommended_skus": ["B", "C"]
            }),
        )
        .await;
    let session = &second.body["session"];
    let contents: Vec<&str> = session["chat_context"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["one", "two", "three"]);
    assert_eq!(session["chat_context"][2]["channel"], "web");
    assert_eq!(
        session["cart"],
        json!([{"sku": "C", "quantity": 1, "price": 99.0}])
    );
    assert_eq!(session["last_recommended_skus"], json!(["A", "B", "C"]));
}

#[tokio::test]
async fn chat_history_outgrows_the_window_without_losing_a_message() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let token = web.token();
    let total = limits::CHAT_WINDOW + 15;
    for batch in 0..total.div_ceil(5) {
        let messages: Vec<_> = (batch * 5..(batch * 5 + 5).min(total))
            .map(|i| json!({"role": "user", "content": format!("message {i}")}))
            .collect();
        assert_eq!(
            app.update(&token, json!({ "messages": messages }))
                .await
                .status,
            200
        );
    }
    let restored = app.restore(&token).await;
    let chat = restored.body["session"]["chat_context"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(chat.len(), limits::CHAT_WINDOW);
    assert_eq!(
        chat.last().unwrap()["content"],
        format!("message {}", total - 1)
    );

    let stored = app
        .db()
        .query()
        .table_name(&app.state.config.tables.messages)
        .key_condition_expression("pk = :sid")
        .expression_attribute_values(":sid", AttributeValue::S(web.session_id()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stored.items().len(),
        total,
        "every message is in the messages table"
    );
    let first = stored.items()[0]["content"].as_s().unwrap();
    assert_eq!(first, "message 0");
}

#[tokio::test]
async fn tables_hold_token_hashes_never_tokens() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let kiosk = app.kiosk_start(&phone).await;
    let item = app.sessions_item(&web.session_id()).await.unwrap();
    let dump = format!("{item:?}");
    for token in [web.token(), kiosk.token()] {
        let secret = token.rsplit('.').next().unwrap();
        assert!(!dump.contains(secret), "a token secret is stored in clear");
    }
    assert_eq!(item["tokens"].as_m().unwrap().len(), 2);

    let customer = app
        .db()
        .get_item()
        .table_name(&app.state.config.tables.customers)
        .key("pk", AttributeValue::S(format!("phone#{phone}")))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let hash = customer["password_hash"].as_s().unwrap();
    assert!(hash.starts_with("$2"), "bcrypt hash expected");
    assert!(!format!("{customer:?}").contains("secret-pass"));
}

#[tokio::test]
async fn kiosk_logins_cannot_push_out_the_customers_other_logins() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let whatsapp = app.whatsapp_login(&phone, "Asha").await;
    let mut kiosks = Vec::new();
    for _ in 0..33 {
        kiosks.push(app.kiosk_start(&phone).await.token());
    }
    for (what, token) in [("password", web.token()), ("WhatsApp", whatsapp.token())] {
        assert_eq!(
            app.restore(&token).await.status,
            200,
            "the {what} login stays"
        );
    }
    assert_eq!(
        app.restore(&kiosks[0]).await.status,
        401,
        "the kiosk's own least recently used login goes"
    );
    for token in &kiosks[29..] {
        assert_eq!(
            app.restore(token).await.status,
            200,
            "the newest kiosk logins stay"
        );
    }
}

#[tokio::test]
async fn a_summary_at_its_limit_is_stored_with_messages() {
    let app = App::old_front_ends().await;
    let (_, web) = app.new_customer().await;
    let body = json!({
        "messages": [{"role": "user", "content": "Running shoes, size 9?"}],
        "cart": [],
        "recommended_skus": [],
        "summary": "0".repeat(limits::SUMMARY_BYTES)
    });
    let reply = app.update(&web.token(), body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
}
