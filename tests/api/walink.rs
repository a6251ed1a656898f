//! WhatsApp click-to-verify: a page or kiosk makes a `wa.me` link, the customer sends its
//! text from WhatsApp, the signed delivery binds the link to the sender once, and the
//! page's poll becomes that phone's `password`-level login once (or steps its own login
//! up), then `410`.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

use crate::helpers::*;

async fn walink_app() -> App {
    App::new().await
}

fn digits(phone: &str) -> String {
    phone.trim_start_matches('+').to_string()
}

/// An address of its own, so that the hourly limit of links per address is not shared
/// with other tests (or earlier runs).
pub(crate) fn fresh_address() -> String {
    let [a, b, c] = rand::random::<[u8; 3]>();
    format!("10.{a}.{b}.{c}")
}

/// `POST /auth/wa-link` with `body`, from an address of its own.
fn make_link(body: &serde_json::Value) -> lambda_http::Request {
    from_ip(with_body(event("auth-wa-link"), body), &fresh_address())
}

/// A link made on the web (no kiosk key, no token).
pub(crate) async fn web_link(app: &App) -> Reply {
    let reply = app.send(make_link(&json!({"channel": "web"}))).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply
}

/// The one-time text a link's `wa_url` prefills.
pub(crate) fn text_of(link: &Reply) -> String {
    let url = link.text("/wa_url").unwrap();
    let (_, query) = url.split_once("?text=").expect("a text in the wa.me link");
    let bytes = query.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&query[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn poll_request(link: &Reply) -> lambda_http::Request {
    poll_with(
        &link.text("/link_id").unwrap(),
        &link.text("/link_secret").unwrap(),
    )
}

fn poll_with(link_id: &str, secret: &str) -> lambda_http::Request {
    let req = event("auth-wa-link-link_id");
    let path = req
        .uri()
        .path()
        .replace("REPLACE_WITH_LINK_ID", link_id)
        .to_string();
    with_header(with_path(req, &path), "x-link-secret", secret)
}

pub(crate) async fn poll(app: &App, link: &Reply) -> Reply {
    app.send(poll_request(link)).await
}

/// The customer sends `text` from `phone` on WhatsApp (a fresh message id).
pub(crate) async fn send_text(app: &App, phone: &str, text: &str) -> Reply {
    let reply = app
        .webhook(&delivery(&[(&digits(phone), &wamid(), text)], "Asha"))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply
}

/// Every chat message stored for a session, from the messages table itself.
async fn stored_chat(app: &App, session_id: &str) -> Vec<String> {
    let out = app
        .db()
        .query()
        .table_name(&app.state.config.tables.messages)
        .key_condition_expression("pk = :sid")
        .expression_attribute_values(":sid", AttributeValue::S(session_id.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.items().iter().map(|item| format!("{item:?}")).collect()
}

async fn link_item(app: &App, link: &Reply) -> Item {
    let pk = format!("walink#{}", link.text("/link_id").unwrap());
    app.sessions_item(&pk).await.expect("the link's item")
}

#[tokio::test]
async fn walink_a_web_link_logs_the_sender_in_once_into_their_session_then_is_gone() {
    let app = &walink_app().await;
    let phone = unique_phone();
    let whatsapp = app.whatsapp_login(&phone, "Asha").await;
    assert_eq!(whatsapp.status, 200, "{:?}", whatsapp.body);

    let link = web_link(app).await;
    let text = text_of(&link);
    assert!(text.starts_with("Log me in with this number: "), "{text}");
    assert!(
        link.text("/wa_url").unwrap().starts_with(
            "https://wa.me/919800000001?text=Log%20me%20in%20with%20this%20number%3A%20"
        )
    );
    assert!(link.text("/qr_svg").unwrap().contains("<svg"));
    assert_eq!(link.text("/link_id").unwrap().len(), 32);
    assert!(link.text("/link_secret").unwrap().len() >= 22, "≥ 128 bits");
    let pending = poll(app, &link).await;
    assert_eq!(pending.status, 202, "{:?}", pending.body);
    assert_eq!(pending.body["status"], "pending");
    assert_eq!(pending.body["expires_at"], link.body["expires_at"]);

    let delivered = delivery(&[(&digits(&phone), &wamid(), &text)], "Asha");
    let sent = app.webhook(&delivered).await;
    assert_eq!(sent.status, 200, "{:?}", sent.body);
    assert_eq!(sent.body["link_texts"], 1);
    assert_eq!(sent.body["stored"], 0);

    let login = poll(app, &link).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(
        login.session_id(),
        whatsapp.session_id(),
        "joins their session"
    );
    assert_eq!(login.body["session"]["phone"], phone.as_str());
    assert_eq!(login.body["reused"], true);
    // password level: only such a login may make a QR code.
    assert_eq!(app.qr_init(&login.token()).await.status, 200);
    let chat = stored_chat(app, &login.session_id()).await;
    let chars = &text["Log me in with this number: ".len()..];
    assert!(
        chat.iter().all(|m| !m.contains(chars)),
        "the text is not filed as chat"
    );

    assert_eq!(poll(app, &link).await.status, 410, "collected once");
    // Meta delivers the same message again: nothing new, still gone.
    let again = app.webhook(&delivered).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["stored"], 0);
    assert_eq!(poll(app, &link).await.status, 410);
}

#[tokio::test]
async fn walink_two_phones_racing_one_text_bind_it_once() {
    let app = walink_app().await;
    let link = web_link(&app).await;
    let text = text_of(&link);
    let (a, b) = (unique_phone(), unique_phone());
    let (sent_a, sent_b) = tokio::join!(send_text(&app, &a, &text), send_text(&app, &b, &text));
    assert_eq!(sent_a.body["stored"], 0, "neither files the text");
    assert_eq!(sent_b.body["stored"], 0);
    let winner = link_item(&app, &link).await["sender"]
        .as_s()
        .unwrap()
        .clone();
    assert!(winner == a || winner == b);
    let loser = if winner == a { &b } else { &a };
    // The loser trying again changes nothing.
    send_text(&app, loser, &text).await;
    let login = poll(&app, &link).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.body["session"]["phone"], winner.as_str());
}

#[tokio::test]
async fn walink_of_two_polls_at_once_exactly_one_gets_the_login() {
    let app = walink_app().await;
    let link = web_link(&app).await;
    send_text(&app, &unique_phone(), &text_of(&link)).await;
    let (first, second) = tokio::join!(poll(&app, &link), poll(&app, &link));
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [200, 410], "{:?} {:?}", first.body, second.body);
}

#[tokio::test]
async fn walink_a_wrong_secret_is_the_same_404_as_an_unknown_link() {
    let app = walink_app().await;
    let link = web_link(&app).await;
    let link_id = link.text("/link_id").unwrap();
    let wrong = app.send(poll_with(&link_id, "not-the-secret")).await;
    assert_eq!(wrong.status, 404, "{:?}", wrong.body);
    let unknown = app
        .send(poll_with(
            &hex::encode(rand::random::<[u8; 16]>()),
            &link.text("/link_secret").unwrap(),
        ))
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.body, wrong.body);
    let malformed = app.send(poll_with("../../x", "s")).await;
    assert_eq!(malformed.status, 404);
    let no_secret = without_header(poll_request(&link), "x-link-secret");
    assert_eq!(app.send(no_secret).await.status, 401);
    // None of these used the link up.
    send_text(&app, &unique_phone(), &text_of(&link)).await;
    assert_eq!(poll(&app, &link).await.status, 200);
}

