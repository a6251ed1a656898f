//! Customers with WhatsApp user ids (BSUIDs): a username customer whose phone WhatsApp
//! withholds keeps one conversation, and once their phone is known (a delivery carrying
//! both, the answer to our contact request) the two customers become one, with nothing
//! said before lost, merged once however often and however concurrently it happens.

use serde_json::{Value, json};

use crate::helpers::*;

fn new_user_id() -> String {
    format!("IN.{}", rand::random::<u64>())
}

/// A delivery of one text from `phone` (digits, or none) and/or `user` (a BSUID).
fn message_from(phone: Option<&str>, user: Option<&str>, text: &str) -> Value {
    message_of(phone, user, json!({"type": "text", "text": {"body": text}}))
}

fn message_of(phone: Option<&str>, user: Option<&str>, message: Value) -> Value {
    let mut contact = json!({"profile": {"name": "Asha", "username": "asha.k"}});
    let mut message = message;
    message["id"] = json!(wamid());
    message["timestamp"] = json!(chrono::Utc::now().timestamp().to_string());
    if let Some(phone) = phone {
        contact["wa_id"] = json!(phone);
        message["from"] = json!(phone);
    }
    if let Some(user) = user {
        contact["user_id"] = json!(user);
        message["from_user_id"] = json!(user);
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]}}]}]})
}

fn digits(phone: &str) -> String {
    phone.trim_start_matches('+').to_string()
}

fn chat_texts(reply: &Reply) -> Vec<String> {
    reply.body["session"]["chat_context"]
        .as_array()
        .unwrap_or_else(|| panic!("no chat in {:?}", reply.body))
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}

async fn stored(app: &App, body: &Value) {
    let reply = app.webhook(body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["stored"], 1, "{:?}", reply.body);
}

#[tokio::test]
async fn a_username_customer_keeps_one_conversation_by_user_id() {
    let app = App::new().await;
    let user = new_user_id();
    stored(&app, &message_from(None, Some(&user), "first")).await;
    stored(&app, &message_from(None, Some(&user), "second")).await;
    let login = app.whatsapp_login_user(&user, "Asha").await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(chat_texts(&login), ["first", "second"]);
    let customer = app
        .customers_item(&format!("phone#u:{user}"))
        .await
        .expect("a customer known by the user id");
    assert_eq!(customer["whatsapp_username"].as_s().unwrap(), "asha.k");
    assert_eq!(customer["whatsapp_user_id"].as_s().unwrap(), &user);
}

#[tokio::test]
async fn a_delivery_with_both_links_them_and_later_user_only_messages_reach_the_phone() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let user = new_user_id();
    stored(
        &app,
        &message_from(Some(&digits(&phone)), Some(&user), "with both"),
    )
    .await;
    stored(&app, &message_from(None, Some(&user), "user id only")).await;
    let restore = app.restore(&web.token()).await;
    let texts = chat_texts(&restore);
    assert_eq!(texts, ["with both", "user id only"], "{texts:?}");
    // No customer is known by the user id alone.
    assert!(
        app.customers_item(&format!("phone#u:{user}"))
            .await
            .is_none()
    );
    let pointer = app.customers_item(&format!("user#{user}")).await.unwrap();
    assert_eq!(pointer["phone"].as_s().unwrap(), &phone);

    // Meta issues a new user id for the number: it is linked too.
    let renewed = new_user_id();
    stored(
        &app,
        &message_from(Some(&digits(&phone)), Some(&renewed), "new id"),
    )
    .await;
    stored(&app, &message_from(None, Some(&renewed), "by the new id")).await;
    let texts = chat_texts(&app.restore(&web.token()).await);
    assert_eq!(texts.last().unwrap(), "by the new id", "{texts:?}");
}

