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

    let app = App::new().await;
    let phone = unique_phone();
    let password = "hunter2-very-secret";
    let signup = app.signup(&phone, password, "web").await;
    assert_eq!(signup.status, 201);
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
        app.kiosk_key(),
        app.dev_kiosk_key(),
        env["SERVICE_KEYS"].clone(),
        env["WHATSAPP_APP_SECRET"].clone(),
    ];
    for reply in [&signup, &login, &kiosk, &whatsapp, &handed] {
        let token = reply.token();
        secrets.push(token.rsplit('.').next().unwrap().to_string());
    }
    for secret in secrets {
        assert!(!logs.contains(&secret), "a secret reached the logs");
    }
}
