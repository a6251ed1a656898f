//! Property-based fuzz of the request parsers, in-process: arbitrary JSON values, text and
//! bytes (up to 2 KiB, under several content types) sent through the handlers of routes
//! that read a body never make a 5xx (nor a panic), and every 4xx is the JSON error body
//! `{detail, error_type}`. `scripts/fuzz.sh` does the same over HTTP from `openapi.yaml`.

use lambda_http::{Body, Request};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

use crate::helpers::*;

/// Cases per route; each is one request against DynamoDB Local.
const CASES: u32 = 64;
/// The largest body generated, in bytes.
const MAX_BODY: usize = 2048;

/// The field names the handlers read, so generated objects get past "unknown shape" often.
const FIELDS: &[&str] = &[
    "phone",
    "phone_number",
    "password",
    "name",
    "channel",
    "customer_id",
    "age",
    "gender",
    "city",
    "building_name",
    "address_landmark",
    "messages",
    "role",
    "content",
    "cart",
    "sku",
    "quantity",
    "price",
    "recommended_skus",
    "skus",
    "summary",
    "scope",
    "qr_token",
];

/// Values the handlers give meaning to: channels, roles, limits and their neighbours.
fn telling_strings() -> Vec<String> {
    let mut values: Vec<String> = [
        "",
        " ",
        "web",
        "website",
        " Kiosk ",
        "kiosk",
        "whatsapp",
        "user",
        "assistant",
        "system",
        "local",
        "global",
        "103",
        "-1",
        "1e9",
        "SHOE-RUN-9",
        " SKU ",
        "+91",
        "+9198",
        "not a phone",
        "\u{0}",
        "line\nbreak",
        "tab\there",
        "\u{7f}\u{1b}[31m",
        "\u{202e}reversed",
        "नमस्ते",
        "😀😀😀",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for n in [5, 6, 64, 65, 71, 72, 73, 100, 101, 200, 201] {
        values.push("a".repeat(n));
    }
    // 72 bytes in 36 characters, 74 bytes in 37.
    values.push("é".repeat(36));
    values.push("é".repeat(37));
    values.push(unique_phone());
    values.push(unique_phone().replace("+91", ""));
    values
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just(0.0),
            Just(-0.5),
            Just(1e9),
            Just(1e10),
            Just(12.345),
            any::<f64>()
        ]
        .prop_filter_map("a finite number", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        "(?s).{0,40}".prop_map(Value::String),
        proptest::sample::select(telling_strings()).prop_map(Value::String),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(FIELDS).prop_map(str::to_string),
        1 => "(?s).{0,12}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A request body as sent on the wire.
#[derive(Clone, Debug)]
enum Payload {
    Json(Value),
    Text(String),
    Bytes(Vec<u8>),
}

/// Stands for a fresh, valid phone number in a [`valid_body`].
const FRESH_PHONE: &str = "<fresh phone>";

/// A body the route accepts (given a fresh phone), for [`mutated`] to break field by field.
fn valid_body(route: Route) -> Value {
    match route {
        Route::Login => {
            json!({"phone_number": FRESH_PHONE, "password": "secret-pass", "channel": "web"})
        }
        Route::Signup => {
            json!({"name": "Fuzz", "phone_number": FRESH_PHONE, "password": "fuzz-pass-1",
            "channel": "web", "age": 30, "city": "Pune"})
        }
        Route::KioskStart => json!({"phone": FRESH_PHONE, "channel": "kiosk"}),
        Route::Update => json!({
            "messages": [{"role": "user", "content": "Running shoes, size 9?"}],
            "cart": [{"sku": "SHOE-RUN-9", "quantity": 1, "price": 4999.5}],
            "recommended_skus": ["SHOE-RUN-9"],
            "summary": "Wants running shoes.",
        }),
        Route::AgentSummary => json!({"summary": "Wants size 9 running shoes."}),
    }
}

/// `value` with each part kept, replaced by arbitrary JSON or dropped, at every depth; an
/// object may also get a field it does not expect.
fn mutated(value: Value) -> BoxedStrategy<Value> {
    match value {
        Value::Object(fields) => {
            let fields: Vec<_> = fields
                .into_iter()
                .map(|(name, value)| {
                    prop_oneof![
                        6 => mutated(value).prop_map(Some),
                        1 => json_value().prop_map(Some),
                        1 => Just(None),
                    ]
                    .prop_map(move |value| value.map(|v| (name.clone(), v)))
                })
                .collect();
            let extra = proptest::option::weighted(0.2, (key(), json_value()));
            (fields, extra)
                .prop_map(|(fields, extra)| {
                    let mut object: Map<String, Value> = fields.into_iter().flatten().collect();
                    if let Some((name, value)) = extra {
                        object.insert(name, value);
                    }
                    Value::Object(object)
                })
                .boxed()
        }
        Value::Array(items) => {
            let items: Vec<_> = items.into_iter().map(mutated).collect();
            items.prop_map(Value::Array).boxed()
        }
        Value::String(s) if s == FRESH_PHONE => prop_oneof![
            6 => "\\+9198[0-9]{8}".prop_map(Value::String),
            1 => json_leaf(),
        ]
        .boxed(),
        leaf => prop_oneof![6 => Just(leaf), 1 => json_leaf()].boxed(),
    }
}

fn payload(route: Route) -> impl Strategy<Value = Payload> {
    let object = proptest::collection::btree_map(key(), json_value(), 0..8)
        .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>()));
    let nested = (0usize..(MAX_BODY / 2), any::<bool>()).prop_map(|(depth, arrays)| {
        if arrays {
            format!("{}{}", "[".repeat(depth), "]".repeat(depth))
        } else {
            format!("{}1{}", "{\"a\":".repeat(depth / 3), "}".repeat(depth / 3))
        }
    });
    prop_oneof![
        6 => mutated(valid_body(route)).prop_map(Payload::Json),
        2 => object.prop_map(Payload::Json),
        1 => json_value().prop_map(Payload::Json),
        1 => "(?s).{0,512}".prop_map(Payload::Text),
        1 => nested.prop_map(Payload::Text),
        2 => proptest::collection::vec(any::<u8>(), 0..=MAX_BODY).prop_map(Payload::Bytes),
    ]
    .prop_filter("at most 2 KiB", |p| body_bytes(p).len() <= MAX_BODY)
}

