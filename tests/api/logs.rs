//! What the functions log: one line per request, and never a password, token or key.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::helpers::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_full_run_of_logins_logs_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = App::with_standin(&[]).await;
    let phone = unique_phone();
    let password = "hunter2-very-secret";
    let signup = app.signup(&phone, password, "web").await;
    assert_eq!(signup.status, 201);
    app.mark_proven(&phone, &signup.session_id()).await;
    let login = app.login(&phone, password, "web").await;
    let kiosk = app.kiosk_start(&phone).await;
    let whatsapp = app.whatsapp_login(&phone, "Logged").await;
    let init = app.qr_init(&login.token()).await;
    let code = init.body["qr_token"].as_str().unwrap().to_string();
    let handed = app.qr_verify(&code, &app.kiosk_key()).await;
    assert_eq!(handed.status, 200);
    app.update(&login.token(), json!({"summary": "s"})).await;
    app.restore(&kiosk.token()).await;
    assert_eq!(
        app.login(&phone, "wrong-password-here", "web").await.status,
        401
    );
    app.send(with_token(event("auth-logout"), &login.token()))
        .await;
    // A reset code, sent and typed back, and a click-to-verify link bound and collected.
    assert_eq!(app.send_code(&phone, "reset").await.status, 202);
    let reset_code = app.last_code(&phone);
    let new_password = "reset-pass-very-secret";
    let reset = app
        .verify_code(
            &phone,
            &reset_code,
            "reset",
            json!({"new_password": new_password}),
        )
        .await;
    assert_eq!(reset.status, 200, "{:?}", reset.body);
    let link = crate::walink::web_link(&app).await;
    let text = crate::walink::text_of(&link);
    crate::walink::send_text(&app, &phone, &text).await;
    let linked = crate::walink::poll(&app, &link).await;
    assert_eq!(linked.status, 200, "{:?}", linked.body);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("\"status\":201"),
        "the request lines are captured"
    );
    let env = test_env();
    let mut secrets = vec![
        password.to_string(),
        "wrong-password-here".to_string(),
        code,
        reset_code,
        new_password.to_string(),
        text[text.len() - 14..].to_string(),
        link.body["link_secret"].as_str().unwrap().to_string(),
        env["CODE_HMAC_KEY"].clone(),
        env["WHATSAPP_ACCESS_TOKEN"].clone(),
        app.kiosk_key(),
        app.dev_kiosk_key(),
        env["SERVICE_KEYS"].clone(),
        env["WHATSAPP_APP_SECRET"].clone(),
    ];
    for reply in [&signup, &login, &kiosk, &whatsapp, &handed, &reset, &linked] {
        let token = reply.token();
        secrets.push(token.rsplit('.').next().unwrap().to_string());
    }
    for secret in secrets {
        assert!(!logs.contains(&secret), "a secret reached the logs");
    }
}

/// The local stack's log (`cargo lambda watch`, started by `make test` like `make dev`)
/// holds no secret: at INFO, cargo-lambda's supervisor prints a function's whole
/// environment when it spawns it, so `scripts/serve.sh` sets cargo-lambda's own level.
#[tokio::test]
async fn the_local_stacks_log_holds_no_secret() {
    let (Ok(base), Ok(log)) = (
        std::env::var("OMNISESSION_API_URL"),
        std::env::var("OMNISESSION_WATCH_LOG"),
    ) else {
        panic!("OMNISESSION_API_URL, OMNISESSION_WATCH_LOG: run the suite with `make test`");
    };
    let client = reqwest::Client::new();
    // One request to each function, so that each one has been spawned.
    let sid = "0".repeat(32);
    let requests = [
        ("GET", "/session/restore".to_string()),
        ("POST", "/auth/logout".to_string()),
        ("POST", "/auth/qr-init".to_string()),
        ("GET", format!("/session/{sid}/cart")),
        ("GET", "/webhooks/whatsapp".to_string()),
        ("POST", "/auth/code/send".to_string()),
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    for (method, path) in requests {
        loop {
            let sent = client
                .request(method.parse().unwrap(), format!("{base}{path}"))
                .send()
                .await;
            match sent {
                Ok(reply) if reply.status().is_client_error() => break,
                other if std::time::Instant::now() > deadline => {
                    panic!("{method} {path} never answered 4xx: {other:?}")
                }
                _ => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
            }
        }
    }
    let text = std::fs::read_to_string(&log).expect("the local stack's log");
    for function in [
        "session",
        "auth",
        "qr",
        "sales-memory",
        "whatsapp",
        "verify",
    ] {
        assert!(
            text.contains(&format!("function=\"{function}\"")),
            "{function} has not been spawned in {log}"
        );
    }
    let env = test_env();
    for name in [
        "DEV_KIOSK_KEY",
        "SERVICE_KEYS",
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
        "CODE_HMAC_KEY",
        "WHATSAPP_ACCESS_TOKEN",
    ] {
        for secret in env[name].split(',') {
            assert!(
                !text.contains(secret),
                "{name} is in the local stack's log {log}"
            );
        }
    }
}