#[tokio::test]
async fn walink_an_expired_link_is_gone_and_its_text_binds_nothing_and_is_not_filed() {
    let app = walink_app().await;
    let link = web_link(&app).await;
    let pk = format!("walink#{}", link.text("/link_id").unwrap());
    app.db()
        .update_item()
        .table_name(&app.state.config.tables.sessions)
        .key("pk", AttributeValue::S(pk))
        .update_expression("SET expires_at = :past")
        .expression_attribute_values(
            ":past",
            AttributeValue::N((chrono::Utc::now().timestamp() - 1).to_string()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(poll(&app, &link).await.status, 410);
    let phone = unique_phone();
    let sent = send_text(&app, &phone, &text_of(&link)).await;
    assert_eq!(sent.body["link_texts"], 1);
    assert_eq!(sent.body["stored"], 0, "ours, though no link waits for it");
    assert!(!link_item(&app, &link).await.contains_key("sender"));
    assert!(app.live_sessions(&phone).await.is_empty());
    assert_eq!(poll(&app, &link).await.status, 410);

    // Twelve letters of the alphabet without the prefix are most likely just chat.
    let chat = send_text(&app, &phone, "Perfect match").await;
    assert_eq!(chat.body["stored"], 1, "{:?}", chat.body);
}

#[tokio::test]
async fn walink_a_kiosk_link_needs_the_kiosk_key_to_make_and_to_collect() {
    let app = walink_app().await;
    // This test process's own key: kiosk links count against their key's hourly limit.
    let key = app.kiosk_key();
    let kiosk_body = json!({"channel": "kiosk"});
    let no_key = app.send(make_link(&kiosk_body)).await;
    assert_eq!(no_key.status, 401, "{:?}", no_key.body);
    let unregistered = with_header(make_link(&kiosk_body), "x-kiosk-key", "not-a-kiosk-key");
    assert_eq!(app.send(unregistered).await.status, 401);
    let web_with_key = with_header(make_link(&json!({"channel": "web"})), "x-kiosk-key", &key);
    assert_eq!(app.send(web_with_key).await.status, 403);
    let whatsapp = app.send(make_link(&json!({"channel": "whatsapp"}))).await;
    assert_eq!(whatsapp.status, 400);

    let link = app
        .send(with_header(make_link(&kiosk_body), "x-kiosk-key", &key))
        .await;
    assert_eq!(link.status, 200, "{:?}", link.body);
    let phone = unique_phone();
    send_text(&app, &phone, &text_of(&link)).await;
    // Another kiosk, or none, cannot collect it (and does not use it up).
    assert_eq!(poll(&app, &link).await.status, 403);
    let other = with_header(poll_request(&link), "x-kiosk-key", &app.dev_kiosk_key());
    assert_eq!(app.send(other).await.status, 403);
    let login = app
        .send(with_header(poll_request(&link), "x-kiosk-key", &key))
        .await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.body["session"]["channel"], "kiosk");
    assert_eq!(login.body["session"]["phone"], phone.as_str());
    assert_eq!(app.qr_init(&login.token()).await.status, 200);
}

/// A kiosk's phone-level login of `phone` (typed at the counter).
async fn kiosk_login(app: &App, phone: &str) -> Reply {
    let reply = app.kiosk_start(phone).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(app.qr_init(&reply.token()).await.status, 403, "phone level");
    reply
}

async fn step_up_link(app: &App, token: &str) -> Reply {
    let req = with_token(
        with_header(
            make_link(&json!({"channel": "kiosk"})),
            "x-kiosk-key",
            &app.kiosk_key(),
        ),
        token,
    );
    let reply = app.send(req).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply
}

fn kiosk_poll(app: &App, link: &Reply, token: Option<&str>) -> lambda_http::Request {
    let req = with_header(poll_request(link), "x-kiosk-key", &app.kiosk_key());
    match token {
        Some(token) => with_token(req, token),
        None => req,
    }
}

#[tokio::test]
async fn walink_a_step_up_link_raises_the_kiosk_login_in_place() {
    let app = walink_app().await;
    let phone = unique_phone();
    let kiosk = kiosk_login(&app, &phone).await;
    let link = step_up_link(&app, &kiosk.token()).await;
    send_text(&app, &phone, &text_of(&link)).await;

    // Collected only by the login it was made for.
    let without = app.send(kiosk_poll(&app, &link, None)).await;
    assert_eq!(without.status, 401, "{:?}", without.body);
    let other = kiosk_login(&app, &unique_phone()).await;
    let with_other = app
        .send(kiosk_poll(&app, &link, Some(&other.token())))
        .await;
    assert_eq!(with_other.status, 403, "{:?}", with_other.body);

    let raised = app
        .send(kiosk_poll(&app, &link, Some(&kiosk.token())))
        .await;
    assert_eq!(raised.status, 200, "{:?}", raised.body);
    assert_eq!(raised.token(), kiosk.token(), "the same token");
    assert_eq!(raised.session_id(), kiosk.session_id());
    assert_eq!(
        app.qr_init(&kiosk.token()).await.status,
        200,
        "now password level"
    );
    let again = app
        .send(kiosk_poll(&app, &link, Some(&kiosk.token())))
        .await;
    assert_eq!(again.status, 410);
}

#[tokio::test]
async fn walink_a_step_up_link_sent_from_another_phone_is_refused_and_used_up() {
    let app = walink_app().await;
    let kiosk = kiosk_login(&app, &unique_phone()).await;
    let link = step_up_link(&app, &kiosk.token()).await;
    send_text(&app, &unique_phone(), &text_of(&link)).await;
    let refused = app
        .send(kiosk_poll(&app, &link, Some(&kiosk.token())))
        .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(app.qr_init(&kiosk.token()).await.status, 403, "not raised");
    let again = app
        .send(kiosk_poll(&app, &link, Some(&kiosk.token())))
        .await;
    assert_eq!(again.status, 410);
}

#[tokio::test]
async fn walink_the_sender_takes_over_an_unproven_signup_of_their_phone() {
    let app = walink_app().await;
    let phone = unique_phone();
    let signup = app.signup(&phone, "squatter-pass", "web").await;
    assert_eq!(signup.status, 201, "{:?}", signup.body);
    let link = web_link(&app).await;
    send_text(&app, &phone, &text_of(&link)).await;
    let login = poll(&app, &link).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_ne!(login.session_id(), signup.session_id());
    assert_eq!(app.restore(&signup.token()).await.status, 401);
    assert_eq!(app.restore(&login.token()).await.status, 200);
    assert_eq!(
        app.login(&phone, "squatter-pass", "web").await.status,
        401,
        "the unproven password is gone"
    );
}

#[tokio::test]
async fn walink_neither_the_text_nor_the_secret_is_stored_anywhere() {
    let app = walink_app().await;
    let phone = unique_phone();
    let link = web_link(&app).await;
    let pending = web_link(&app).await;
    let text = text_of(&link);
    send_text(&app, &phone, &text).await;
    assert_eq!(poll(&app, &link).await.status, 200);
    let mut secrets = Vec::new();
    for made in [&link, &pending] {
        let text = text_of(made);
        secrets.push(text["Log me in with this number: ".len()..].to_string());
        secrets.push(text["Log me in with this number: ".len()..].replace('-', ""));
        secrets.push(made.text("/link_secret").unwrap());
    }
    app.assert_stored_nowhere(&secrets).await;
    let item = link_item(&app, &link).await;
    let hash = item["secret_hash"].as_s().unwrap();
    assert_eq!(hash.len(), 64, "sha-256 hex");
}

#[tokio::test]
async fn walink_link_making_is_limited_per_address() {
    let app = walink_app().await;
    let address = fresh_address();
    let make = || from_ip(make_link(&json!({"channel": "web"})), &address);
    for _ in 0..omnisession::service::walink::LINKS_PER_ADDRESS_HOUR {
        assert_eq!(app.send(make()).await.status, 200);
    }
    let refused = app.send(make()).await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert!(refused.headers.contains_key("retry-after"));
}
