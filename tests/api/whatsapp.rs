//! The WhatsApp webhook as a login channel.

use base64::Engine;
use omnisession::phone::PhoneNumber;
use serde_json::json;

use crate::helpers::*;

fn digits(phone: &str) -> String {
    phone.trim_start_matches('+').to_string()
}

async fn customer_exists(app: &App, phone: &str) -> bool {
    let phone = PhoneNumber::parse(phone, app.state.config.phone_region).unwrap();
    app.state
        .store
        .customer_by_phone(&phone)
        .await
        .unwrap()
        .is_some()
}

#[tokio::test]
async fn the_subscription_handshake_answers_only_the_configured_token() {
    let app = App::new().await;
    let ok = app.send(event("webhooks-whatsapp-get")).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.body.to_string(),
        "1158201444",
        "the challenge, as plain text"
    );
    assert!(
        ok.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );

    for (mode, token) in [
        ("subscribe", "wrong-token"),
        ("unsubscribe", "dev-whatsapp-verify-token-0001"),
    ] {
        let query = [
            ("hub.mode", mode),
            ("hub.verify_token", token),
            ("hub.challenge", "42"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<std::collections::HashMap<_, _>>();
        let req = lambda_http::RequestExt::with_query_string_parameters(
            event("webhooks-whatsapp-get"),
            query,
        );
        assert_eq!(app.send(req).await.status, 403, "{mode} {token}");
    }
}

#[tokio::test]
async fn only_a_correctly_signed_delivery_is_stored() {
    let app = App::new().await;
    let phone = unique_phone();
    let body = delivery(&[(&digits(&phone), &wamid(), "hello")], "Ravi").to_string();

    let unsigned = without_header(
        with_raw_body(event("webhooks-whatsapp-post"), &body),
        "x-hub-signature-256",
    );
    assert_eq!(app.send(unsigned).await.status, 401);
    // The sample's signature belongs to another body.
    let wrongly_signed = with_raw_body(event("webhooks-whatsapp-post"), &body);
    assert_eq!(app.send(wrongly_signed).await.status, 401);
    assert!(!customer_exists(&app, &phone).await, "nothing stored");

    let signed = app.webhook(&serde_json::from_str(&body).unwrap()).await;
    assert_eq!(signed.status, 200, "{:?}", signed.body);
    assert_eq!(signed.body["stored"], 1);
    assert!(customer_exists(&app, &phone).await);
}

#[tokio::test]
async fn a_first_message_creates_customer_and_session_and_the_next_joins_it() {
    let app = App::new().await;
    let phone = unique_phone();
    let first = app
        .webhook(&delivery(&[(&digits(&phone), &wamid(), "first")], "Meera"))
        .await;
    assert_eq!(first.status, 200);
    let sessions = app.live_sessions(&phone).await;
    assert_eq!(sessions.len(), 1);
    let parsed = PhoneNumber::parse(&phone, app.state.config.phone_region).unwrap();
    let customer = app
        .state
        .store
        .customer_by_phone(&parsed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(customer.name, "Meera", "named from contacts[].profile.name");

    let second = app
        .webhook(&delivery(&[(&digits(&phone), &wamid(), "second")], "Meera"))
        .await;
    assert_eq!(second.body["stored"], 1);
    assert_eq!(
        app.live_sessions(&phone).await,
        sessions,
        "joined, not a second session"
    );
    let session = app
        .state
        .store
        .session(&sessions[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.message_count, 2);
    assert!(session.tokens.is_empty(), "the webhook issues no tokens");
}

#[tokio::test]
async fn a_whatsapp_message_lands_in_the_session_the_web_login_holds() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let reply = app
        .webhook(&delivery(
            &[(&digits(&phone), &wamid(), "Is it in stock?")],
            "Test",
        ))
        .await;
    assert_eq!(reply.status, 200);

    let restored = app.restore(&web.token()).await;
    let session = &restored.body["session"];
    let last = &session["chat_context"][0];
    assert_eq!(last["content"], "Is it in stock?");
    assert_eq!(last["channel"], "whatsapp");
    assert_eq!(last["role"], "user");
    assert_eq!(
        last["at"], "2026-11-27T12:00:00.000Z",
        "the provider's timestamp"
    );
    assert_eq!(session["metadata"]["channels"], json!(["web", "whatsapp"]));
}

#[tokio::test]
async fn a_redelivered_message_is_stored_once() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let body = delivery(&[(&digits(&phone), &wamid(), "only once")], "Test");
    assert_eq!(app.webhook(&body).await.body["stored"], 1);
    let again = app.webhook(&body).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["duplicates"], 1);
    assert_eq!(again.body["stored"], 0);
    let chat = app.restore(&web.token()).await.body["session"]["chat_context"].clone();
    assert_eq!(chat.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_redelivery_after_a_logout_does_not_start_a_session() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let body = delivery(&[(&digits(&phone), &wamid(), "before logout")], "Test");
    assert_eq!(app.webhook(&body).await.body["stored"], 1);
    assert_eq!(app.end(&web.token(), "global").await.status, 200);
    let again = app.webhook(&body).await;
    assert_eq!(again.body["duplicates"], 1);
    assert!(app.live_sessions(&phone).await.is_empty());
}

#[tokio::test]
async fn status_callbacks_and_unknown_fields_are_acknowledged_and_ignored() {
    let app = App::new().await;
    let status = app.send(event("webhooks-whatsapp-status")).await;
    assert_eq!(status.status, 200, "{:?}", status.body);
    assert_eq!(status.body["stored"], 0);

    let other = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {"event": "VERIFIED"}}]}]});
    let reply = app.webhook(&other).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["ignored"], 1);
}

