//! Every kind of WhatsApp message a customer sends is filed (DESIGN.md §4), through the
//! webhook handler against DynamoDB Local. Payloads follow the shapes of Meta's Cloud API
//! "messages webhook reference" pages, one per type.

use serde_json::{Value, json};

use crate::helpers::*;

fn digits(phone: &str) -> String {
    phone.trim_start_matches('+').to_string()
}

/// A message of `kind` from `from`, sent at `second` seconds past a fixed time (so
/// messages filed one by one keep their order), with the type's object `body`.
fn message(from: &str, id: &str, second: u32, kind: &str, body: Value) -> Value {
    let mut message = json!({"from": from, "id": id, "timestamp": (1795780800 + second).to_string(), "type": kind});
    if !body.is_null() {
        message[kind] = body;
    }
    message
}

/// A delivery of `messages`, all from `from`, as Meta sends it.
fn delivery_of(from: &str, messages: Vec<Value>) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Asha"}, "wa_id": from}],
            "messages": messages}}]}]})
}

/// The whole chat history of `phone`'s live session, oldest first.
async fn history(app: &App, phone: &str) -> Vec<String> {
    let sessions = app.live_sessions(phone).await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    app.state
        .store
        .last_messages(&sessions[0], 100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| String::from(m.content))
        .collect()
}

#[tokio::test]
async fn whatsapp_every_kind_of_message_is_filed_in_words() {
    let app = App::new().await;
    let phone = unique_phone();
    let from = digits(&phone);
    let context = json!({"from": "15550783881", "id": "wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="});
    let mut button_reply = message(
        &from,
        &wamid(),
        1,
        "interactive",
        json!({"type": "button_reply", "button_reply": {"id": "size-m", "title": "Medium"}}),
    );
    button_reply["context"] = context.clone();
    let mut quick_reply = message(
        &from,
        &wamid(),
        3,
        "button",
        json!({"payload": "STOP-PROMOS", "text": "Stop promotions"}),
    );
    quick_reply["context"] = context;
    let messages = vec![
        button_reply,
        message(
            &from,
            &wamid(),
            2,
            "interactive",
            json!({"type": "list_reply", "list_reply": {"id": "blue", "title": "Blue", "description": "Navy blue cotton"}}),
        ),
        quick_reply,
        message(
            &from,
            &wamid(),
            4,
            "image",
            json!({"caption": "Do you have this in red?", "mime_type": "image/jpeg", "sha256": "abc", "id": "1003383421387256"}),
        ),
        message(
            &from,
            &wamid(),
            5,
            "video",
            json!({"mime_type": "video/mp4", "sha256": "abc", "id": "1003383421387257"}),
        ),
        message(
            &from,
            &wamid(),
            6,
            "document",
            json!({"caption": "my invoice", "filename": "invoice.pdf", "mime_type": "application/pdf", "sha256": "abc", "id": "1003383421387258"}),
        ),
        message(
            &from,
            &wamid(),
            7,
            "audio",
            json!({"mime_type": "audio/ogg; codecs=opus", "sha256": "abc", "id": "1003383421387259", "voice": true}),
        ),
        message(
            &from,
            &wamid(),
            8,
            "sticker",
            json!({"mime_type": "image/webp", "sha256": "abc", "id": "1003383421387260", "animated": false}),
        ),
        message(
            &from,
            &wamid(),
            9,
            "location",
            json!({"address": "1 Hacker Way, Menlo Park, CA 94025", "latitude": 37.483307, "longitude": 122.148981, "name": "Main Office", "url": "https://www.facebook.com"}),
        ),
        message(
            &from,
            &wamid(),
            10,
            "contacts",
            json!([{"name": {"formatted_name": "Ravi Kumar", "first_name": "Ravi"}, "phones": [{"phone": "+91 98765 43210", "wa_id": "919876543210", "type": "CELL"}]}]),
        ),
        message(&from, &wamid(), 11, "unsupported", json!({"type": "poll"})),
        message(&from, &wamid(), 12, "poll", json!({"question": "?"})),
        message(
            &from,
            &wamid(),
            13,
            "reaction",
            json!({"message_id": "wamid.x", "emoji": "👍"}),
        ),
        message(
            &from,
            &wamid(),
            14,
            "system",
            json!({"body": "User changed number", "type": "user_changed_number"}),
        ),
    ];
    // `unsupported` carries its reason in `errors` (Meta: code 131051, "Message type unknown").
    let mut messages = messages;
    messages[10]["errors"] = json!([{"code": 131051, "title": "Message type unknown", "message": "Message type unknown", "error_data": {"details": "Message type is currently not supported."}}]);

    let reply = app.webhook(&delivery_of(&from, messages)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["stored"], 12, "{:?}", reply.body);
    assert_eq!(reply.body["ignored"], 2, "a reaction and a system notice");
    assert_eq!(
        history(&app, &phone).await,
        [
            "Medium",
            "Blue",
            "Stop promotions",
            "[image] Do you have this in red?",
            "[video]",
            "[document: invoice.pdf] my invoice",
            "[voice message]",
            "[sticker]",
            "[location] Main Office, 1 Hacker Way, Menlo Park, CA 94025 (37.483307, 122.148981)",
            "[contact] Ravi Kumar +91 98765 43210",
            "[unsupported message]",
            "[poll message]",
        ]
    );
}

