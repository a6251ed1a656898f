//! Omni-channel continuity: one session per phone, shared by every channel.

use futures::future::join_all;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn web_kiosk_and_whatsapp_share_one_conversation() {
    let app = App::old_front_ends().await;
    let (phone, web) = app.new_customer().await;
    let update = app
        .update(
            &web.token(),
            json!({
                "messages": [{"role": "user", "content": "Looking for a blue kurta"}],
                "cart": [{"sku": "KURTA-BLUE-M", "quantity": 1, "price": 1299.0}],
                "recommended_skus": ["KURTA-BLUE-M"],
                "summary": "Wants a blue kurta, size M."
            }),
        )
        .await;
    assert_eq!(update.status, 200, "{:?}", update.body);

    let kiosk = app.kiosk_start(&phone).await;
    assert_eq!(kiosk.status, 200, "{:?}", kiosk.body);
    assert_eq!(kiosk.body["reused"], true);
    // A phone number typed at a kiosk proves less than a password: no personal record.
    assert_eq!(web.body["customer"]["city"], "Pune");
    assert_eq!(kiosk.body["customer"]["city"], serde_json::Value::Null);
    assert_eq!(kiosk.body["customer"]["name"], "Test Customer");
    assert_eq!(kiosk.session_id(), web.session_id());
    assert_eq!(kiosk.channels(), ["web", "kiosk"]);
    let session = &kiosk.body["session"];
    assert_eq!(
        session["chat_context"][0]["content"],
        "Looking for a blue kurta"
    );
    assert_eq!(session["chat_context"][0]["channel"], "web");
    assert_eq!(session["cart"][0]["sku"], "KURTA-BLUE-M");
    assert_eq!(
        session["conversation_summary"],
        "Wants a blue kurta, size M."
    );
    assert_eq!(session["last_recommended_skus"], json!(["KURTA-BLUE-M"]));

    let whatsapp = app.whatsapp_login(&phone, "Test Customer").await;
    assert_eq!(whatsapp.status, 200, "{:?}", whatsapp.body);
    assert_eq!(whatsapp.session_id(), web.session_id());
    assert_eq!(whatsapp.channels(), ["web", "kiosk", "whatsapp"]);

    // The kiosk writes; the web sees it.
    let said = app
        .update(
            &kiosk.token(),
            json!({"messages": [{"role": "assistant", "content": "Try the KURTA-BLUE-M"}]}),
        )
        .await;
    assert_eq!(said.status, 200);
    let seen = app.restore(&web.token()).await;
    let chat = seen.body["session"]["chat_context"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(chat.len(), 2);
    assert_eq!(chat[1]["channel"], "kiosk");
    assert_eq!(chat[1]["role"], "assistant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_logins_at_the_same_instant_make_exactly_one_session() {
    let app = App::new().await;
    let (phone, first) = app.new_customer().await;
    // Start from no live session, so that all twenty race to create one.
    assert_eq!(app.end(&first.token(), "global").await.status, 200);
    assert!(app.live_sessions(&phone).await.is_empty());

    let logins = (0..20).map(|i| {
        let (app, phone) = (&app, phone.clone());
        async move {
            match i % 3 {
                0 => app.login(&phone, "secret-pass", "web").await,
                1 => app.kiosk_start(&phone).await,
                _ => app.whatsapp_login(&phone, "Test Customer").await,
            }
        }
    });
    let replies = join_all(logins).await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    let mut ids: Vec<String> = replies.iter().map(Reply::session_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 1, "one session for the phone, got {ids:?}");
    assert_eq!(
        replies.iter().filter(|r| r.body["reused"] == false).count(),
        1
    );
    assert_eq!(app.live_sessions(&phone).await, ids);

    let restored = app.restore(&replies[0].token()).await;
    let mut channels = restored.body["session"]["metadata"]["channels"]
        .as_array()
        .unwrap()
        .clone();
    channels.sort_by_key(|c| c.to_string());
    assert_eq!(channels, [json!("kiosk"), json!("web"), json!("whatsapp")]);
}

#[tokio::test]
async fn logging_out_the_kiosk_leaves_the_web_signed_in() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let kiosk = app.kiosk_start(&phone).await;
    assert_eq!(kiosk.status, 200);
    assert_eq!(app.end(&kiosk.token(), "local").await.status, 200);
    assert_eq!(app.restore(&kiosk.token()).await.status, 401);
    let web_again = app.restore(&web.token()).await;
    assert_eq!(web_again.status, 200);
    assert_eq!(
        web_again.body["session"]["session_id"],
        web.session_id().as_str()
    );
}

#[tokio::test]
async fn a_global_end_signs_out_every_channel_and_the_next_login_starts_afresh() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let kiosk = app.kiosk_start(&phone).await;
    let end = app.end(&web.token(), "global").await;
    assert_eq!(end.status, 200);
    assert_eq!(end.body["scope"], "global");
    assert_eq!(app.restore(&web.token()).await.status, 401);
    assert_eq!(app.restore(&kiosk.token()).await.status, 401);

    let again = app.login(&phone, "secret-pass", "web").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["reused"], false);
    assert_ne!(again.session_id(), web.session_id());
    assert!(
        again.body["session"]["chat_context"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_token_of_the_same_phone_may_open_another_channel() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let body = json!({"phone": phone, "channel": "kiosk"});
    let req = with_token(
        without_header(with_body(event("session-start"), &body), "x-kiosk-key"),
        &web.token(),
    );
    let reply = app.send(req).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.session_id(), web.session_id());

    // ... but not another phone's.
    let (other_phone, _) = app.new_customer().await;
    let body = json!({"phone": other_phone, "channel": "kiosk"});
    let req = with_token(
        without_header(with_body(event("session-start"), &body), "x-kiosk-key"),
        &web.token(),
    );
    assert_eq!(app.send(req).await.status, 401);
}

#[tokio::test]
async fn a_kiosk_start_for_a_new_phone_creates_a_minimal_customer() {
    let app = App::new().await;
    let phone = unique_phone();
    let reply = app.kiosk_start(&phone).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["reused"], false);
    assert_eq!(reply.body["customer"]["phone_number"], phone.as_str());
    let again = app.kiosk_start(&phone).await;
    assert_eq!(
        again.body["customer"]["customer_id"],
        reply.body["customer"]["customer_id"]
    );
    assert_eq!(again.session_id(), reply.session_id());
}
