//! docs/design.md §6's budgets of round trips and write units, counted on the real SDK
//! client: these are behaviour (what a request costs in DynamoDB), not timing.

use omnisession::model::limits;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn a_password_login_makes_two_round_trips_and_a_restore_one() {
    let counter = Probe::default();
    let app = App::counting(counter.clone()).await;
    let (phone, web) = app.new_customer().await;
    counter.take();

    // Joining the live session: customer with its lockout beside the phone index, then
    // the join (the login's mark) beside the login's own item, the login's account event
    // and the end of the history (which the answer shows).
    let login = app.login(&phone, "secret-pass", "kiosk").await;
    assert_eq!(login.status, 200);
    assert_eq!(
        counter.take_round_trips(),
        [
            "BatchGetItem + Query",
            "PutItem + PutItem + Query + UpdateItem"
        ]
    );

    // Starting a session: customer with its lockout beside the phone index, one
    // transaction beside the login's own item and its account event.
    assert_eq!(app.end(&web.token(), "global").await.status, 200);
    counter.take();
    let fresh = app.login(&phone, "secret-pass", "web").await;
    assert_eq!(fresh.body["reused"], false);
    assert_eq!(
        counter.take_round_trips(),
        [
            "BatchGetItem + Query",
            "PutItem + PutItem + TransactWriteItems"
        ]
    );

    // A restore with no expiry write due: one strongly consistent read of the session
    // and the login, beside the end of its history.
    assert_eq!(app.restore(&fresh.token()).await.status, 200);
    assert_eq!(counter.take_round_trips(), ["BatchGetItem + Query"]);
}

/// The write units a request consumed, as DynamoDB Local reports them (its rules are
/// DynamoDB's: 1 KB units, ×2 in a transaction).
fn write_units(probe: &Probe) -> f64 {
    probe
        .take()
        .iter()
        .filter_map(|c| c.capacity.map(|c| c.write))
        .sum()
}

#[tokio::test]
async fn writes_cost_the_same_at_1000_messages_and_32_logins() {
    let probe = Probe::default();
    let app = App::counting(probe.clone()).await;
    let (phone, web) = app.new_customer().await;
    let sid = web.session_id();

    // 32 logins: 10 password logins (their quota), 2 WhatsApp, 4 kiosk, and 16 minted
    // from the password logins, 3 at most under each.
    let mut password = vec![web.token()];
    for _ in 0..9 {
        password.push(app.login(&phone, "secret-pass", "web").await.token());
    }
    for _ in 0..2 {
        assert_eq!(app.whatsapp_login(&phone, "Asha").await.status, 200);
    }
    for _ in 0..4 {
        assert_eq!(app.kiosk_start(&phone).await.status, 200);
    }
    for i in 0..16 {
        let body = json!({"phone": phone, "channel": "kiosk"});
        let start = without_header(with_body(event("session-start"), &body), "x-kiosk-key");
        let start = with_token(start, &password[i / 3]);
        let minted = app.send(start).await;
        assert_eq!(minted.status, 200, "{:?}", minted.body);
    }
    let item = app.sessions_item(&sid).await.expect("the session");
    assert_eq!(item["tokens"].as_m().map(|t| t.len()), Ok(32));

    // 1 000 messages of history.
    let chat: Vec<Value> = (0..limits::MESSAGES_PER_UPDATE)
        .map(|i| json!({"role": "user", "content": format!("Message {i} of a long chat about shoes")}))
        .collect();
    for _ in 0..1000 / limits::MESSAGES_PER_UPDATE {
        let update = app.update(&web.token(), json!({ "messages": chat })).await;
        assert_eq!(update.status, 200, "{:?}", update.body);
    }
    let cart = json!({"cart": [{"sku": "SHOE-RUN-09", "quantity": 1, "price": 4999.0}]});
    assert_eq!(app.update(&web.token(), cart.clone()).await.status, 200);
    let summary = json!({"summary": "Wants running shoes in size 9, prefers blue; budget 5000."});
    assert_eq!(
        app.agent("session-sid-summary-post", &sid, Some(summary.clone()))
            .await
            .status,
        200
    );

    probe.take();
    probe.request_capacity(true);
    let mut over = Vec::new();
    let mut check = |what: &str, budget: f64, reply: Reply| {
        assert_eq!(reply.status, 200, "{what}: {:?}", reply.body);
        let units = write_units(&probe);
        if units > budget {
            over.push(format!("{what}: {units} WRU, budget {budget}"));
        }
    };
    let message = json!({"messages": [{"role": "user", "content": "Do you have them in blue?"}]});
    check(
        "a customer's message",
        3.0,
        app.update(&web.token(), message).await,
    );
    check(
        "the agent's message",
        3.0,
        app.agent("session-sid-messages", &sid, None).await,
    );
    let text = delivery(
        &[(phone.trim_start_matches('+'), &wamid(), "Blue please")],
        "Asha",
    );
    // One unit above the append budget: the message id's claim (which keeps a
    // redelivery from filing twice or logging the phone in again after a logout) is an
    // item of its own, and the session item with 32 logins' marks weighs 2 KB.
    check("a WhatsApp text", 4.0, app.webhook(&text).await);
    check("a cart", 4.0, app.update(&web.token(), cart).await);
    check(
        "a summary",
        4.0,
        app.agent("session-sid-summary-post", &sid, Some(summary))
            .await,
    );
    let skus = json!({"skus": ["SHOE-RUN-09", "SOCK-06"]});
    check(
        "recommendations",
        4.0,
        app.agent("session-sid-recommendations-post", &sid, Some(skus))
            .await,
    );
    assert!(over.is_empty(), "over budget:\n{}", over.join("\n"));
}
