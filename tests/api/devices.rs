//! Issue 16, parts 1 and 5: the logins of my session (`GET /auth/sessions`), ending one
//! (`DELETE /auth/sessions/{login_id}`), and the account events recorded on the way.

use omnisession::events::EventKind;
use serde_json::{Value, json};

use crate::helpers::*;

fn login_id(token: &str) -> String {
    token.split('.').nth(1).unwrap().to_string()
}

async fn logins(app: &App, token: &str) -> Reply {
    app.send(with_token(event("auth-sessions"), token)).await
}

async fn end_login(app: &App, token: &str, login_id: &str) -> Reply {
    let req = with_path(
        event("auth-sessions-login_id"),
        &format!("/auth/sessions/{login_id}"),
    );
    app.send(with_token(req, token)).await
}

/// A token of `phone` minted from `token` (`/session/start` with it).
async fn mint(app: &App, token: &str, phone: &str) -> Reply {
    let body = json!({"phone": phone, "channel": "web"});
    let req = without_header(event("session-start"), "x-kiosk-key");
    app.send(with_body(with_token(req, token), &body)).await
}

fn listed<'a>(reply: &'a Reply, token: &str) -> &'a Value {
    let id = login_id(token);
    reply.body["logins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["login_id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} is not listed: {:?}", reply.body))
}

