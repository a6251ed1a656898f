//! The metrics the functions write (CloudWatch Embedded Metric Format lines, see
//! `omnisession::metrics`): requests through the handlers count what an operator's
//! dashboard and alarms read, under the right dimensions, and nothing personal.
//!
//! Each test keeps its process's metric lines (`metrics::capture`; the test runner runs
//! every test in a process of its own) and reads what each request wrote.

use std::collections::BTreeSet;

use omnisession::metrics;
use omnisession_testkit::Function;
use omnisession_testkit::standin::standin;
use serde_json::{Value, json};

use crate::fault_proxy::{Fault, Plan};
use crate::faults::Rig;
use crate::helpers::*;

/// The documents written since the last call, each checked against the EMF
/// specification and for what it may hold: the metric names and dimension values of the
/// contract, nothing a client sent.
fn written() -> Vec<Value> {
    metrics::captured()
        .iter()
        .map(|line| {
            let doc: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            check(&doc);
            doc
        })
        .collect()
}

fn check(doc: &Value) {
    let root = doc.as_object().expect("a JSON object");
    let aws = &root["_aws"];
    assert!(aws["Timestamp"].as_i64().is_some_and(|t| t > 0), "{doc}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
    let mut declared = BTreeSet::new();
    for directive in directives {
        assert_eq!(directive["Namespace"], "omnisession", "{doc}");
        for set in directive["Dimensions"].as_array().expect("dimension sets") {
            for key in set.as_array().expect("a dimension set") {
                let key = key.as_str().expect("a dimension key");
                assert!(
                    root[key].is_string(),
                    "dimension {key} without a value: {doc}"
                );
            }
        }
        for metric in directive["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().expect("a metric name");
            assert_eq!(metric["Unit"], "Count", "{doc}");
            assert!(root[name].is_u64(), "{name} without a value: {doc}");
            declared.insert(name);
        }
    }
    let allowed = |key: &str, value: &Value| match key {
        "_aws" => true,
        "Function" => Function::ALL
            .iter()
            .any(|f| value.as_str() == Some(f.package())),
        "Channel" => ["web", "kiosk", "whatsapp"].contains(&value.as_str().unwrap_or_default()),
        "Result" => ["success", "failure", "locked"].contains(&value.as_str().unwrap_or_default()),
        "Via" => ["whatsapp", "sms"].contains(&value.as_str().unwrap_or_default()),
        metric => metrics::metric_names().any(|m| m == metric) && declared.contains(metric),
    };
    for (key, value) in root {
        assert!(allowed(key, value), "{key}: {value} has no place in {doc}");
    }
}

/// The sum of `metric` over the documents whose dimension values include `dimensions`
/// (0 when none has it).
fn value(docs: &[Value], metric: &str, dimensions: &[(&str, &str)]) -> u64 {
    docs.iter()
        .filter(|doc| dimensions.iter().all(|(k, v)| doc[*k] == *v))
        .filter_map(|doc| doc[metric].as_u64())
        .sum()
}

fn logins(docs: &[Value], channel: &str, result: &str) -> u64 {
    value(docs, "Logins", &[("Channel", channel), ("Result", result)])
}

fn all_logins(docs: &[Value]) -> u64 {
    value(docs, "Logins", &[])
}

#[tokio::test]
async fn a_wrong_password_is_a_failed_web_login_and_a_4xx() {
    metrics::capture();
    let app = App::new().await;
    let (phone, _) = app.new_customer().await;
    let signup = written();
    assert_eq!(value(&signup, "Requests", &[("Function", "auth")]), 1);
    assert_eq!(
        all_logins(&signup),
        0,
        "a signup is not a login: {signup:?}"
    );

    assert_eq!(app.login(&phone, "wrong-password", "web").await.status, 401);
    let docs = written();
    assert_eq!(
        docs.len(),
        2,
        "the function's counts and the login: {docs:?}"
    );
    assert_eq!(value(&docs, "Requests", &[("Function", "auth")]), 1);
    assert_eq!(value(&docs, "Responses4xx", &[("Function", "auth")]), 1);
    assert_eq!(logins(&docs, "web", "failure"), 1);
    assert_eq!(docs[1]["Function"], "auth");

    assert_eq!(app.login(&phone, "secret-pass", "kiosk").await.status, 200);
    let docs = written();
    assert_eq!(logins(&docs, "kiosk", "success"), 1);
    assert_eq!(all_logins(&docs), 1);
    assert_eq!(value(&docs, "Responses4xx", &[]), 0);
    assert!(
        docs[0].get("Responses4xx").is_none(),
        "no zero-valued metrics: {docs:?}"
    );

    // A malformed login says nothing of the credential.
    assert_eq!(app.login("12", "secret-pass", "web").await.status, 400);
    let docs = written();
    assert_eq!(all_logins(&docs), 0, "{docs:?}");
    assert_eq!(value(&docs, "Responses4xx", &[("Function", "auth")]), 1);
}

#[tokio::test]
async fn a_locked_login_is_a_lockout() {
    metrics::capture();
    let app = App::new().await;
    let (phone, _) = app.new_customer().await;
    for _ in 0..5 {
        assert_eq!(app.login(&phone, "wrong-password", "web").await.status, 401);
    }
    let docs = written();
    assert_eq!(logins(&docs, "web", "failure"), 5);
    assert_eq!(value(&docs, "Lockouts", &[]), 0);

    let locked = app.login(&phone, "secret-pass", "web").await;
    assert_eq!(locked.status, 429, "{:?}", locked.body);
    let docs = written();
    assert_eq!(value(&docs, "Lockouts", &[("Function", "auth")]), 1);
    assert_eq!(logins(&docs, "web", "locked"), 1);
    assert_eq!(all_logins(&docs), 1);
    assert_eq!(value(&docs, "Responses4xx", &[]), 1);
}

#[tokio::test]
async fn every_way_in_counts_its_channel_and_other_requests_count_no_login() {
    metrics::capture();
    let app = App::new().await;
    let (phone, web) = app.new_customer().await;
    written();

    // The WhatsApp bot's phone-only login, and one with a bad signature.
    assert_eq!(app.whatsapp_login(&phone, "Asha").await.status, 200);
    let docs = written();
    assert_eq!(logins(&docs, "whatsapp", "success"), 1);
    assert_eq!(value(&docs, "Requests", &[("Function", "session")]), 1);
    let body = json!({"phone_number": phone, "name": "Asha", "channel": "whatsapp"});
    let unsigned = with_header(
        with_body(event("session-login"), &body),
        "x-hub-signature-256",
        "sha256=00",
    );
    assert_eq!(app.send(unsigned).await.status, 401);
    assert_eq!(logins(&written(), "whatsapp", "failure"), 1);

    // A kiosk by typed phone, and a kiosk key that is not registered.
    assert_eq!(app.kiosk_start(&phone).await.status, 200);
    assert_eq!(logins(&written(), "kiosk", "success"), 1);
    let stranger = with_header(
        with_body(
            event("session-start"),
            &json!({"phone": phone, "channel": "kiosk"}),
        ),
        "x-kiosk-key",
        "not-a-registered-kiosk-key",
    );
    assert_eq!(app.send(stranger).await.status, 401);
    assert_eq!(logins(&written(), "kiosk", "failure"), 1);

    // The QR handoff: its making is no login, a bad code is a failure, the code a success.
    let init = app.qr_init(&web.token()).await;
    assert_eq!(init.status, 200, "{:?}", init.body);
    assert_eq!(all_logins(&written()), 0);
    let bad = app.qr_verify("not-the-code", &app.kiosk_key()).await;
    assert_eq!(bad.status, 401, "{:?}", bad.body);
    let docs = written();
    assert_eq!(logins(&docs, "kiosk", "failure"), 1);
    assert_eq!(value(&docs, "Requests", &[("Function", "qr")]), 1);
    let code = init.body["qr_token"].as_str().unwrap();
    assert_eq!(app.qr_verify(code, &app.kiosk_key()).await.status, 200);
    assert_eq!(logins(&written(), "kiosk", "success"), 1);

    // Click-to-verify: polls until the text arrives are no login; the one collecting it is.
    let link = crate::walink::web_link(&app).await;
    assert_eq!(crate::walink::poll(&app, &link).await.status, 202);
    crate::walink::send_text(&app, &phone, &crate::walink::text_of(&link)).await;
    assert_eq!(all_logins(&written()), 0);
    assert_eq!(crate::walink::poll(&app, &link).await.status, 200);
    let docs = written();
    assert_eq!(logins(&docs, "web", "success"), 1);
    assert_eq!(value(&docs, "Requests", &[("Function", "verify")]), 1);

    // A token opening another channel, a restore, a webhook delivery: no logins.
    let opened = app
        .send(with_token(
            with_body(
                event("session-start"),
                &json!({"phone": phone, "channel": "whatsapp"}),
            ),
            &web.token(),
        ))
        .await;
    assert!(opened.status < 500, "{:?}", opened.body);
    assert_eq!(app.restore(&web.token()).await.status, 200);
    let text = delivery(
        &[(phone.trim_start_matches('+'), &wamid(), "Size 9?")],
        "Asha",
    );
    assert_eq!(app.webhook(&text).await.status, 200);
    let docs = written();
    assert_eq!(all_logins(&docs), 0, "{docs:?}");
    for function in ["session", "whatsapp"] {
        assert!(value(&docs, "Requests", &[("Function", function)]) >= 1);
    }
}

#[tokio::test]
async fn a_replayed_write_is_counted_once() {
    metrics::capture();
    let app = App::new().await;
    let (_, web) = app.new_customer().await;
    let write = || {
        let body = json!({"messages": [{"role": "user", "content": "Size 9?"}]});
        with_header(
            with_body(with_token(event("session-update"), &web.token()), &body),
            "idempotency-key",
            "metrics-test-write-1",
        )
    };
    written();
    assert_eq!(app.send(write()).await.status, 200);
    assert_eq!(value(&written(), "IdempotentReplays", &[]), 0);
    let replayed = app.send(write()).await;
    assert_eq!(replayed.status, 200);
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
    let docs = written();
    assert_eq!(
        value(&docs, "IdempotentReplays", &[("Function", "session")]),
        1
    );
}

#[tokio::test]
async fn codes_are_counted_by_the_channel_that_carried_them_or_failed() {
    metrics::capture();
    let app = App::with_standin(&[]).await;
    let phone = unique_phone();
    assert_eq!(app.send_code(&phone, "login").await.status, 202);
    let docs = written();
    assert_eq!(value(&docs, "CodesSent", &[("Via", "whatsapp")]), 1);
    assert_eq!(value(&docs, "CodeDeliveryFailures", &[]), 0);
    assert_eq!(value(&docs, "Requests", &[("Function", "verify")]), 1);

    // Typed back: a login by code, on its channel; a wrong code is a failure.
    let code = app.last_code(&phone);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = app.verify_code(&phone, wrong, "login", json!({})).await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    assert_eq!(logins(&written(), "web", "failure"), 1);
    let login = app.verify_code(&phone, &code, "login", json!({})).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(logins(&written(), "web", "success"), 1);

    // Not on WhatsApp: a failure there, and the code sent by SMS.
    let sms_only = unique_phone();
    standin().fail(&sms_only, "whatsapp", "not_on_whatsapp", None);
    assert_eq!(app.send_code(&sms_only, "login").await.status, 202);
    let docs = written();
    assert_eq!(
        value(&docs, "CodeDeliveryFailures", &[("Via", "whatsapp")]),
        1
    );
    assert_eq!(value(&docs, "CodesSent", &[("Via", "sms")]), 1);
    assert_eq!(value(&docs, "CodesSent", &[("Via", "whatsapp")]), 0);

    // Neither channel works: the client is told the same 202, the metrics tell the truth.
    let unreachable = unique_phone();
    standin().fail(&unreachable, "whatsapp", "5xx", None);
    standin().fail(&unreachable, "sms", "5xx", None);
    assert_eq!(app.send_code(&unreachable, "login").await.status, 202);
    let docs = written();
    assert_eq!(value(&docs, "CodeDeliveryFailures", &[]), 2);
    assert_eq!(value(&docs, "CodesSent", &[]), 0);
    for line in docs.iter().map(Value::to_string) {
        for phone in [&phone, &sms_only, &unreachable] {
            assert!(
                !line.contains(phone.trim_start_matches('+')),
                "a phone in {line}"
            );
        }
    }
}

#[tokio::test]
async fn a_whatsapp_user_id_customer_paired_with_a_phone_is_one_merge() {
    metrics::capture();
    let app = App::new().await;
    let user = || format!("IN.{}", rand::random::<u64>());
    let message = |phone: Option<&str>, user: &str, text: &str| {
        let mut body = delivery(&[("0", &wamid(), text)], "Asha");
        let value = &mut body["entry"][0]["changes"][0]["value"];
        value["contacts"][0] = json!({"profile": {"name": "Asha"}, "user_id": user});
        value["messages"][0]["from_user_id"] = json!(user);
        match phone {
            Some(phone) => {
                let digits = phone.trim_start_matches('+');
                value["contacts"][0]["wa_id"] = json!(digits);
                value["messages"][0]["from"] = json!(digits);
            }
            None => {
                value["messages"][0].as_object_mut().unwrap().remove("from");
            }
        }
        body
    };

    // Both have sessions: the user id's is merged into the phone's.
    let (phone, _) = app.new_customer().await;
    let id = user();
    assert_eq!(app.webhook(&message(None, &id, "hi")).await.status, 200);
    assert_eq!(value(&written(), "Merges", &[]), 0);
    let pairing = message(Some(&phone), &id, "both");
    assert_eq!(app.webhook(&pairing).await.status, 200);
    assert_eq!(value(&written(), "Merges", &[("Function", "whatsapp")]), 1);
    // Already one: the next delivery with both merges nothing.
    assert_eq!(
        app.webhook(&message(Some(&phone), &id, "again"))
            .await
            .status,
        200
    );
    assert_eq!(value(&written(), "Merges", &[]), 0);

    // A phone without a session: the user id's session becomes the phone's.
    let (new_phone, id) = (unique_phone(), user());
    assert_eq!(app.webhook(&message(None, &id, "hi")).await.status, 200);
    written();
    let pairing = message(Some(&new_phone), &id, "both");
    assert_eq!(app.webhook(&pairing).await.status, 200);
    assert_eq!(value(&written(), "Merges", &[("Function", "whatsapp")]), 1);
}

#[tokio::test]
async fn throttled_dynamodb_calls_count_their_throttles_and_retries() {
    metrics::capture();
    let rig = Rig::start().await;
    let app = &rig.app;
    let (_, web) = app.new_customer().await;
    written();

    assert_eq!(app.restore(&web.token()).await.status, 200);
    let calm = written();
    assert_eq!(value(&calm, "DynamoDbThrottles", &[]), 0, "{calm:?}");
    assert_eq!(value(&calm, "DynamoDbRetries", &[]), 0, "{calm:?}");

    // One throttled attempt, retried by the SDK: the request succeeds.
    rig.proxy
        .plan(Plan::next(1, Fault::Throttling).on("BatchGetItem"));
    assert_eq!(app.restore(&web.token()).await.status, 200);
    let docs = written();
    assert_eq!(
        value(&docs, "DynamoDbThrottles", &[("Function", "session")]),
        1,
        "{docs:?}"
    );
    assert_eq!(
        value(&docs, "DynamoDbRetries", &[("Function", "session")]),
        1
    );
    assert_eq!(value(&docs, "Responses5xx", &[]), 0);

    // Throttled throughout: the SDK's three attempts are throttles, the answer a 5xx.
    rig.proxy
        .plan(Plan::always(Fault::ProvisionedThroughputExceeded).on("BatchGetItem"));
    assert_eq!(app.restore(&web.token()).await.status, 503);
    rig.proxy.heal();
    let docs = written();
    assert_eq!(
        (
            value(&docs, "DynamoDbThrottles", &[]),
            value(&docs, "DynamoDbRetries", &[])
        ),
        (3, 2),
        "{docs:?}"
    );
    assert_eq!(value(&docs, "Responses5xx", &[("Function", "session")]), 1);

    // A transaction cancelled because an item was throttled is a throttle too.
    rig.proxy
        .plan(Plan::always(Fault::TransactionThrottled).on("TransactWriteItems"));
    let signup = app.signup(&unique_phone(), "secret-pass", "web").await;
    rig.proxy.heal();
    assert_eq!(signup.status, 503, "{:?}", signup.body);
    let docs = written();
    assert!(value(&docs, "DynamoDbThrottles", &[("Function", "auth")]) >= 1);
}

#[tokio::test]
async fn a_failed_secret_refresh_is_counted_by_the_request_that_tried_it() {
    metrics::capture();
    let env = test_env();
    let secret: serde_json::Map<String, Value> = [
        "SERVICE_KEYS",
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
        "CODE_HMAC_KEY",
        "WHATSAPP_ACCESS_TOKEN",
    ]
    .into_iter()
    .map(|name| (name.to_string(), json!(env[name])))
    .collect();
    let app = App::with_secrets_manager(&Value::Object(secret), &[]).await;
    // The agent's read of a session that does not exist: its service key is checked.
    let agent = || {
        let sid = hex::encode(rand::random::<[u8; 16]>());
        app.send(memory_event("session-sid-summary-get", &sid))
    };
    // Past the refresh interval (1 s): a refresh that works counts nothing.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(agent().await.status, 404);
    assert_eq!(value(&written(), "SecretRefreshFailures", &[]), 0);

    standin().fail_secret(KEYS_SECRET, "5xx", None);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(agent().await.status, 404, "the values in hand serve");
    let docs = written();
    assert_eq!(
        value(
            &docs,
            "SecretRefreshFailures",
            &[("Function", "sales-memory")]
        ),
        1,
        "{docs:?}"
    );
}

/// The metrics the code writes are the ones template.yaml's dashboard and alarms read
/// (`tests/api/operations.rs` holds the template to the contract) and README's table lists.
#[test]
fn every_metric_written_is_on_the_dashboard_and_in_the_readme() {
    let template = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let table = readme
        .split("### Metrics the functions emit")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README: ### Metrics the functions emit");
    for name in metrics::metric_names() {
        assert!(
            template.contains(&format!("\"{name}\"")),
            "{name} is not on template.yaml's dashboard"
        );
        assert!(
            table.contains(&format!("`{name}`")),
            "README's metrics table does not list {name}"
        );
    }
}
