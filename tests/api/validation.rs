//! Credentials that are missing or wrong, and input that is malformed: always a clear
//! 4xx that names the problem, never a 500.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn phone_only_login_needs_a_valid_signature() {
    let app = App::new().await;
    let phone = unique_phone();
    let body = json!({"phone_number": phone, "name": "Ravi", "channel": "whatsapp"}).to_string();

    let unsigned = without_header(
        with_raw_body(event("session-login"), &body),
        "x-hub-signature-256",
    );
    let reply = app.send(unsigned).await;
    assert_eq!(reply.status, 401);
    assert!(reply.detail().contains("X-Hub-Signature-256"));

    // The sample event's signature is for another body.
    let resigned = with_raw_body(event("session-login"), &body);
    assert_eq!(app.send(resigned).await.status, 401);

    let signature = omnisession::secrets::hub_signature(
        &omnisession::secrets::SecretString::new("not-the-app-secret"),
        body.as_bytes(),
    );
    let wrong = with_header(
        with_raw_body(event("session-login"), &body),
        "x-hub-signature-256",
        &signature,
    );
    assert_eq!(app.send(wrong).await.status, 401);
    assert!(app.live_sessions(&phone).await.is_empty(), "nothing stored");

    assert_eq!(app.whatsapp_login(&phone, "Ravi").await.status, 200);
}