async fn restore_customer(app: &App, token: &str) -> String {
    let restored = app.restore(token).await;
    assert_eq!(restored.status, 200, "{:?}", restored.body);
    restored.body["session"]["customer_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn devices_lists_each_channels_login_with_the_callers_marked_current() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let kiosk = app.kiosk_start(&phone).await;
    let whatsapp = app.whatsapp_login(&phone, "Asha").await;
    assert_eq!(kiosk.status, 200, "{:?}", kiosk.body);
    assert_eq!(whatsapp.status, 200, "{:?}", whatsapp.body);

    let list = logins(&app, &kiosk.token()).await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    assert_eq!(list.body["logins"].as_array().unwrap().len(), 3);
    for (token, channel, level) in [
        (web.token(), "web", "password"),
        (kiosk.token(), "kiosk", "phone"),
        (whatsapp.token(), "whatsapp", "phone"),
    ] {
        let login = listed(&list, &token);
        assert_eq!(login["channel"], channel);
        assert_eq!(login["level"], level);
        assert_eq!(login["current"], token == kiosk.token(), "{login:?}");
        assert!(login["issued_at"].as_str().unwrap().ends_with('Z'));
        assert!(login["last_used_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(login["kiosk"].is_string(), channel == "kiosk", "{login:?}");
    }
    // Nothing that opens a login is shown.
    let text = list.body.to_string();
    for token in [web.token(), kiosk.token(), whatsapp.token()] {
        let secret = token.rsplit('.').next().unwrap().to_string();
        assert!(!text.contains(&secret));
    }
    assert!(!text.contains("hash"));
}

#[tokio::test]
async fn devices_ending_a_login_refuses_its_token_at_once_and_the_others_work() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let kiosk = app.kiosk_start(&phone).await;
    let whatsapp = app.whatsapp_login(&phone, "Asha").await;

    let ended = end_login(&app, &web.token(), &login_id(&kiosk.token())).await;
    assert_eq!(ended.status, 200, "{:?}", ended.body);
    assert_eq!(app.restore(&kiosk.token()).await.status, 401);
    assert_eq!(app.restore(&web.token()).await.status, 200);
    assert_eq!(app.restore(&whatsapp.token()).await.status, 200);
    let list = logins(&app, &web.token()).await;
    assert_eq!(list.body["logins"].as_array().unwrap().len(), 2);

    // Ended again, or an id the session never had: 404.
    let again = end_login(&app, &web.token(), &login_id(&kiosk.token())).await;
    assert_eq!(again.status, 404, "{:?}", again.body);
    assert_eq!(
        end_login(&app, &web.token(), "0123456789abcdef")
            .await
            .status,
        404
    );
    // Another customer's login is unknown here too, and keeps working.
    let (_, other) = app.new_customer().await;
    assert_eq!(
        end_login(&app, &web.token(), &login_id(&other.token()))
            .await
            .status,
        404
    );
    assert_eq!(app.restore(&other.token()).await.status, 200);

    // My own login: a logout.
    assert_eq!(
        end_login(&app, &web.token(), &login_id(&web.token()))
            .await
            .status,
        200
    );
    assert_eq!(app.restore(&web.token()).await.status, 401);
    assert_eq!(app.restore(&whatsapp.token()).await.status, 200);
}

#[tokio::test]
async fn devices_a_phone_level_token_cannot_end_a_login() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let kiosk = app.kiosk_start(&phone).await;
    let refused = end_login(&app, &kiosk.token(), &login_id(&web.token())).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(app.restore(&web.token()).await.status, 200);
    assert_eq!(logins(&app, &kiosk.token()).await.status, 200);
    assert_eq!(logins(&app, "not-a-token").await.status, 401);
}

#[tokio::test]
async fn devices_a_minted_login_falls_with_its_root() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let second = app.login(&phone, "secret-pass", "web").await;
    let minted = mint(&app, &web.token(), &phone).await;
    assert_eq!(minted.status, 200, "{:?}", minted.body);
    assert_eq!(
        logins(&app, &second.token()).await.body["logins"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let ended = end_login(&app, &second.token(), &login_id(&web.token())).await;
    assert_eq!(ended.status, 200, "{:?}", ended.body);
    assert_eq!(app.restore(&minted.token()).await.status, 401);
    assert_eq!(app.restore(&second.token()).await.status, 200);
    let list = logins(&app, &second.token()).await;
    assert_eq!(
        list.body["logins"].as_array().unwrap().len(),
        1,
        "{:?}",
        list.body
    );
}

#[tokio::test]
async fn devices_account_events_are_recorded_without_secrets() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let kiosk = app.kiosk_start(&phone).await;
    let second = app.login(&phone, "secret-pass", "web").await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_eq!(
        end_login(&app, &second.token(), &login_id(&kiosk.token()))
            .await
            .status,
        200
    );
    let logout = app
        .send(with_token(event("auth-logout"), &web.token()))
        .await;
    assert_eq!(logout.status, 200, "{:?}", logout.body);
    let customer_id = restore_customer(&app, &second.token()).await;
    let change = json!({"current_password": "secret-pass", "new_password": "another pass 2026"});
    let changed = app
        .send(with_body(
            with_token(event("auth-password"), &second.token()),
            &change,
        ))
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);

    let events = app.state.store.account_events(&customer_id).await.unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Login,
            EventKind::Login,
            EventKind::Login,
            EventKind::Revocation,
            EventKind::Logout,
            EventKind::PasswordChange,
        ],
        "{events:?}"
    );
    let kiosk_login = &events[1];
    assert_eq!(
        kiosk_login.channel,
        Some(omnisession::channel::Channel::Kiosk)
    );
    // The development kiosk, as seed.sh registers it.
    assert_eq!(kiosk_login.kiosk.as_deref(), Some("dev-kiosk"));
    assert_eq!(kiosk_login.store.as_deref(), Some("dev-store"));
    assert_eq!(
        events[3].login_id.as_deref(),
        Some(login_id(&kiosk.token()).as_str())
    );
    assert!(events[3].kiosk.is_some());
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at));

    let mut secrets = vec!["secret-pass".to_string(), "another pass 2026".to_string()];
    for token in [web.token(), kiosk.token(), second.token()] {
        secrets.push(token.rsplit('.').next().unwrap().to_string());
        secrets.push(token);
    }
    let dump = format!("{events:?}");
    for secret in &secrets {
        assert!(!dump.contains(secret.as_str()), "a secret is in the events");
    }
    app.assert_stored_nowhere(&secrets).await;
}