#[tokio::test]
async fn whatsapp_an_order_is_filed_and_its_items_are_added_to_the_cart() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let token = web.token();
    let cart = json!({"cart": [{"sku": "SKU-1", "quantity": 1, "price": 499.5}, {"sku": "SKU-9", "quantity": 1, "price": 10}]});
    assert_eq!(app.update(&token, cart).await.status, 200);

    let order = json!({"catalog_id": "1146983379618413", "text": "Deliver by Friday", "product_items": [
        {"product_retailer_id": "SKU-1", "quantity": 2, "item_price": 499.5, "currency": "INR"},
        {"product_retailer_id": "SKU-2", "quantity": 1, "item_price": 1299, "currency": "INR"},
        {"product_retailer_id": "SKU-3", "quantity": 1, "item_price": 0.001, "currency": "INR"}
    ]});
    let body = delivery_of(
        &digits(&phone),
        vec![message(&digits(&phone), &wamid(), 1, "order", order)],
    );
    let reply = app.webhook(&body).await;
    assert_eq!(reply.body["stored"], 1, "{:?}", reply.body);
    // A redelivery adds nothing twice.
    assert_eq!(app.webhook(&body).await.body["duplicates"], 1);

    let session = app.restore(&token).await.body["session"].clone();
    assert_eq!(
        session["cart"],
        json!([
            {"sku": "SKU-1", "quantity": 3, "price": 499.5, "currency": "INR"},
            {"sku": "SKU-9", "quantity": 1, "price": 10.0},
            {"sku": "SKU-2", "quantity": 1, "price": 1299.0, "currency": "INR"},
        ])
    );
    let last = session["chat_context"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last["content"],
        "[order] 3 items: 2 × SKU-1 at 499.50 INR, 1 × SKU-2 at 1299.00 INR; not added to the \
         cart: item 3 (price must be a number from 0 to 1000000000 with at most 2 decimal \
         places)\nDeliver by Friday"
    );
    assert_eq!(last["channel"], "whatsapp");
}

#[tokio::test]
async fn whatsapp_an_order_from_a_new_phone_starts_a_session_with_that_cart() {
    let app = App::new().await;
    let phone = unique_phone();
    let from = digits(&phone);
    let order = json!({"catalog_id": "1", "product_items": [{"product_retailer_id": "SKU-7", "quantity": 4, "item_price": 25.25, "currency": "INR"}]});
    let reply = app
        .webhook(&delivery_of(
            &from,
            vec![message(&from, &wamid(), 1, "order", order)],
        ))
        .await;
    assert_eq!(reply.body["stored"], 1, "{:?}", reply.body);
    let sid = &app.live_sessions(&phone).await[0];
    let session = app.state.store.session(sid).await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_value(&session.cart).unwrap(),
        json!([{"sku": "SKU-7", "quantity": 4, "price": 25.25, "currency": "INR"}])
    );
    assert_eq!(
        history(&app, &phone).await,
        ["[order] 1 item: 4 × SKU-7 at 25.25 INR"]
    );
}

