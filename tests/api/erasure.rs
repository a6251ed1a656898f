//! `POST /auth/me/delete`: the customer and everything that names them are erased; the
//! session is unreachable at once and the phone can sign up afresh.

use std::time::Instant;

use serde_json::{Value, json};

use crate::export::seed_messages;
use crate::helpers::*;

async fn delete(app: &App, token: &str, body: Value) -> Reply {
    app.send(with_body(with_token(event("auth-me-delete"), token), &body))
        .await
}

/// Every item of the three tables that holds one of `needles`, as text.
async fn items_holding(app: &App, needles: &[String]) -> Vec<String> {
    let tables = &app.state.config.tables;
    let mut found = Vec::new();
    for table in [&tables.customers, &tables.sessions, &tables.messages] {
        let mut start = None;
        loop {
            let page = app
                .db()
                .scan()
                .table_name(table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for item in page.items() {
                let text = format!("{item:?}");
                if needles.iter().any(|n| text.contains(n.as_str())) {
                    found.push(format!("{table}: {text}"));
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
    }
    found
}

/// What names a customer in stored items: the phone (also as WhatsApp's digits), the
/// customer id, the session id and each token's id.
fn needles(phone: &str, login: &Reply, others: &[&Reply]) -> Vec<String> {
    let mut needles = vec![
        phone.to_string(),
        phone.trim_start_matches('+').to_string(),
        login.body["customer"]["customer_id"]
            .as_str()
            .unwrap()
            .to_string(),
        login.session_id(),
    ];
    for reply in std::iter::once(login).chain(others.iter().copied()) {
        needles.push(reply.token().split('.').nth(1).unwrap().to_string());
    }
    needles
}

#[tokio::test]
async fn erasure_leaves_nothing_of_the_customer_and_the_phone_signs_up_afresh() {
    let app = App::with_standin(&[]).await;
    let (phone, web) = app.new_customer().await;
    let sid = web.session_id();
    // Something of every kind: a long history, a WhatsApp message (its seen# claim), an
    // Idempotency-Key, a kiosk login, a failed password (guessing buckets), a QR code, a
    // code and its sends.
    seed_messages(&app, &sid, 5000).await;
    let digits = phone.trim_start_matches('+').to_string();
    let wa = app
        .webhook(&delivery(
            &[(&digits, &wamid(), "hello from WhatsApp")],
            "Test",
        ))
        .await;
    assert_eq!(wa.status, 200, "{:?}", wa.body);
    let update = with_header(
        with_body(
            with_token(event("session-update"), &web.token()),
            &json!({"messages": [{"role": "user", "content": "keyed"}]}),
        ),
        "idempotency-key",
        "erasure-key-1",
    );
    assert_eq!(app.send(update).await.status, 200);
    let kiosk = app.login(&phone, "secret-pass", "kiosk").await;
    assert_eq!(kiosk.status, 200);
    assert_eq!(app.login(&phone, "wrong-pass", "web").await.status, 401);
    assert_eq!(app.qr_init(&web.token()).await.status, 200);
    assert_eq!(app.send_code(&phone, "login").await.status, 202);
    let needles = needles(&phone, &web, &[&kiosk]);
    assert!(!items_holding(&app, &needles).await.is_empty());

    let started = Instant::now();
    let erased = delete(
        &app,
        &web.token(),
        json!({"current_password": "secret-pass"}),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(erased.status, 200, "{:?}", erased.body);
    println!("erasing 5 000 messages took {took:?}");
    assert!(took.as_secs() < 9, "within the function's budget: {took:?}");

    // Unreachable, and nothing left.
    assert_eq!(app.restore(&web.token()).await.status, 401);
    assert_eq!(app.restore(&kiosk.token()).await.status, 401);
    assert_eq!(
        app.agent("session-sid-context", &sid, None).await.status,
        404
    );
    let left = items_holding(&app, &needles).await;
    assert!(left.is_empty(), "left behind: {left:#?}");

    // The phone is free.
    let again = app.signup(&phone, "another-pass", "web").await;
    assert_eq!(again.status, 201, "{:?}", again.body);
    assert_ne!(again.session_id(), sid);
}

#[tokio::test]
async fn erasure_with_a_reset_code_and_the_tokens_refused_at_once() {
    let app = App::with_standin(&[]).await;
    let (phone, web) = app.new_customer().await;
    assert_eq!(app.send_code(&phone, "reset").await.status, 202);
    let code = app.last_code(&phone);
    let wrong = delete(&app, &web.token(), json!({"code": "000000"})).await;
    assert_eq!(wrong.status, 401, "{:?}", wrong.body);
    let erased = delete(&app, &web.token(), json!({"code": code})).await;
    assert_eq!(erased.status, 200, "{:?}", erased.body);
    assert_eq!(app.restore(&web.token()).await.status, 401);
    let left = items_holding(&app, &needles(&phone, &web, &[])).await;
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert_eq!(app.login(&phone, "secret-pass", "web").await.status, 401);
}

#[tokio::test]
async fn a_wrong_password_is_a_failed_login_and_a_phone_login_may_not_erase() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let wrong = delete(&app, &web.token(), json!({"current_password": "not-it"})).await;
    assert_eq!(wrong.status, 401, "{:?}", wrong.body);
    let bucket = app
        .sessions_item(&format!("lockout#login#{phone}"))
        .await
        .expect("the failure is counted against the phone");
    assert!(format!("{bucket:?}").contains("failures"));
    assert_eq!(
        app.restore(&web.token()).await.status,
        200,
        "nothing erased"
    );

    let kiosk = app.kiosk_start(&phone).await;
    let refused = delete(
        &app,
        &kiosk.token(),
        json!({"current_password": "secret-pass"}),
    )
    .await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    let both = delete(
        &app,
        &web.token(),
        json!({"current_password": "secret-pass", "code": "123456"}),
    )
    .await;
    assert_eq!(both.status, 400, "{:?}", both.body);
}

#[tokio::test]
async fn a_write_racing_the_erasure_leaves_no_message_behind() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let sid = web.session_id();
    seed_messages(&app, &sid, 300).await;
    let writes = (0..20).map(|i| {
        let token = web.token();
        let app = &app;
        async move {
            let body = json!({"messages": [{"role": "user", "content": format!("racing {i}")}]});
            app.update(&token, body).await.status
        }
    });
    let token = web.token();
    let erase = delete(&app, &token, json!({"current_password": "secret-pass"}));
    let (statuses, erased) = tokio::join!(futures::future::join_all(writes), erase);
    assert_eq!(erased.status, 200, "{:?}", erased.body);
    assert!(
        statuses.iter().all(|s| [200, 401, 404].contains(s)),
        "{statuses:?}"
    );
    assert!(app.message_contents(&sid).await.is_empty());
    let left = items_holding(&app, &needles(&phone, &web, &[])).await;
    assert!(left.is_empty(), "left behind: {left:#?}");
}

/// The operator's commands for a support request: `omnisession-admin export` prints the
/// same export, `erase` erases the same way (run as built, against the test tables).
#[tokio::test]
async fn the_operator_exports_and_erases_for_a_support_request() {
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    let said = json!({"messages": [{"role": "user", "content": "support me"}]});
    assert_eq!(app.update(&web.token(), said).await.status, 200);
    let run = |args: &[&str]| {
        let run = run_admin(args, &[]);
        assert!(run.ok, "{args:?}: {}", run.stderr);
        run.stdout
    };
    let export: Value = serde_json::from_str(&run(&["export", "--phone", &phone])).unwrap();
    assert_eq!(export["session"]["session_id"], web.session_id().as_str());
    assert!(export.to_string().contains("support me"));
    assert!(!export.to_string().contains("$2"), "no password hash");
    run(&["erase", "--phone", &phone]);
    assert_eq!(app.restore(&web.token()).await.status, 401);
    assert!(
        app.customers_item(&format!("phone#{phone}"))
            .await
            .is_none()
    );
    assert_eq!(app.signup(&phone, "a fresh start", "web").await.status, 201);
}
