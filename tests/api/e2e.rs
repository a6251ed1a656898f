//! End to end over HTTP, through `cargo lambda watch` and its router (started by
//! `make test` on OMNISESSION_API_URL): the old service's curl checklist.

use std::time::{Duration, Instant};

use omnisession::secrets::{hub_signature, sign_login};
use serde_json::{Value, json};

use crate::helpers::*;

struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    async fn connect() -> Self {
        let base = std::env::var("OMNISESSION_API_URL").expect(
            "OMNISESSION_API_URL: run the suite with `make test`, which starts the HTTP stack",
        );
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        // The first request to each function may wait for `cargo run` to start it.
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            match client.get(format!("{base}/session/restore")).send().await {
                Ok(r) if r.status() == 401 => break,
                other if Instant::now() > deadline => panic!("API at {base} not ready: {other:?}"),
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        Self { base, client }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn the_old_services_checklist_passes_over_http() {
    let http = Http::connect().await;
    let env = test_env();
    let kiosk_key = env["DEV_KIOSK_KEY"].clone();
    let kiosk = [("x-kiosk-key", kiosk_key.as_str())];
    let start = json!({"phone": DEMO_PHONE, "channel": "kiosk", "customer_id": "103"}).to_string();

    // 1. Kiosk start for the demo customer.
    let (status, first) = http
        .call("POST", "/session/start", &kiosk, Some(start.clone()))
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["customer"]["customer_id"], "103");
    let sid = first["session"]["session_id"].as_str().unwrap().to_string();

    // 2. Web login with the demo password: the same session.
    let login =
        json!({"phone_number": DEMO_PHONE, "password": DEMO_PASSWORD, "channel": "website"})
            .to_string();
    let (status, web) = http.call("POST", "/auth/login", &[], Some(login)).await;
    assert_eq!(status, 200, "{web}");
    assert_eq!(web["session"]["session_id"], sid.as_str());
    let web_token = web["session_token"].as_str().unwrap().to_string();

    // 3. The web chats.
    let marker = format!("e2e marker {}", rand::random::<u32>());
    let update = json!({"messages": [{"role": "user", "content": marker}]}).to_string();
    let (status, _) = http
        .call(
            "POST",
            "/session/update",
            &[("x-session-token", &web_token)],
            Some(update),
        )
        .await;
    assert_eq!(status, 200);

    // 4. Kiosk start again: same session, both channels, the chat preserved.
    let (status, again) = http
        .call("POST", "/session/start", &kiosk, Some(start))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["session"]["session_id"], sid.as_str());
    let channels = again["session"]["metadata"]["channels"].as_array().unwrap();
    assert!(
        channels.contains(&json!("web")) && channels.contains(&json!("kiosk")),
        "{channels:?}"
    );
    assert!(
        again["session"]["chat_context"]
            .to_string()
            .contains(&marker)
    );

    // 5. WhatsApp phone-only login, signed: the same session, the chat readable.
    let body = json!({"phone_number": DEMO_PHONE, "name": "Demo Customer", "channel": "whatsapp"})
        .to_string();
    let secret = omnisession::secrets::SecretString::new(env["WHATSAPP_APP_SECRET"].clone());
    let (signed_at, signature) =
        sign_login(&secret, body.as_bytes(), chrono::Utc::now().timestamp());
    let (status, whatsapp) = http
        .call(
            "POST",
            "/session/login",
            &[
                ("x-omnisession-timestamp", &signed_at),
                ("x-hub-signature-256", &signature),
            ],
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 200, "{whatsapp}");
    assert_eq!(whatsapp["session"]["session_id"], sid.as_str());
    let wa_token = whatsapp["session_token"].as_str().unwrap().to_string();
    let (status, restored) = http
        .call(
            "GET",
            "/session/restore",
            &[("x-session-token", &wa_token)],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        restored["session"]["chat_context"]
            .to_string()
            .contains(&marker)
    );

    // 6. The holes of the old service are closed.
    let (status, _) = http.call("POST", "/session/login", &[], Some(body)).await;
    assert_eq!(status, 401, "unsigned phone-only login");
    let keyless = json!({"phone": DEMO_PHONE, "channel": "kiosk"}).to_string();
    let (status, _) = http
        .call("POST", "/session/start", &[], Some(keyless))
        .await;
    assert_eq!(status, 401, "key-less session start");

    // 7. Logging out the WhatsApp login leaves the web signed in.
    let (status, _) = http
        .call(
            "POST",
            "/auth/logout",
            &[("x-session-token", &wa_token)],
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = http
        .call(
            "GET",
            "/session/restore",
            &[("x-session-token", &wa_token)],
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = http
        .call(
            "GET",
            "/session/restore",
            &[("x-session-token", &web_token)],
            None,
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_qr_handoff_works_over_http() {
    let http = Http::connect().await;
    let env = test_env();
    let kiosk_key = env["DEV_KIOSK_KEY"].clone();
    let phone = unique_phone();

    // Web signup and login, then a chat message on the web.
    let signup = json!({"name": "QR Shopper", "phone_number": phone, "password": "qr-pass-1", "channel": "web"});
    let (status, _) = http
        .call("POST", "/auth/signup", &[], Some(signup.to_string()))
        .await;
    assert_eq!(status, 201);
    let login = json!({"phone_number": phone, "password": "qr-pass-1", "channel": "web"});
    let (status, web) = http
        .call("POST", "/auth/login", &[], Some(login.to_string()))
        .await;
    assert_eq!(status, 200, "{web}");
    let web_token = web["session_token"].as_str().unwrap().to_string();
    let update = json!({"messages": [{"role": "user", "content": "handoff marker"}]}).to_string();
    let (status, _) = http
        .call(
            "POST",
            "/session/update",
            &[("x-session-token", &web_token)],
            Some(update),
        )
        .await;
    assert_eq!(status, 200);

    // The phone shows a code; the kiosk scans it.
    let (status, init) = http
        .call(
            "POST",
            "/auth/qr-init",
            &[("x-session-token", &web_token)],
            None,
        )
        .await;
    assert_eq!(status, 200, "{init}");
    let verify = json!({"qr_token": init["qr_token"], "channel": "kiosk"}).to_string();
    let kiosk = [("x-kiosk-key", kiosk_key.as_str())];
    let (status, handed) = http
        .call("POST", "/auth/qr-verify", &kiosk, Some(verify.clone()))
        .await;
    assert_eq!(status, 200, "{handed}");
    assert_eq!(
        handed["session"]["session_id"],
        web["session"]["session_id"]
    );
    let kiosk_token = handed["session_token"].as_str().unwrap().to_string();
    let (status, seen) = http
        .call(
            "GET",
            "/session/restore",
            &[("x-session-token", &kiosk_token)],
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        seen["session"]["chat_context"]
            .to_string()
            .contains("handoff marker")
    );

    // The sales agent reads the same memory through its own function.
    let sid = web["session"]["session_id"].as_str().unwrap();
    let service_key = env["SERVICE_KEYS"].split(',').next().unwrap().to_string();
    let (status, context) = http
        .call(
            "GET",
            &format!("/session/{sid}/context?limit=5"),
            &[("x-service-key", &service_key)],
            None,
        )
        .await;
    assert_eq!(status, 200, "{context}");
    assert!(
        context["chat_context"]
            .to_string()
            .contains("handoff marker")
    );

    // A code works once.
    let (status, _) = http
        .call("POST", "/auth/qr-verify", &kiosk, Some(verify))
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_whatsapp_webhook_answers_over_http() {
    let http = Http::connect().await;
    let env = test_env();
    let path = format!(
        "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={}&hub.challenge=31337",
        env["WHATSAPP_VERIFY_TOKEN"]
    );
    let resp = http
        .client
        .get(format!("{}{path}", http.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "31337");

    let phone = unique_phone();
    let body = delivery(
        &[(phone.trim_start_matches('+'), &wamid(), "over http")],
        "Http",
    )
    .to_string();
    let secret = omnisession::secrets::SecretString::new(env["WHATSAPP_APP_SECRET"].clone());
    let signature = hub_signature(&secret, body.as_bytes());
    let (status, reply) = http
        .call(
            "POST",
            "/webhooks/whatsapp",
            &[("x-hub-signature-256", &signature)],
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["stored"], 1);
}

/// A code through the whole local stack: the verify function under `cargo lambda watch`
/// delivers it with its real client to `make test`'s stand-in, whose outbox holds what
/// the customer would read; typed back, it takes an unproven signup over and resets the
/// password.
#[tokio::test]
async fn a_code_resets_a_password_over_http() {
    let http = Http::connect().await;
    let env = test_env();
    let phone = unique_phone();
    let json = |v: Value| Some(v.to_string());
    let (status, squatter) = http
        .call(
            "POST",
            "/auth/signup",
            &[],
            json(json!({"name": "Squatter", "phone_number": phone, "password": "squatters pass", "channel": "web"})),
        )
        .await;
    assert_eq!(status, 201, "{squatter}");

    let (status, sent) = http
        .call(
            "POST",
            "/auth/code/send",
            &[],
            json(json!({"phone_number": phone, "purpose": "reset"})),
        )
        .await;
    assert_eq!(status, 202, "{sent}");
    let outbox = http
        .client
        .get(format!(
            "{}/_standin/outbox?to={}",
            env["SNS_ENDPOINT"],
            phone.replace('+', "%2B")
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line: Value = serde_json::from_str(outbox.lines().last().expect("a message")).unwrap();
    assert_eq!(line["via"], "whatsapp", "{line}");
    let body = line["body"].as_str().unwrap();
    let code = &body[..6];
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{body}");

    let (status, reset) = http
        .call(
            "POST",
            "/auth/code/verify",
            &[],
            json(json!({"phone_number": phone, "code": code, "purpose": "reset", "channel": "web", "new_password": "the owners pass"})),
        )
        .await;
    assert_eq!(status, 200, "{reset}");
    let squatter_token = squatter["session_token"].as_str().unwrap();
    let (status, _) = http
        .call(
            "GET",
            "/session/restore",
            &[("x-session-token", squatter_token)],
            None,
        )
        .await;
    assert_eq!(status, 401, "the squatter's login ended");
    let (status, login) = http
        .call(
            "POST",
            "/auth/login",
            &[],
            json(json!({"phone_number": phone, "password": "the owners pass", "channel": "web"})),
        )
        .await;
    assert_eq!(status, 200, "{login}");
}
