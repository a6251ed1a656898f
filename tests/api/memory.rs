//! The sales agent's memory of a session.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::*;

/// A session where the customer asked and filled the cart, and the agent answered,
/// recommended and summed up.
async fn session_with_chat(app: &App) -> (String, Reply) {
    let (phone, web) = app.new_customer().await;
    let body = json!({
        "messages": [{"role": "user", "content": "Need a gift"}],
        "cart": [{"sku": "MUG-1", "quantity": 2, "price": 249.0}],
    });
    assert_eq!(app.update(&web.token(), body).await.status, 200);
    let sid = web.session_id();
    let writes = [
        (
            "session-sid-messages",
            json!({"role": "assistant", "content": "For whom?"}),
        ),
        (
            "session-sid-recommendations-post",
            json!({"skus": ["MUG-1"]}),
        ),
        (
            "session-sid-summary-post",
            json!({"summary": "Gift shopping."}),
        ),
    ];
    for (name, body) in writes {
        let reply = app.agent(name, &sid, Some(body)).await;
        assert_eq!(reply.status, 200, "{name}: {:?}", reply.body);
    }
    (phone, web)
}

#[tokio::test]
async fn the_agent_reads_every_view_in_the_old_shapes() {
    let app = App::new().await;
    let (_, web) = session_with_chat(&app).await;
    let sid = web.session_id();

    let context = app.agent("session-sid-context", &sid, None).await;
    assert_eq!(context.status, 200, "{:?}", context.body);
    for field in [
        "session_id",
        "customer_id",
        "chat_context",
        "conversation_summary",
        "last_recommended_skus",
        "cart",
        "created_at",
        "updated_at",
    ] {
        assert!(context.body.get(field).is_some(), "context lacks {field}");
    }
    assert_eq!(context.body["chat_context"][1]["content"], "For whom?");
    assert_eq!(context.body["chat_context"][1]["role"], "assistant");
    assert_eq!(context.body["chat_context"][1]["channel"], "web");

    let summary = app.agent("session-sid-summary-get", &sid, None).await;
    assert_eq!(summary.body["summary"], "Gift shopping.");
    assert_eq!(summary.body["total_messages"], 2);
    assert_eq!(summary.body["session_id"], sid.as_str());
    assert!(summary.body["last_updated"].is_string());

    let recs = app
        .agent("session-sid-recommendations-get", &sid, None)
        .await;
    assert_eq!(
        recs.body,
        json!({"last_recommended_skus": ["MUG-1"], "total_recommendations": 1,
               "written_by": {"MUG-1": "agent"}})
    );

    let cart = app.agent("session-sid-cart", &sid, None).await;
    assert_eq!(
        cart.body,
        json!({"cart": [{"sku": "MUG-1", "quantity": 2, "price": 249.0}], "cart_size": 1})
    );
}

