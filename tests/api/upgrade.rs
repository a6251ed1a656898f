//! Upgrades keep data: a session written by the code before logins and the chat history
//! moved out of the session item (its logins whole in `tokens`, a `recent` chat window,
//! SKUs as bare ranks) carries on after the deploy, on every channel.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use omnisession::token::{IssuedToken, SessionId};
use serde_json::json;

use crate::helpers::*;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn m(entries: Vec<(&str, AttributeValue)>) -> AttributeValue {
    AttributeValue::M(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

/// A login as the old session item held it, whole.
fn old_login(
    token: &IssuedToken,
    channel: &str,
    level: &str,
    by: &str,
    root: Option<&str>,
) -> AttributeValue {
    let mut entry = vec![
        ("hash", s(&token.hash)),
        ("channel", s(channel)),
        ("level", s(level)),
        ("issued_at", s("2026-11-30T09:00:00.000Z")),
        ("by", s(by)),
    ];
    if let Some(root) = root {
        entry.push(("root", s(root)));
    }
    m(entry)
}

fn old_message(content: &str, at: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("role".to_string(), s("user")),
        ("content".to_string(), s(content)),
        ("channel".to_string(), s("web")),
        ("at".to_string(), s(at)),
        ("written_by".to_string(), s("customer:web")),
    ])
}