fn body_bytes(payload: &Payload) -> Vec<u8> {
    match payload {
        Payload::Json(value) => value.to_string().into_bytes(),
        Payload::Text(text) => text.clone().into_bytes(),
        Payload::Bytes(bytes) => bytes.clone(),
    }
}

/// The body as it went out: JSON as its text, anything else as an escaped string.
fn describe(payload: &Payload) -> String {
    match payload {
        Payload::Json(value) => value.to_string(),
        Payload::Text(text) => format!("{text:?}"),
        Payload::Bytes(bytes) => format!("b{:?}", String::from_utf8_lossy(bytes)),
    }
}

/// `None`: no Content-Type header at all.
fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        6 => Just(Some("application/json")),
        1 => Just(Some("application/json; charset=utf-8")),
        1 => Just(Some("APPLICATION/JSON")),
        1 => Just(Some("text/plain")),
        1 => Just(Some("application/x-www-form-urlencoded")),
        1 => Just(None),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Route {
    Login,
    Signup,
    KioskStart,
    Update,
    AgentSummary,
}

/// The app and a live, password-level login to aim the token and service-key routes at.
struct Target {
    app: App,
    token: String,
    session_id: String,
}

impl Target {
    fn request(&self, route: Route, payload: &Payload, content_type: Option<&str>) -> Request {
        let req = match route {
            Route::Login => event("auth-login"),
            Route::Signup => event("auth-signup"),
            // The sample event carries the dev kiosk key.
            Route::KioskStart => event("session-start"),
            Route::Update => with_token(event("session-update"), &self.token),
            // The sample event carries the dev service key.
            Route::AgentSummary => memory_event("session-sid-summary-post", &self.session_id),
        };
        let mut req = match content_type {
            Some(ct) => with_header(req, "content-type", ct),
            None => without_header(req, "content-type"),
        };
        *req.body_mut() = match payload {
            Payload::Json(value) => Body::Text(value.to_string()),
            Payload::Text(text) => Body::Text(text.clone()),
            Payload::Bytes(bytes) => Body::Binary(bytes.clone()),
        };
        req
    }
}

fn fuzz(route: Route) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = runtime.block_on(async {
        let app = App::new().await;
        let (_, login) = app.new_customer().await;
        Target {
            token: login.token(),
            session_id: login.session_id(),
            app,
        }
    });
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    });
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());
    let result = runner.run(
        &(payload(route), content_type()),
        |(payload, content_type)| {
            let req = target.request(route, &payload, content_type);
            let reply = runtime.block_on(target.app.send(req));
            *statuses.lock().unwrap().entry(reply.status).or_default() += 1;
            let seen = format!(
                "{route:?} with Content-Type {content_type:?} and body {}: {} {}",
                describe(&payload),
                reply.status,
                reply.body
            );
            prop_assert!(reply.status < 500, "a server error: {seen}");
            if (400..500).contains(&reply.status) {
                let is_text =
                    |field: &str| reply.body[field].as_str().is_some_and(|s| !s.is_empty());
                prop_assert!(is_text("detail"), "no detail: {seen}");
                prop_assert!(is_text("error_type"), "no error_type: {seen}");
            }
            Ok::<(), TestCaseError>(())
        },
    );
    // Shown with `--no-capture`: how far the cases got (400s, 415s, 2xx…).
    println!("{route:?}: statuses {:?}", statuses.lock().unwrap());
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[test]
fn login_survives_hostile_bodies() {
    fuzz(Route::Login);
}

#[test]
fn signup_survives_hostile_bodies() {
    fuzz(Route::Signup);
}

#[test]
fn kiosk_session_start_survives_hostile_bodies() {
    fuzz(Route::KioskStart);
}

#[test]
fn session_update_survives_hostile_bodies() {
    fuzz(Route::Update);
}

#[test]
fn agent_summary_survives_hostile_bodies() {
    fuzz(Route::AgentSummary);
}
