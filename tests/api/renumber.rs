//! A new phone number for an account (`POST /auth/phone/change`): proven by a code sent
//! to the new number; the account and its live session move, every login keeps working,
//! and the old number is free.

use serde_json::json;

use crate::helpers::*;

async fn change(app: &App, token: &str, to: &str, code: &str) -> Reply {
    let body = json!({"new_phone_number": to, "code": code});
    app.send(with_token(
        with_body(event("auth-phone-change"), &body),
        token,
    ))
    .await
}

#[tokio::test]
async fn a_new_number_moves_the_account_and_its_session_and_frees_the_old_one() {
    let app = App::with_standin(&[]).await;
    let (old, web) = app.new_customer().await;
    let kiosk = app.login(&old, "secret-pass", "kiosk").await;
    let said = json!({"messages": [{"role": "user", "content": "before the move"}]});
    assert_eq!(app.update(&web.token(), said).await.status, 200);
    let new = unique_phone();

    assert_eq!(app.send_code(&new, "change_phone").await.status, 202);
    let moved = change(&app, &web.token(), &new, &app.last_code(&new)).await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.token(), web.token());
    assert_eq!(moved.body["customer"]["phone_number"], new.as_str());
    assert_eq!(moved.body["session"]["phone"], new.as_str());
    assert_eq!(moved.session_id(), web.session_id());
    // Every login keeps working, in the same session and history.
    let restore = app.restore(&kiosk.token()).await;
    assert_eq!(restore.status, 200);
    assert!(
        restore.body["session"]["chat_context"]
            .to_string()
            .contains("before the move")
    );
    // The password logs in by the new number, into the same session; not by the old one.
    let by_new = app.login(&new, "secret-pass", "web").await;
    assert_eq!(by_new.status, 200, "{:?}", by_new.body);
    assert_eq!(by_new.session_id(), web.session_id());
    assert_eq!(app.login(&old, "secret-pass", "web").await.status, 401);
    // The old number is free.
    assert_eq!(app.signup(&old, "someone elses", "web").await.status, 201);
}

#[tokio::test]
async fn a_number_change_needs_the_new_numbers_code_a_password_login_and_a_free_number() {
    let app = App::with_standin(&[]).await;
    let (old, web) = app.new_customer().await;
    let (taken, _) = app.new_customer().await;
    let new = unique_phone();
    // A phone-level login may not.
    let kiosk = app.kiosk_start(&old).await;
    assert_eq!(
        change(&app, &kiosk.token(), &new, "123456").await.status,
        403
    );
    // A code for another purpose, or for the old number, is no code for this.
    assert_eq!(app.send_code(&new, "login").await.status, 202);
    let reply = change(&app, &web.token(), &new, &app.last_code(&new)).await;
    assert_eq!(reply.status, 401, "{:?}", reply.body);
    // A number another account has: 409, and only its holder learns it (the code first).
    assert_eq!(app.send_code(&taken, "change_phone").await.status, 202);
    let reply = change(&app, &web.token(), &taken, &app.last_code(&taken)).await;
    assert_eq!(reply.status, 409, "{:?}", reply.body);
    // The same number: 400.
    let reply = change(&app, &web.token(), &old, "123456").await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert!(reply.detail().contains("new_phone_number"));
    // Nothing moved.
    assert_eq!(app.login(&old, "secret-pass", "web").await.status, 200);
}