#[tokio::test]
async fn a_session_stored_in_the_old_layout_carries_on_after_the_deploy() {
    let app = App::new().await;
    let (phone, signup) = app.new_customer().await;
    let customer_id = signup.body["customer"]["customer_id"]
        .as_str()
        .expect("customer_id")
        .to_string();
    // The phone's new-layout session ends: the old one below is its live session.
    assert_eq!(app.end(&signup.token(), "global").await.status, 200);

    let sid = SessionId::generate();
    let web = IssuedToken::issue(&sid);
    let kiosk = IssuedToken::issue(&sid);
    let now = Utc::now().timestamp();
    let said = [
        ("Do you have running shoes?", "2026-11-30T09:01:00.000Z"),
        ("Size 9, please", "2026-11-30T09:02:00.000Z"),
    ];
    let tables = &app.state.config.tables;
    for (i, (content, at)) in said.iter().enumerate() {
        let mut item = old_message(content, at);
        item.insert("pk".into(), s(sid.as_str()));
        item.insert(
            "sk".into(),
            s(format!("{:013}#00#old{i}", 1_796_000_000_000i64 + i as i64)),
        );
        item.insert("expires_at".into(), n(now + 86_400));
        app.db()
            .put_item()
            .table_name(&tables.messages)
            .set_item(Some(item))
            .send()
            .await
            .expect("old message");
    }
    let session = HashMap::from([
        ("pk".to_string(), s(sid.as_str())),
        ("phone".to_string(), s(&phone)),
        ("customer_id".to_string(), s(&customer_id)),
        (
            "channels".to_string(),
            m(vec![
                ("web", s("2026-11-30T09:00:00.000Z")),
                ("kiosk", s("2026-11-30T09:05:00.000Z")),
            ]),
        ),
        (
            "tokens".to_string(),
            AttributeValue::M(HashMap::from([
                (
                    web.token_id.clone(),
                    old_login(&web, "web", "password", "password", None),
                ),
                (
                    kiosk.token_id.clone(),
                    old_login(
                        &kiosk,
                        "kiosk",
                        "password",
                        &format!("login:{}", web.token_id),
                        Some(&web.token_id),
                    ),
                ),
            ])),
        ),
        (
            "recent".to_string(),
            AttributeValue::L(
                said.iter()
                    .map(|(c, at)| AttributeValue::M(old_message(c, at)))
                    .collect(),
            ),
        ),
        ("message_count".to_string(), n(2)),
        ("summary".to_string(), s("Wants running shoes, size 9")),
        ("summary_by".to_string(), s("agent")),
        // SKUs as the oldest layout stored them: bare ranks.
        ("skus".to_string(), m(vec![("SKU-RUN-9", n(5))])),
        (
            "cart".to_string(),
            AttributeValue::L(vec![m(vec![
                ("sku", s("SKU-RUN-9")),
                ("quantity", n(1)),
                ("price", n(4999)),
            ])]),
        ),
        ("created_at".to_string(), s("2026-11-30T09:00:00.000Z")),
        ("updated_at".to_string(), s("2026-11-30T09:05:00.000Z")),
        ("expires_at".to_string(), n(now + 6 * 86_400)),
        ("max_expires_at".to_string(), n(now + 29 * 86_400)),
        ("password_version".to_string(), n(0)),
    ]);
    app.db()
        .put_item()
        .table_name(&tables.sessions)
        .set_item(Some(session))
        .send()
        .await
        .expect("old session");
    app.db()
        .put_item()
        .table_name(&tables.sessions)
        .item("pk", s(format!("phone#{phone}")))
        .item("session_id", s(sid.as_str()))
        .item("expires_at", n(now + 29 * 86_400))
        .send()
        .await
        .expect("old lock");

    // The web login restores it whole: history from the messages table, memory as stored.
    let web_token = web.value.expose().to_string();
    let kiosk_token = kiosk.value.expose().to_string();
    let restored = app.restore(&web_token).await;
    assert_eq!(restored.status, 200, "{:?}", restored.body);
    let view = &restored.body["session"];
    assert_eq!(view["session_id"], sid.as_str());
    let contents: Vec<&str> = view["chat_context"]
        .as_array()
        .expect("chat_context")
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(contents, [said[0].0, said[1].0]);
    assert_eq!(view["conversation_summary"], "Wants running shoes, size 9");
    assert_eq!(view["last_recommended_skus"], json!(["SKU-RUN-9"]));
    assert_eq!(view["cart"][0]["sku"], "SKU-RUN-9");

    // The kiosk login (minted from the web login) writes; the item drops its window.
    let update = app
        .update(
            &kiosk_token,
            json!({"messages": [{"role": "user", "content": "And socks"}]}),
        )
        .await;
    assert_eq!(update.status, 200, "{:?}", update.body);
    let chat = update.body["session"]["chat_context"]
        .as_array()
        .expect("chat")
        .clone();
    assert_eq!(chat.len(), 3);
    assert_eq!(chat[2]["content"], "And socks");
    let item = app.sessions_item(sid.as_str()).await.expect("the session");
    assert!(
        !item.contains_key("recent"),
        "the old chat window is dropped on write"
    );
    assert_eq!(item["message_count"].as_n().map(String::as_str), Ok("3"));

    // A new login joins the same session beside the old ones.
    let login = app.login(&phone, "secret-pass", "web").await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.body["reused"], true);
    assert_eq!(login.session_id(), sid.as_str());
    let context = app.restore(&login.token()).await;
    assert_eq!(
        context.body["session"]["chat_context"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    // Old logins keep their rules: signing out the web login ends what was minted from it.
    let logout = app.send(with_token(event("auth-logout"), &web_token)).await;
    assert_eq!(logout.status, 200, "{:?}", logout.body);
    assert_eq!(app.restore(&web_token).await.status, 401);
    assert_eq!(app.restore(&kiosk_token).await.status, 401);
    assert_eq!(app.restore(&login.token()).await.status, 200);
}

/// A guessing bucket written in seconds before times were kept in milliseconds still
/// locks, and the next failure rewrites it in the new layout without losing the count.
#[tokio::test]
async fn a_lock_written_in_seconds_still_holds_after_the_upgrade() {
    let app = App::new().await;
    let (phone, _) = app.new_customer().await;
    let guard = omnisession::guard::Guard::password(
        &omnisession::phone::PhoneNumber::from_stored(phone.clone()),
        "127.0.0.1",
    );
    let key = format!("lockout#{}", guard.keys()[0]);
    let now = Utc::now().timestamp();
    app.set_session_numbers(
        &key,
        &[
            ("failures", 7),
            ("leak_from", now),
            ("locked_until", now + 60),
        ],
    )
    .await;
    let locked = app.login(&phone, "secret-pass", "web").await;
    assert_eq!(locked.status, 429, "{:?}", locked.body);
    let wait: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((59..=60).contains(&wait), "{wait}");

    // Once the lock has passed, a failure counts on top of the old seven.
    app.set_session_numbers(&key, &[("locked_until", now - 1)])
        .await;
    assert_eq!(app.login(&phone, "wrong-guess", "web").await.status, 401);
    let item = app.sessions_item(&key).await.unwrap();
    assert_eq!(item["failures"].as_n().unwrap(), "8");
    assert!(item.contains_key("locked_until_ms"), "{item:?}");
    assert_eq!(app.login(&phone, "secret-pass", "web").await.status, 429);
}

/// A kiosk login made before the kiosk registry (its maker the fingerprint of a key of
/// the old `KIOSK_KEYS`, no kiosk id or store recorded) still stands after the deploy and
/// is listed with that fingerprint; the registry's kiosk logins of the same session are
/// another group, which never pushes it out.
#[tokio::test]
async fn a_kiosk_login_made_before_the_registry_still_stands_and_lists() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let sid = SessionId::parse(&web.session_id()).expect("a session id");
    let old = IssuedToken::issue(&sid);
    let fingerprint = "0123456789abcdef";
    let entry: omnisession::store::TokenEntry = serde_json::from_value(json!({
        "hash": old.hash,
        "channel": "kiosk",
        "level": "phone",
        "issued_at": "2026-11-30T09:00:00.000Z",
        "by": format!("kiosk:{fingerprint}"),
    }))
    .expect("an old kiosk login");
    let max_expires_at = Utc::now().timestamp() + 86_400;
    app.state
        .store
        .put_login(sid.as_str(), &old.token_id, &entry, max_expires_at)
        .await
        .expect("the old login's item");
    app.db()
        .update_item()
        .table_name(&app.state.config.tables.sessions)
        .key("pk", s(sid.as_str()))
        .update_expression("SET tokens.#t = :mark")
        .expression_attribute_names("#t", &old.token_id)
        .expression_attribute_values(":mark", s(format!("p 1796112000000 k:{fingerprint}")))
        .send()
        .await
        .expect("the old login's mark");
    let old_token = old.value.expose().to_string();
    assert_eq!(app.restore(&old_token).await.status, 200);

    // Four logins by a registered kiosk: its own quota, not the old key's.
    for _ in 0..4 {
        assert_eq!(app.kiosk_start(&phone).await.status, 200);
    }
    assert_eq!(app.restore(&old_token).await.status, 200);
    let logins = app
        .send(with_token(event("auth-sessions"), &web.token()))
        .await;
    let listed = logins.body["logins"]
        .as_array()
        .expect("logins")
        .iter()
        .find(|l| l["login_id"] == old.token_id.as_str())
        .expect("the old kiosk login is listed")
        .clone();
    assert_eq!(listed["kiosk"], fingerprint);
    assert!(listed.get("store").is_none(), "{listed:?}");
}