#[tokio::test]
async fn several_messages_from_several_phones_are_each_filed() {
    let app = App::new().await;
    let (a, b) = (unique_phone(), unique_phone());
    let mut body = delivery(
        &[
            (&digits(&a), &wamid(), "from a"),
            (&digits(&b), &wamid(), "x"),
        ],
        "Someone",
    );
    body["entry"][0]["changes"][0]["value"]["messages"][1] = json!({"from": digits(&b), "id": wamid(), "timestamp": "1795780800", "type": "image", "image": {"id": "9"}});
    let reply = app.webhook(&body).await;
    assert_eq!(reply.body["stored"], 2, "{:?}", reply.body);
    let session_b = app.live_sessions(&b).await;
    let b_history = app
        .state
        .store
        .last_messages(&session_b[0], 10)
        .await
        .unwrap();
    assert_eq!(b_history.len(), 1);
    assert_eq!(String::from(b_history[0].content.clone()), "[image]");
    assert_eq!(app.live_sessions(&a).await.len(), 1);
}

#[tokio::test]
async fn a_signed_but_malformed_delivery_is_a_400_with_nothing_written() {
    let app = App::new().await;
    let (a, b) = (unique_phone(), unique_phone());
    let mut body = delivery(
        &[
            (&digits(&a), &wamid(), "fine"),
            (&digits(&b), &wamid(), "broken"),
        ],
        "X",
    );
    body["entry"][0]["changes"][0]["value"]["messages"][1]
        .as_object_mut()
        .unwrap()
        .remove("id");
    let reply = app.webhook(&body).await;
    assert_eq!(reply.status, 400);
    assert!(reply.detail().contains("messages[1]"), "{}", reply.detail());
    assert!(
        !customer_exists(&app, &a).await,
        "the valid first message was not filed either"
    );
    assert_eq!(app.webhook(&json!({"entry": "nope"})).await.status, 400);
}

#[tokio::test]
async fn a_message_without_a_phone_is_filed_under_the_senders_user_id() {
    let app = App::new().await;
    let user = format!("IN.{}", rand::random::<u64>());
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "contacts": [{"profile": {"name": "Hidden", "username": "hidden.one"}, "user_id": user}],
        "messages": [{"from_user_id": user, "id": wamid(), "timestamp": "1795780800", "type": "text", "text": {"body": "hi"}}]
    }}]}]});
    let reply = app.webhook(&body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["stored"], 1, "{:?}", reply.body);
    // Our bot, which knows only the user id, logs them into the same conversation.
    let login = app.whatsapp_login_user(&user, "Hidden").await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    let chat = login.body["session"]["chat_context"].to_string();
    assert!(chat.contains("\"hi\""), "{chat}");
    assert_eq!(login.body["customer"]["phone_number"], "");
    assert_eq!(login.body["customer"]["name"], "Hidden");
}

#[tokio::test]
async fn a_base64_encoded_delivery_is_verified_on_its_decoded_bytes() {
    let app = App::new().await;
    let phone = unique_phone();
    let raw = delivery(&[(&digits(&phone), &wamid(), "encoded")], "B64").to_string();
    let signature = omnisession::secrets::hub_signature(app.app_secret(), raw.as_bytes());
    let mut sample: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("events/webhooks-whatsapp-post.json")).unwrap(),
    )
    .unwrap();
    sample["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&raw));
    sample["isBase64Encoded"] = json!(true);
    sample["headers"]["x-hub-signature-256"] = json!(signature);
    let req = lambda_http::request::from_str(&sample.to_string()).unwrap();
    let reply = app.send(req).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["stored"], 1);
}

#[tokio::test]
async fn the_sample_deliveries_replay() {
    let app = App::new().await;
    for name in [
        "webhooks-whatsapp-post",
        "webhooks-whatsapp-two-messages",
        "webhooks-whatsapp-duplicate",
    ] {
        let reply = app.send(event(name)).await;
        assert_eq!(reply.status, 200, "{name}: {:?}", reply.body);
    }
    // The duplicate sample is the first delivery again: never stored twice.
    let again = app.send(event("webhooks-whatsapp-duplicate")).await;
    assert_eq!(again.body["duplicates"], 1);
}
