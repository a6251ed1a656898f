//! Load: 200 phones × 10 requests = 2 000 mixed requests over HTTP from 50 concurrent
//! clients: per phone a web signup, then web and kiosk password logins and a kiosk's
//! start by the typed phone at once (they race for the phone's one session; a WhatsApp
//! login would prove the phone and take the unproven signup over, README → Proven
//! phones), then an update from each login, a restore, an
//! agent message and an agent read at once. It ends with every request answered 2xx, one
//! session per phone, and every write present.
//!
//! By default it runs against the functions served in process (`omnisession_testkit::
//! server`) on DynamoDB Local. Bigger, or against another stack:
//!   LOAD_PHONES=2000 cargo nextest run -E 'test(load::)'                (20 000 requests)
//!   OMNISESSION_LOAD_URL=http://localhost:8000 cargo nextest run -E 'test(load::)'  (`make dev`)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::helpers::*;

const DEFAULT_PHONES: usize = 200;
const CLIENTS: usize = 50;
const PASSWORD: &str = "load-test-pass";

/// Outcomes by route: status → count, plus latencies.
#[derive(Default)]
struct Tally {
    statuses: BTreeMap<(&'static str, u16), usize>,
    failures: Vec<String>,
    latencies_ms: Vec<f64>,
}

struct Load {
    base: String,
    http: reqwest::Client,
    clients: Semaphore,
    tally: Mutex<Tally>,
    service_key: String,
    kiosk_key: String,
}

/// What one phone's requests did.
struct Written {
    /// The texts its writes stored.
    texts: Vec<String>,
    /// The session id each of its four logins got.
    sids: Vec<String>,
}

struct Answer {
    status: u16,
    body: Value,
}

impl Load {
    /// One request, holding one of the 50 client slots while it is in flight.
    async fn send(
        &self,
        route: &'static str,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, String)],
        body: Option<String>,
    ) -> Option<Answer> {
        let _client = self.clients.acquire().await.expect("semaphore open");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let started = Instant::now();
        let result = req.send().await;
        let answer = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                Some(Answer {
                    status,
                    body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
                })
            }
            Err(err) => {
                self.tally
                    .lock()
                    .unwrap()
                    .failures
                    .push(format!("{route} {path}: no answer: {err}"));
                None
            }
        };
        let mut tally = self.tally.lock().unwrap();
        tally
            .latencies_ms
            .push(started.elapsed().as_secs_f64() * 1000.0);
        if let Some(answer) = &answer {
            *tally.statuses.entry((route, answer.status)).or_default() += 1;
            if !(200..300).contains(&answer.status) {
                tally
                    .failures
                    .push(format!("{route} {path}: {} {}", answer.status, answer.body));
            }
        }
        answer
    }

    async fn post(
        &self,
        route: &'static str,
        path: &str,
        headers: &[(&str, String)],
        body: Value,
    ) -> Option<Answer> {
        self.send(
            route,
            reqwest::Method::POST,
            path,
            headers,
            Some(body.to_string()),
        )
        .await
    }

    async fn login(&self, phone: &str, channel: &str) -> Option<Answer> {
        let body = json!({"phone_number": phone, "password": PASSWORD, "channel": channel});
        self.post("login", "/auth/login", &[], body).await
    }

    async fn kiosk_start(&self, phone: &str) -> Option<Answer> {
        let body = json!({"phone": phone, "channel": "kiosk"});
        let headers = [("x-kiosk-key", self.kiosk_key.clone())];
        self.post("kiosk start", "/session/start", &headers, body)
            .await
    }

    async fn update(&self, token: &str, text: &str) -> Option<Answer> {
        let headers = [
            ("x-session-token", token.to_string()),
            (
                "idempotency-key",
                format!("load-{}", text.replace(' ', "-")),
            ),
        ];
        let body = json!({"messages": [{"role": "user", "content": text}], "cart": [{"sku": "SKU-LOAD", "quantity": 1, "price": 10.0}]});
        self.post("update", "/session/update", &headers, body).await
    }

    /// One phone's ten requests; `None` when one went unanswered.
    async fn phone(&self, phone: &str) -> Option<Written> {
        let signup =
            json!({"name": "Load", "phone_number": phone, "password": PASSWORD, "channel": "web"});
        let signup = self.post("signup", "/auth/signup", &[], signup).await?;
        let (web, kiosk, typed) = tokio::join!(
            self.login(phone, "web"),
            self.login(phone, "kiosk"),
            self.kiosk_start(phone)
        );
        let logins = [signup, web?, kiosk?, typed?];
        let field = |a: &Answer, pointer: &str| a.body.pointer(pointer)?.as_str().map(String::from);
        let sids: Vec<String> = logins
            .iter()
            .map(|a| field(a, "/session/session_id"))
            .collect::<Option<_>>()?;
        let tokens: Vec<String> = logins
            .iter()
            .map(|a| field(a, "/session_token"))
            .collect::<Option<_>>()?;
        let sid = &sids[0];

        let texts: Vec<String> = ["web", "kiosk", "kiosk by phone", "agent"]
            .iter()
            .map(|who| format!("{phone} via {who}"))
            .collect();
        let service = [("x-service-key", self.service_key.clone())];
        let agent_says = json!({"role": "assistant", "content": texts[3]});
        let messages_path = format!("/session/{sid}/messages");
        let context_path = format!("/session/{sid}/context");
        let own = [("x-session-token", tokens[0].clone())];
        let (u1, u2, u3, restore, said, read) = tokio::join!(
            self.update(&tokens[1], &texts[0]),
            self.update(&tokens[2], &texts[1]),
            self.update(&tokens[3], &texts[2]),
            self.send(
                "restore",
                reqwest::Method::GET,
                "/session/restore",
                &own,
                None
            ),
            self.post("agent message", &messages_path, &service, agent_says),
            self.send(
                "agent read",
                reqwest::Method::GET,
                &context_path,
                &service,
                None
            ),
        );
        let all_answered = [u1, u2, u3, restore, said, read]
            .iter()
            .all(Option::is_some);
        all_answered.then_some(Written { texts, sids })
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_requests_from_50_clients_all_succeed_with_one_session_per_phone() {
    let phones: usize = std::env::var("LOAD_PHONES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_PHONES);
    let env = test_env();
    // Served in process, unless another stack is named; then only its answers are checked.
    let (base, app) = match std::env::var("OMNISESSION_LOAD_URL") {
        Ok(url) => (url.trim_end_matches('/').to_string(), None),
        Err(_) => {
            let app = App::new().await;
            (app.serve().await, Some(app))
        }
    };
    let load = Arc::new(Load {
        base,
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(CLIENTS)
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client"),
        clients: Semaphore::new(CLIENTS),
        tally: Mutex::default(),
        service_key: env["SERVICE_KEYS"]
            .split(',')
            .next()
            .expect("a service key")
            .to_string(),
        kiosk_key: env["DEV_KIOSK_KEY"].clone(),
    });

    let numbers: Vec<String> = (0..phones).map(|_| unique_phone()).collect();
    let started = Instant::now();
    let results: Vec<(String, Option<Written>)> = futures::stream::iter(numbers.iter().cloned())
        .map(|phone| {
            let load = load.clone();
            async move {
                let outcome = load.phone(&phone).await;
                (phone, outcome)
            }
        })
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    let elapsed = started.elapsed();

    // What every phone should now see, read back after the run.
    let mut problems = Vec::new();
    for (phone, outcome) in &results {
        let Some(Written { texts, sids }) = outcome else {
            problems.push(format!("{phone}: a request went unanswered"));
            continue;
        };
        if sids.iter().any(|s| s != &sids[0]) {
            problems.push(format!(
                "{phone}: logins landed in different sessions {sids:?}"
            ));
        }
        if let Some(app) = &app {
            let live = app.live_sessions(phone).await;
            if live != [sids[0].clone()] {
                problems.push(format!("{phone}: live sessions {live:?}, expected one"));
            }
        }
        let read = load
            .send(
                "check",
                reqwest::Method::GET,
                &format!("/session/{}/context", sids[0]),
                &[("x-service-key", load.service_key.clone())],
                None,
            )
            .await;
        let stored: Vec<String> = read
            .and_then(|a| a.body["chat_context"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m["content"].as_str().map(String::from))
            .collect();
        for text in texts {
            if !stored.contains(text) {
                problems.push(format!("{phone}: write {text:?} missing from {stored:?}"));
            }
        }
        if stored.len() != texts.len() {
            problems.push(format!(
                "{phone}: {} messages stored, expected {}",
                stored.len(),
                texts.len()
            ));
        }
    }

    let tally = load.tally.lock().unwrap();
    let mut latencies = tally.latencies_ms.clone();
    latencies.sort_by(f64::total_cmp);
    let requests = phones * 10;
    println!(
        "load: {requests} requests ({phones} phones) from {CLIENTS} clients in {:.1} s = {:.0} req/s; \
         latency p50 {:.1} ms, p99 {:.1} ms",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    );
    for ((route, status), count) in &tally.statuses {
        println!("load:   {route:<14} {status} × {count}");
    }
    let failures: Vec<&String> = tally.failures.iter().take(20).collect();
    assert!(
        tally.failures.is_empty(),
        "{} requests failed, first ones: {failures:#?}",
        tally.failures.len()
    );
    assert!(
        problems.is_empty(),
        "{} problems: {:#?}",
        problems.len(),
        &problems[..problems.len().min(20)]
    );
}