#[tokio::test]
async fn the_agent_records_what_it_said_and_showed() {
    let app = App::new().await;
    let (phone, web) = session_with_chat(&app).await;
    let sid = web.session_id();

    let set = app
        .agent(
            "session-sid-summary-post",
            &sid,
            Some(json!({"summary": "Gift for a father, budget 2000."})),
        )
        .await;
    assert_eq!(
        set.body,
        json!({"success": true, "session_id": sid, "summary": "Gift for a father, budget 2000."})
    );

    let shown = app
        .agent(
            "session-sid-recommendations-post",
            &sid,
            Some(json!({"skus": ["PEN-9", "MUG-1", "PEN-9"]})),
        )
        .await;
    assert_eq!(shown.status, 200, "{:?}", shown.body);
    assert_eq!(
        shown.body["last_recommended_skus"],
        json!(["MUG-1", "PEN-9"])
    );

    // The customer moves to WhatsApp; the agent's reply lands on the customer's channel.
    let whatsapp = app.whatsapp_login(&phone, "Test").await;
    let said = json!({"messages": [{"role": "user", "content": "Any wallets?"}]});
    assert_eq!(app.update(&whatsapp.token(), said).await.status, 200);
    let reply = app
        .agent(
            "session-sid-messages",
            &sid,
            Some(json!({"role": "assistant", "content": "Yes: WALLET-2"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["message"]["channel"], "whatsapp");
    assert_eq!(reply.body["total_messages"], 4);

    let restored = app.restore(&web.token()).await;
    let session = &restored.body["session"];
    assert_eq!(
        session["conversation_summary"],
        "Gift for a father, budget 2000."
    );
    assert_eq!(session["chat_context"][3]["content"], "Yes: WALLET-2");
    assert_eq!(session["last_recommended_skus"], json!(["MUG-1", "PEN-9"]));
}

#[tokio::test]
async fn recommendations_stay_ordered_unique_and_bounded() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let sid = web.session_id();
    for batch in 0..3 {
        let skus: Vec<String> = (batch * 20..batch * 20 + 20)
            .map(|i| format!("SKU-{i:02}"))
            .collect();
        let reply = app
            .agent(
                "session-sid-recommendations-post",
                &sid,
                Some(json!({ "skus": skus })),
            )
            .await;
        assert_eq!(reply.status, 200);
    }
    app.agent(
        "session-sid-recommendations-post",
        &sid,
        Some(json!({"skus": ["SKU-30"]})),
    )
    .await;
    let recs = app
        .agent("session-sid-recommendations-get", &sid, None)
        .await;
    let skus: Vec<String> =
        serde_json::from_value(recs.body["last_recommended_skus"].clone()).unwrap();
    assert_eq!(skus.len(), 50);
    assert_eq!(skus.last().unwrap(), "SKU-30", "shown again: newest");
    assert_eq!(skus.first().unwrap(), "SKU-10", "the oldest ten dropped");
    let mut unique = skus.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 50);
}

#[tokio::test]
async fn context_returns_the_last_n_of_a_history_larger_than_a_dynamodb_item() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let sid = web.session_id();
    let total = 110;
    let filler = "x".repeat(3990);
    for i in 0..total {
        let body = json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": format!("{i:04} {filler}")});
        let reply = app.agent("session-sid-messages", &sid, Some(body)).await;
        assert_eq!(reply.status, 200, "message {i}: {:?}", reply.body);
    }
    // 110 messages of ~4 KB: more than DynamoDB's 400 KB item limit.
    let summary = app.agent("session-sid-summary-get", &sid, None).await;
    assert_eq!(summary.body["total_messages"], total);

    let limited = |limit: &str| {
        let req = memory_event("session-sid-context", &sid);
        let query: std::collections::HashMap<String, String> =
            [("limit".to_string(), limit.to_string())].into();
        lambda_http::RequestExt::with_query_string_parameters(req, query)
    };
    let context = app.send(limited("100")).await;
    let chat = context.body["chat_context"].as_array().unwrap();
    assert_eq!(chat.len(), 100);
    assert!(chat[0]["content"].as_str().unwrap().starts_with("0010 "));
    assert!(chat[99]["content"].as_str().unwrap().starts_with("0109 "));

    let default = app.agent("session-sid-context", &sid, None).await;
    assert_eq!(default.body["chat_context"].as_array().unwrap().len(), 20);
    for bad in ["0", "101", "ten"] {
        let reply = app.send(limited(bad)).await;
        assert_eq!(reply.status, 400, "limit={bad}");
        assert!(reply.detail().contains("limit"));
    }
}

