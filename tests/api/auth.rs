//! Password signup, login and logout.

use crate::helpers::*;

#[tokio::test]
async fn signup_creates_the_customer_and_logs_them_in() {
    let app = App::new().await;
    let phone = unique_phone();
    let reply = app.signup(&phone, "secret-pass", "website").await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.body["reused"], false);
    assert_eq!(reply.body["customer"]["phone_number"], phone.as_str());
    assert_eq!(reply.body["customer"]["city"], "Pune");
    assert_eq!(reply.body["session"]["channel"], "web");
    assert_eq!(reply.channels(), ["web"]);
    let text = reply.body["customer"].to_string();
    assert!(
        !text.contains("password"),
        "customer must not carry a password: {text}"
    );

    let restored = app.restore(&reply.token()).await;
    assert_eq!(restored.status, 200);
    assert_eq!(
        restored.body["session"]["session_id"],
        reply.session_id().as_str()
    );
}

#[tokio::test]
async fn a_phone_can_sign_up_once_whatever_way_it_is_written() {
    let app = App::new().await;
    let phone = unique_phone();
    assert_eq!(app.signup(&phone, "secret-pass", "web").await.status, 201);
    // The same number without the + is the same customer.
    let again = app
        .signup(phone.trim_start_matches('+'), "other-pass", "kiosk")
        .await;
    assert_eq!(again.status, 409, "{:?}", again.body);
    assert_eq!(again.body["error_type"], "conflict");
    assert!(again.detail().contains("already registered"));
}

#[tokio::test]
async fn login_with_the_password_joins_the_live_session() {
    let app = App::new().await;
    let (phone, signed_up) = app.new_customer().await;
    let national = phone.trim_start_matches("+91");
    let login = app.login(national, "secret-pass", "kiosk").await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.body["reused"], true);
    assert_eq!(login.session_id(), signed_up.session_id());
    assert_eq!(login.channels(), ["web", "kiosk"]);
    assert_ne!(
        login.token(),
        signed_up.token(),
        "every login gets its own token"
    );
}

#[tokio::test]
async fn unknown_phone_and_wrong_password_get_the_same_answer() {
    let app = App::new().await;
    let (phone, _) = app.new_customer().await;
    let wrong = app.login(&phone, "not-the-password", "web").await;
    let unknown = app.login(&unique_phone(), "secret-pass", "web").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body["error_type"], "invalid_credentials");
}

#[tokio::test]
async fn a_customer_without_a_password_cannot_log_in_with_one() {
    let app = App::new().await;
    let phone = unique_phone();
    assert_eq!(app.whatsapp_login(&phone, "Ravi").await.status, 200);
    let login = app.login(&phone, "anything-at-all", "web").await;
    assert_eq!(login.status, 401);
    assert_eq!(login.body["error_type"], "invalid_credentials");
}

#[tokio::test]
async fn logout_ends_that_login_at_once() {
    let app = App::new().await;
    let (_, reply) = app.new_customer().await;
    let token = reply.token();
    let out = app.send(with_token(event("auth-logout"), &token)).await;
    assert_eq!(out.status, 200, "{:?}", out.body);
    assert_eq!(app.restore(&token).await.status, 401);
    let again = app.send(with_token(event("auth-logout"), &token)).await;
    assert_eq!(again.status, 401);
}

#[tokio::test]
async fn whatsapp_cannot_use_password_login() {
    let app = App::new().await;
    let (phone, _) = app.new_customer().await;
    let reply = app.login(&phone, "secret-pass", "whatsapp").await;
    assert_eq!(reply.status, 400);
    assert!(reply.detail().contains("channel"), "{}", reply.detail());
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_phone_even_against_the_right_one() {
    let app = App::new().await;
    let (phone, _) = app.new_customer().await;
    for _ in 0..5 {
        assert_eq!(app.login(&phone, "wrong-password", "web").await.status, 401);
    }
    let locked = app.login(&phone, "secret-pass", "web").await;
    assert_eq!(locked.status, 429, "{:?}", locked.body);
    assert_eq!(locked.body["error_type"], "rate_limited");
    let wait: u64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(wait, 1, "2^(5-5) seconds");

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(app.login(&phone, "secret-pass", "web").await.status, 200);
    // The success reset the count: one more mistake is a plain 401.
    assert_eq!(app.login(&phone, "wrong-password", "web").await.status, 401);
    assert_eq!(app.login(&phone, "secret-pass", "web").await.status, 200);
}

#[tokio::test]
async fn unknown_phones_lock_the_same_way() {
    let app = App::new().await;
    let phone = unique_phone();
    for _ in 0..5 {
        assert_eq!(app.login(&phone, "any-password", "web").await.status, 401);
    }
    assert_eq!(app.login(&phone, "any-password", "web").await.status, 429);
}

#[tokio::test]
async fn a_72_byte_password_is_accepted_whole() {
    let app = App::new().await;
    let phone = unique_phone();
    let full = "q".repeat(72);
    assert_eq!(app.signup(&phone, &full, "web").await.status, 201);
    assert_eq!(app.login(&phone, &full, "web").await.status, 200);
    assert_eq!(app.login(&phone, &full[..71], "web").await.status, 401);
}