#[tokio::test]
async fn session_start_needs_a_kiosk_key_or_a_token() {
    let app = App::new().await;
    let phone = unique_phone();
    let body = json!({"phone": phone, "channel": "kiosk"});
    let keyless = without_header(with_body(event("session-start"), &body), "x-kiosk-key");
    let reply = app.send(keyless).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["error_type"], "unauthorized");

    let wrong_key = with_header(
        with_body(event("session-start"), &body),
        "x-kiosk-key",
        "not-a-registered-kiosk",
    );
    assert_eq!(app.send(wrong_key).await.status, 401);

    let web_channel = with_body(
        event("session-start"),
        &json!({"phone": phone, "channel": "web"}),
    );
    assert_eq!(app.send(web_channel).await.status, 403);
    assert!(app.live_sessions(&phone).await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn token_endpoints_refuse_missing_and_forged_tokens() {
    let app = App::new().await;
    let missing = app
        .send(without_header(event("session-restore"), "x-session-token"))
        .await;
    assert_eq!(missing.status, 401);
    assert!(missing.detail().contains("X-Session-Token"));
    for forged in ["REPLACE_WITH_SESSION_TOKEN", "a.b.c", &"f".repeat(2000)] {
        assert_eq!(app.restore(forged).await.status, 401, "{forged}");
    }
    // A well-formed token for a real session, with the wrong secret.
    let (_, web) = app.new_customer().await;
    let token = web.token();
    let (head, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{head}.{}", "A".repeat(43));
    assert_eq!(app.restore(&forged).await.status, 401);
    // Bearer works as well as X-Session-Token.
    let bearer = with_header(
        without_header(event("session-restore"), "x-session-token"),
        "authorization",
        &format!("Bearer {token}"),
    );
    assert_eq!(app.send(bearer).await.status, 200);
}

async fn expect_400(app: &App, name: &str, body: &str, field: &str) {
    let reply = app.send(with_raw_body(event(name), body)).await;
    assert_eq!(reply.status, 400, "{name} {body}: {:?}", reply.body);
    assert_eq!(reply.body["error_type"], "validation_error");
    assert!(
        reply.detail().contains(field),
        "{name} {body}: detail {:?} should name {field}",
        reply.detail()
    );
}

#[tokio::test]
async fn bad_input_is_a_400_that_names_the_field() {
    let app = App::new().await;
    let phone = unique_phone();
    expect_400(&app, "auth-login", "{not json", "not valid JSON").await;
    expect_400(&app, "auth-login", "[1,2]", "JSON object").await;
    expect_400(
        &app,
        "auth-login",
        r#"{"password":"test123","channel":"web"}"#,
        "phone_number",
    )
    .await;
    expect_400(
        &app,
        "auth-login",
        r#"{"phone_number":"12","password":"test123","channel":"web"}"#,
        "phone_number",
    )
    .await;
    expect_400(
        &app,
        "auth-login",
        &json!({"phone_number": phone, "password": "x", "channel": "fax"}).to_string(),
        "channel",
    )
    .await;
    expect_400(
        &app,
        "auth-login",
        &json!({"phone_number": phone, "password": 5, "channel": "web"}).to_string(),
        "password",
    )
    .await;
    let long = "a".repeat(73);
    expect_400(
        &app,
        "auth-login",
        &json!({"phone_number": phone, "password": long, "channel": "web"}).to_string(),
        "password",
    )
    .await;
    let signup = |password: &str| {
        json!({"name": "A", "phone_number": phone, "password": password, "channel": "web"})
            .to_string()
    };
    expect_400(&app, "auth-signup", &signup(&long), "72 bytes").await;
    expect_400(&app, "auth-signup", &signup("12345"), "at least 6").await;
    expect_400(&app, "auth-signup", &signup("Password123"), "most common").await;
    expect_400(
        &app,
        "auth-signup",
        &json!({"name": "", "phone_number": phone, "password": "secret-pass", "channel": "web"})
            .to_string(),
        "name",
    )
    .await;
    expect_400(&app, "auth-signup", &json!({"name": "A", "phone_number": phone, "password": "secret-pass", "channel": "web", "age": 400}).to_string(), "age").await;
    expect_400(
        &app,
        "session-start",
        &json!({"phone": "abc", "channel": "kiosk"}).to_string(),
        "phone",
    )
    .await;
    expect_400(
        &app,
        "session-start",
        &json!({"phone": phone, "channel": "kiosk", "customer_id": "no spaces"}).to_string(),
        "customer_id",
    )
    .await;
    // Nothing of the above created a customer.
    assert_eq!(app.login(&phone, "secret-pass", "web").await.status, 401);
}

#[tokio::test]
async fn update_rejects_bad_items_and_stores_nothing() {
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let token = web.token();
    let cases = [
        (json!({}), "nothing to update"),
        (
            json!({"messages": [{"role": "system", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"messages": [{"role": "user", "content": ""}]}),
            "messages[0].content",
        ),
        (
            json!({"cart": [{"sku": "A", "quantity": 0, "price": 1}]}),
            "cart[0].quantity",
        ),
        (
            json!({"cart": [{"sku": "A", "quantity": 1, "price": -3}]}),
            "cart[0].price",
        ),
        (json!({"cart": "A"}), "cart"),
        (
            json!({"cart": [{"sku": "A", "quantity": 1, "price": 1e-200}]}),
            "cart[0].price",
        ),
        (json!({"recommended_skus": [""]}), "recommended_skus[0]"),
        (
            json!({"recommended_skus": (0..51).map(|i| format!("S{i}")).collect::<Vec<_>>()}),
            "recommended_skus",
        ),
        (
            json!({"messages": (0..21).map(|_| json!({"role": "user", "content": "x"})).collect::<Vec<_>>()}),
            "messages",
        ),
        (json!({"summary": "x".repeat(9000)}), "summary"),
    ];
    for (body, field) in cases {
        let reply = app.update(&token, body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {:?}", reply.body);
        assert!(
            reply.detail().contains(field),
            "{body}: {:?} should name {field}",
            reply.detail()
        );
    }
    let session = app.restore(&token).await.body["session"].clone();
    assert!(session["chat_context"].as_array().unwrap().is_empty());
    assert!(session["cart"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn wrong_content_type_huge_bodies_and_unknown_routes_are_4xx() {
    let app = App::new().await;
    let body = json!({"phone_number": unique_phone(), "password": "secret", "channel": "web"});
    let form = with_header(
        with_body(event("auth-login"), &body),
        "content-type",
        "application/x-www-form-urlencoded",
    );
    let reply = app.send(form).await;
    assert_eq!(reply.status, 415);
    assert_eq!(reply.body["error_type"], "unsupported_media_type");
    assert_eq!(
        reply.headers["content-type"], "application/json",
        "errors are JSON too"
    );

    let huge = format!(
        r#"{{"phone_number":"{}","password":"x","channel":"web"}}"#,
        "9".repeat(100_000)
    );
    let reply = app.send(with_raw_body(event("auth-login"), &huge)).await;
    assert_eq!(reply.status, 413);

    let mut req = event("auth-login");
    *req.uri_mut() = "/auth/nope".parse().unwrap();
    assert_eq!(app.send(req).await.status, 404);
}
