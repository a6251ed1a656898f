//! `GET /auth/me/export`: everything stored about the customer, the history a page at a
//! time, and no secret in it.

use serde_json::Value;

use crate::helpers::*;

/// Writes `count` messages into a session's history directly (25 to a `BatchWriteItem`),
/// in time order: a long history without thousands of requests.
pub(crate) async fn seed_messages(app: &App, session_id: &str, count: usize) {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    let s = |v: String| AttributeValue::S(v);
    let requests: Vec<WriteRequest> = (0..count)
        .map(|i| {
            let at = chrono::DateTime::from_timestamp(1_795_780_800 + i as i64, 0).unwrap();
            let put = PutRequest::builder()
                .item("pk", s(session_id.to_string()))
                .item("sk", s(format!("{:013}#00#{i:08x}", at.timestamp_millis())))
                .item("role", s("user".into()))
                .item("content", s(format!("message {i}")))
                .item("channel", s("web".into()))
                .item("at", s(omnisession::model::rfc3339(at)))
                .item("expires_at", AttributeValue::N("4102444800".into()))
                .build()
                .unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    let table = &app.state.config.tables.messages;
    let writes = requests.chunks(25).map(|chunk| async move {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            let out = app
                .db()
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .unwrap();
            pending = out
                .unprocessed_items
                .and_then(|mut left| left.remove(table))
                .unwrap_or_default();
        }
    });
    futures::future::join_all(writes).await;
}

async fn export(app: &App, token: &str, cursor: Option<&str>) -> Reply {
    let mut req = with_token(event("auth-me-export"), token);
    if let Some(cursor) = cursor {
        req = with_path(req, &format!("/auth/me/export?cursor={cursor}"));
        use lambda_http::RequestExt;
        req = req.with_query_string_parameters(std::collections::HashMap::from([(
            "cursor".to_string(),
            cursor.to_string(),
        )]));
    }
    app.send(req).await
}

#[tokio::test]
async fn export_pages_a_long_history_with_a_cursor_and_holds_no_secret() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let sid = web.session_id();
    seed_messages(&app, &sid, 1200).await;
    let kiosk = app.login(&phone, "secret-pass", "kiosk").await;
    assert_eq!(kiosk.status, 200);

    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = export(&app, &web.token(), cursor.as_deref()).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        pages += 1;
        if pages == 1 {
            assert_eq!(page.body["customer"]["record"]["phone_number"], phone);
            assert_eq!(page.body["customer"]["record"]["city"], "Pune");
            assert_eq!(page.body["session"]["session_id"], sid);
            let logins = page.body["logins"].as_array().unwrap();
            assert_eq!(logins.len(), 2, "{logins:?}");
            for login in logins {
                assert!(login["channel"].is_string() && login["issued_at"].is_string());
                assert!(login["level"].is_string());
            }
            // The account's events: its two logins at least (and the pages read so far).
            let kinds: Vec<&str> = page.body["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| e["kind"].as_str())
                .collect();
            assert!(
                kinds.iter().filter(|k| **k == "login").count() >= 2,
                "{kinds:?}"
            );
            // Nothing secret: no password, hash or token anywhere in the answer.
            let text = page.body.to_string();
            for secret in ["secret-pass", "$2", "hash", &web.token(), &kiosk.token()] {
                assert!(!text.contains(secret), "the export shows {secret:?}");
            }
            let token_secret = web.token().rsplit('.').next().unwrap().to_string();
            assert!(!text.contains(&token_secret));
        }
        seen.extend(
            page.body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["content"].as_str().unwrap().to_string()),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
        assert!(pages < 10, "the cursor does not end");
    }
    assert!(pages >= 3, "1 200 messages in pages of 500: {pages}");
    let expected: Vec<String> = (0..1200).map(|i| format!("message {i}")).collect();
    assert_eq!(seen, expected, "every message once, in order");

    let bad = export(&app, &web.token(), Some("bm90LWEtY3Vyc29y")).await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    assert!(bad.detail().contains("cursor"));
}

#[tokio::test]
async fn export_needs_a_password_login() {
    let app = App::new().await;
    let (phone, _) = app.new_customer().await;
    let kiosk = app.kiosk_start(&phone).await;
    assert_eq!(kiosk.status, 200, "{:?}", kiosk.body);
    let reply = export(&app, &kiosk.token(), None).await;
    assert_eq!(reply.status, 403, "{:?}", reply.body);
    let none = app.send(event("auth-me-export")).await;
    assert_eq!(none.status, 401);
    let _: Value = none.body;
}