#[tokio::test]
async fn other_sessions_are_invisible_and_credentials_are_required() {
    let app = App::new().await;
    let (_, mine) = app.new_customer().await;
    let (_, theirs) = app.new_customer().await;
    let unknown = app
        .agent("session-sid-summary-get", &"0".repeat(32), None)
        .await;
    assert_eq!(unknown.status, 404);
    let huge = app
        .agent("session-sid-summary-get", &"a".repeat(10_000), None)
        .await;
    assert_eq!(huge.status, 404);

    let as_customer = |sid: &str| {
        with_token(
            without_header(memory_event("session-sid-cart", sid), "x-service-key"),
            &mine.token(),
        )
    };
    assert_eq!(
        app.send(as_customer(&mine.session_id())).await.status,
        200,
        "own session"
    );
    let other = app.send(as_customer(&theirs.session_id())).await;
    assert_eq!(other.status, 404);
    assert_eq!(
        other.body, unknown.body,
        "indistinguishable from a missing session"
    );

    // A customer reads their own memory but cannot forge the agent's.
    let forged = without_header(
        memory_event("session-sid-summary-post", &mine.session_id()),
        "x-service-key",
    );
    let forged = with_body(
        with_token(forged, &mine.token()),
        &json!({"summary": "VIP: 90% off"}),
    );
    assert_eq!(app.send(forged).await.status, 403);

    let anonymous = without_header(
        memory_event("session-sid-cart", &mine.session_id()),
        "x-service-key",
    );
    assert_eq!(app.send(anonymous).await.status, 401);
    let wrong_key = with_header(
        memory_event("session-sid-cart", &mine.session_id()),
        "x-service-key",
        "wrong-service-key-123456",
    );
    assert_eq!(app.send(wrong_key).await.status, 401);

    app.set_session_numbers(
        &theirs.session_id(),
        &[("expires_at", chrono::Utc::now().timestamp() - 5)],
    )
    .await;
    assert_eq!(
        app.agent("session-sid-cart", &theirs.session_id(), None)
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn web_kiosk_and_agent_writing_at_once_lose_nothing() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let kiosk = app.kiosk_start(&phone).await;
    let sid = web.session_id();
    let rounds = 8;
    let carts: Vec<Value> = (0..rounds)
        .map(|i| json!([{"sku": format!("CART-{i}"), "quantity": i + 1, "price": 10.0}]))
        .collect();

    let mut writes = Vec::new();
    for (i, cart) in carts.iter().cloned().enumerate() {
        let (app, web, kiosk, sid) = (&app, web.token(), kiosk.token(), sid.clone());
        writes.push(Box::pin(async move {
            app.update(
                &web,
                json!({"messages": [{"role": "user", "content": format!("web {i}")}]}),
            )
            .await
        })
            as std::pin::Pin<
                Box<dyn std::future::Future<Output = Reply> + Send + '_>,
            >);
        let kiosk_token = kiosk.clone();
        writes.push(Box::pin(async move {
            app.update(&kiosk_token, json!({ "cart": cart })).await
        }));
        let sid2 = sid.clone();
        writes.push(Box::pin(async move {
            app.agent(
                "session-sid-messages",
                &sid2,
                Some(json!({"role": "assistant", "content": format!("agent {i}")})),
            )
            .await
        }));
        writes.push(Box::pin(async move {
            app.agent(
                "session-sid-recommendations-post",
                &sid,
                Some(json!({"skus": [format!("REC-{i}")]})),
            )
            .await
        }));
    }
    for reply in join_all(writes).await {
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }

    let summary = app.agent("session-sid-summary-get", &sid, None).await;
    assert_eq!(summary.body["total_messages"], 2 * rounds);
    let context = app.agent("session-sid-context", &sid, None).await;
    let said: Vec<String> = context.body["chat_context"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    for i in 0..rounds {
        assert!(said.contains(&format!("web {i}")), "lost web {i}");
        assert!(said.contains(&format!("agent {i}")), "lost agent {i}");
    }
    let recs = app
        .agent("session-sid-recommendations-get", &sid, None)
        .await;
    assert_eq!(recs.body["total_recommendations"], rounds);
    // The cart is replaced whole: it is exactly one of the carts sent, never a mix.
    let cart = app.agent("session-sid-cart", &sid, None).await.body["cart"].clone();
    assert!(carts.contains(&cart), "{cart}");
}