#[tokio::test]
async fn whatsapp_an_edit_and_a_deletion_change_the_stored_message() {
    let app = App::new().await;
    let phone = unique_phone();
    let from = digits(&phone);
    let (first, second) = (wamid(), wamid());
    // Words of this run only: the tables are shared with other tests and earlier runs.
    let tag = &first[6..14];
    let (blue, green) = (
        format!("I want the blue {tag}"),
        format!("I want the green {tag}"),
    );
    let texts = vec![
        message(&from, &first, 1, "text", json!({"body": blue})),
        message(
            &from,
            &second,
            2,
            "image",
            json!({"caption": "like this", "mime_type": "image/jpeg", "id": "1"}),
        ),
    ];
    assert_eq!(
        app.webhook(&delivery_of(&from, texts)).await.body["stored"],
        2
    );

    // Meta's edit: `type: "edit"`, the new message inside, the original's id beside it.
    let edit = |id: &str, second: u32, original: &str, inner: Value| {
        delivery_of(
            &from,
            vec![message(
                &from,
                id,
                second,
                "edit",
                json!({"original_message_id": original, "message": inner}),
            )],
        )
    };
    let edit_text = edit(
        &wamid(),
        3,
        &first,
        json!({"type": "text", "text": {"body": green}}),
    );
    let reply = app.webhook(&edit_text).await;
    assert_eq!(reply.body["revised"], 1, "{:?}", reply.body);
    assert_eq!(reply.body["stored"], 0);
    let caption = edit(
        &wamid(),
        4,
        &second,
        json!({"type": "image", "image": {"caption": "like this, in green", "mime_type": "image/jpeg", "id": "1"}}),
    );
    assert_eq!(app.webhook(&caption).await.body["revised"], 1);
    assert_eq!(
        history(&app, &phone).await,
        [green.as_str(), "[image] like this, in green"]
    );
    // Redelivered: a duplicate, nothing changes.
    assert_eq!(app.webhook(&edit_text).await.body["duplicates"], 1);

    // An edit older than the one applied (delivered late) does not undo it.
    let stale = edit(
        &wamid(),
        2,
        &first,
        json!({"type": "text", "text": {"body": "stale words"}}),
    );
    assert_eq!(app.webhook(&stale).await.body["ignored"], 1);

    // Meta's revoke: the customer deleted the message; its words are gone for good.
    let revoke = delivery_of(
        &from,
        vec![message(
            &from,
            &wamid(),
            5,
            "revoke",
            json!({"original_message_id": first}),
        )],
    );
    assert_eq!(app.webhook(&revoke).await.body["revised"], 1);
    assert_eq!(app.webhook(&revoke).await.body["duplicates"], 1);
    let later_edit = edit(
        &wamid(),
        6,
        &first,
        json!({"type": "text", "text": {"body": "back again"}}),
    );
    assert_eq!(app.webhook(&later_edit).await.body["ignored"], 1);
    let chat = history(&app, &phone).await;
    assert_eq!(
        chat,
        ["[deleted by the customer]", "[image] like this, in green"]
    );
    app.assert_stored_nowhere(&[blue, green]).await;

    // An edit or deletion of a message we never filed changes nothing and files nothing.
    let unknown = edit(
        &wamid(),
        7,
        "wamid.never-filed",
        json!({"type": "text", "text": {"body": "hm"}}),
    );
    let reply = app.webhook(&unknown).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["ignored"], 1, "{:?}", reply.body);
    assert_eq!(history(&app, &phone).await.len(), 2);
}

#[tokio::test]
async fn whatsapp_a_reaction_changes_nothing() {
    let app = App::new().await;
    let phone = unique_phone();
    let from = digits(&phone);
    let first = wamid();
    let text = message(&from, &first, 1, "text", json!({"body": "hello"}));
    assert_eq!(
        app.webhook(&delivery_of(&from, vec![text])).await.body["stored"],
        1
    );
    let sid = app.live_sessions(&phone).await[0].clone();
    let before = app.state.store.session(&sid).await.unwrap().unwrap();

    let reaction = message(
        &from,
        &wamid(),
        2,
        "reaction",
        json!({"message_id": first, "emoji": "\u{2764}\u{fe0f}"}),
    );
    let reply = app.webhook(&delivery_of(&from, vec![reaction])).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["ignored"], 1);
    assert_eq!(reply.body["stored"], 0);
    let after = app.state.store.session(&sid).await.unwrap().unwrap();
    assert_eq!(after.message_count, before.message_count);
    assert_eq!(after.updated_at, before.updated_at);
    assert_eq!(history(&app, &phone).await, ["hello"]);
}