/// The username customer chatted, had a cart and SKUs; the phone customer has their own
/// session. The delivery that pairs them merges: one session, both histories in time
/// order, the newer cart, every SKU, both summaries, and the username login's token
/// still works, in the merged session.
#[tokio::test]
async fn the_two_customers_become_one_with_nothing_lost() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let user = new_user_id();
    assert_eq!(
        app.update(
            &web.token(),
            json!({"messages": [{"role": "user", "content": "web 1"}]})
        )
        .await
        .status,
        200
    );
    stored(&app, &message_from(None, Some(&user), "wa 1")).await;
    let bot = app.whatsapp_login_user(&user, "Asha").await;
    let user_sid = bot.session_id();
    assert_ne!(user_sid, web.session_id());
    app.agent(
        "session-sid-summary-post",
        &user_sid,
        Some(json!({"summary": "likes red"})),
    )
    .await;
    app.agent(
        "session-sid-recommendations-post",
        &user_sid,
        Some(json!({"skus": ["RED-1"]})),
    )
    .await;
    app.agent(
        "session-sid-summary-post",
        &web.session_id(),
        Some(json!({"summary": "size 9"})),
    )
    .await;
    let cart = json!({"cart": [{"sku": "RED-1", "quantity": 1, "price": 10.0}]});
    assert_eq!(app.update(&bot.token(), cart).await.status, 200);
    stored(&app, &message_from(None, Some(&user), "wa 2")).await;

    stored(
        &app,
        &message_from(Some(&digits(&phone)), Some(&user), "both"),
    )
    .await;

    let merged = app.restore(&web.token()).await;
    assert_eq!(merged.session_id(), web.session_id());
    assert_eq!(chat_texts(&merged), ["web 1", "wa 1", "wa 2", "both"]);
    let session = &merged.body["session"];
    assert_eq!(session["cart"][0]["sku"], "RED-1", "the newer cart");
    assert!(
        session["last_recommended_skus"]
            .to_string()
            .contains("RED-1")
    );
    let summary = session["conversation_summary"].as_str().unwrap();
    assert!(
        summary.contains("size 9") && summary.contains("likes red"),
        "{summary}"
    );
    // The username login's token leads to the merged session.
    let followed = app.restore(&bot.token()).await;
    assert_eq!(followed.status, 200, "{:?}", followed.body);
    assert_eq!(followed.session_id(), web.session_id());
    let said = app
        .update(
            &bot.token(),
            json!({"messages": [{"role": "user", "content": "after"}]}),
        )
        .await;
    assert_eq!(said.status, 200, "{:?}", said.body);
    assert_eq!(
        chat_texts(&app.restore(&web.token()).await).last().unwrap(),
        "after"
    );
    // Nothing is left under the user id, and the history is not doubled.
    assert!(
        app.customers_item(&format!("phone#u:{user}"))
            .await
            .is_none()
    );
    assert_eq!(app.live_sessions(&format!("u:{user}")).await.len(), 0);
    let context = app
        .agent("session-sid-context", &web.session_id(), None)
        .await;
    assert_eq!(context.body["chat_context"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn a_phone_without_a_session_takes_the_username_session_as_it_is() {
    let app = App::new().await;
    let phone = unique_phone();
    let user = new_user_id();
    stored(&app, &message_from(None, Some(&user), "before the number")).await;
    let bot = app.whatsapp_login_user(&user, "Asha").await;
    stored(
        &app,
        &message_from(Some(&digits(&phone)), Some(&user), "with the number"),
    )
    .await;
    let by_phone = app.whatsapp_login(&phone, "Asha").await;
    assert_eq!(
        by_phone.session_id(),
        bot.session_id(),
        "the same session, moved"
    );
    assert_eq!(
        chat_texts(&by_phone),
        ["before the number", "with the number"]
    );
    assert_eq!(by_phone.body["session"]["phone"], phone.as_str());
    assert_eq!(app.restore(&bot.token()).await.status, 200);
}

#[tokio::test]
async fn the_answer_to_our_contact_request_links_but_a_forwarded_card_does_not() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let user = new_user_id();
    stored(&app, &message_from(None, Some(&user), "hello")).await;
    let card = |origin: Option<&str>| {
        let mut contacts = json!({"type": "contacts", "contacts": [{
            "name": {"formatted_name": "Asha K"},
            "phones": [{"phone": phone, "wa_id": digits(&phone), "type": "CELL"}]}]});
        if let Some(origin) = origin {
            contacts["origin"] = json!({"type": origin});
        }
        message_of(None, Some(&user), contacts)
    };
    // Forwarded: someone's card, not a claim to be them.
    stored(&app, &card(None)).await;
    assert!(app.customers_item(&format!("user#{user}")).await.is_none());
    assert_eq!(chat_texts(&app.restore(&web.token()).await).len(), 0);
    // A text claiming the number links nothing either.
    stored(
        &app,
        &message_from(None, Some(&user), &format!("my number is {phone}")),
    )
    .await;
    assert!(app.customers_item(&format!("user#{user}")).await.is_none());

    // The answer to our request for their contact: Meta vouches for the number.
    stored(&app, &card(Some("REQUEST_CONTACT_INFO"))).await;
    let texts = chat_texts(&app.restore(&web.token()).await);
    assert!(texts.iter().any(|t| t == "hello"), "{texts:?}");
    assert!(
        app.customers_item(&format!("phone#u:{user}"))
            .await
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_merge_once() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let user = new_user_id();
    for i in 0..30 {
        stored(
            &app,
            &message_from(None, Some(&user), &format!("before {i}")),
        )
        .await;
    }
    let both: Vec<Value> = (0..6)
        .map(|i| message_from(Some(&digits(&phone)), Some(&user), &format!("both {i}")))
        .collect();
    let replies = futures::future::join_all(both.iter().map(|b| app.webhook(b))).await;
    for reply in &replies {
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    let texts = app.message_contents(&web.session_id()).await;
    let befores = texts.iter().filter(|t| t.starts_with("before ")).count();
    let boths = texts.iter().filter(|t| t.starts_with("both ")).count();
    assert_eq!((befores, boths), (30, 6), "{texts:?}");
    assert!(
        app.customers_item(&format!("phone#u:{user}"))
            .await
            .is_none()
    );
}

/// A merge cut short after the link was written (the function died): the next delivery
/// by the user id alone finds the record still there and finishes it.
#[tokio::test]
async fn a_merge_cut_short_is_finished_by_the_next_delivery() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let user = new_user_id();
    stored(&app, &message_from(None, Some(&user), "stranded?")).await;
    // What the first step of a merge writes, and nothing after it.
    app.state
        .store
        .link_whatsapp_user(
            &omnisession::phone::WhatsappUserId::parse(&user).unwrap(),
            &omnisession::phone::PhoneNumber::from_stored(phone.clone()),
            "2026-12-01T00:00:00.000Z",
        )
        .await
        .unwrap();
    stored(&app, &message_from(None, Some(&user), "next")).await;
    assert_eq!(
        chat_texts(&app.restore(&web.token()).await),
        ["stranded?", "next"]
    );
    assert!(
        app.customers_item(&format!("phone#u:{user}"))
            .await
            .is_none()
    );
}

/// A history longer than a transaction's 100 items moves whole, once; and a parent user
/// id sent with the pair leads to the phone too.
#[tokio::test]
async fn a_long_history_merges_whole_and_the_parent_id_is_linked() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let user = new_user_id();
    let bot = app.whatsapp_login_user(&user, "Asha").await;
    for batch in 0..13 {
        let messages: Vec<Value> = (0..10)
            .map(|i| json!({"role": "user", "content": format!("m{}", batch * 10 + i)}))
            .collect();
        let said = app
            .update(&bot.token(), json!({ "messages": messages }))
            .await;
        assert_eq!(said.status, 200, "{:?}", said.body);
    }
    let parent = format!("IN.ENT.{}", rand::random::<u64>());
    let mut both = message_from(Some(&digits(&phone)), Some(&user), "paired");
    both["entry"][0]["changes"][0]["value"]["contacts"][0]["parent_user_id"] = json!(parent);
    stored(&app, &both).await;
    let texts = app.message_contents(&web.session_id()).await;
    assert_eq!(texts.len(), 131, "130 merged and the pairing message");
    let expected: Vec<String> = (0..130).map(|i| format!("m{i}")).collect();
    assert_eq!(texts[..130], expected[..], "in time order");
    let pointer = app.customers_item(&format!("user#{parent}")).await.unwrap();
    assert_eq!(pointer["phone"].as_s().unwrap(), &phone);
}
