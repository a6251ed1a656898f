//! Every sample event in `events/` is accepted by the handler that serves its route, with
//! only the session token filled in (as a `sam local invoke` user would).

use omnisession_admin::import::import_customers;

use crate::helpers::*;

/// The demo customer of the local stack: customer 103, +919876543210, test123.
async fn ensure_demo_customer(app: &App) {
    let csv = std::fs::read(repo_root().join("demo/customers.csv")).unwrap();
    import_customers(
        &app.state.store,
        app.state.config.phone_region,
        csv.as_slice(),
    )
    .await
    .unwrap();
    let phone =
        omnisession::phone::PhoneNumber::parse(DEMO_PHONE, app.state.config.phone_region).unwrap();
    let password = omnisession::passwords::Password::parse(DEMO_PASSWORD.into()).unwrap();
    let hash = app.state.passwords.hash(&password).await.unwrap();
    app.state
        .store
        .set_password_hash(&phone, &hash, "2026-11-27T00:00:00.000Z")
        .await
        .unwrap();
}

#[tokio::test]
async fn every_sample_event_is_served_by_its_handler() {
    let app = App::new().await;
    ensure_demo_customer(&app).await;

    let start = app.send(event("session-start")).await;
    assert_eq!(start.status, 200, "session-start: {:?}", start.body);
    assert_eq!(start.body["customer"]["customer_id"], "103");
    let login = app.send(event("auth-login")).await;
    assert_eq!(login.status, 200, "auth-login: {:?}", login.body);
    assert_eq!(login.session_id(), start.session_id());
    let whatsapp = app.send(event("session-login")).await;
    assert_eq!(whatsapp.status, 200, "session-login: {:?}", whatsapp.body);
    assert_eq!(whatsapp.session_id(), start.session_id());

    let token = login.token();
    for name in ["session-update", "session-restore", "session-end"] {
        let reply = app.send(with_token(event(name), &token)).await;
        assert_eq!(reply.status, 200, "{name}: {:?}", reply.body);
    }
    let logout = app
        .send(with_token(event("auth-logout"), &whatsapp.token()))
        .await;
    assert_eq!(logout.status, 200, "auth-logout: {:?}", logout.body);

    // The signup sample's phone is fixed, so it may be registered by an earlier run.
    let signup = app.send(event("auth-signup")).await;
    assert!(
        [201, 409].contains(&signup.status),
        "auth-signup: {:?}",
        signup.body
    );
}

#[test]
fn every_route_has_a_sample_event() {
    let mut missing = Vec::new();
    for (method, path) in session::ROUTES.iter().chain(auth::ROUTES) {
        let name = path.trim_start_matches('/').replace('/', "-");
        let req = event(&name);
        if req.method().as_str() != *method || req.uri().path() != *path {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(missing.is_empty(), "events/ lacks {missing:?}");
}
