//! Reliability under DynamoDB faults (issue 7, item 1): throttling, server errors, slow
//! and dropped connections, an unreachable endpoint and a crash are retried with the SDK's
//! standard retry mode inside the function's 10 s budget, then answered 503 with
//! `Retry-After`: never a 500, never a half-written login.
//!
//! These tests do not use `make test`'s DynamoDB Local: each brings its own instance
//! ([`DynamoDbLocal`]) and, where it injects faults, a [`FaultProxy`] in front of it. The
//! functions' state is built exactly as in Lambda, by `AppState::new` (`Store::connect`,
//! the SDK's standard retries and timeouts), pointed at the proxy.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use lambda_http::Request;
use omnisession::AppState;
use omnisession::config::Config;
use omnisession::store::Store;
use omnisession::token::{IssuedToken, SessionId};
use serde_json::json;

use crate::dynamodb_local::{DynamoDbLocal, free_port};
use crate::fault_proxy::{Fault, FaultProxy, Plan, Seen};
use crate::helpers::*;
use crate::iam::{Iam, enforced};

/// The functions' timeout in template.yaml: every answer must come within it.
const BUDGET: Duration = Duration::from_secs(10);
const PASSWORD: &str = "secret-pass";

/// Longer than the SDK's 2 s attempt timeout.
const SLOW: Duration = Duration::from_millis(2500);

// ---- set-up ------------------------------------------------------------------------

/// `Store::connect` finds its region and credentials the way a Lambda does: in the
/// environment (first in the SDK's chains, so IMDS is never asked; it is disabled too).
/// `make test` exports config/dev.env; a bare `cargo nextest run` does not, so the same
/// values are set here when missing.
fn sdk_environment() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let env = test_env();
        for key in [
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_EC2_METADATA_DISABLED",
        ] {
            if std::env::var_os(key).is_none() {
                // SAFETY: runs once, before the test's first SDK client exists (called by
                // `config_at`, which every test calls before any DynamoDB call), so no other
                // thread of this process reads the environment meanwhile (nextest runs each
                // test in a process of its own).
                unsafe { std::env::set_var(key, &env[key]) };
            }
        }
    });
}

/// The test configuration pointed at `endpoint`, with tables of these tests alone.
fn config_at(endpoint: &str) -> Config {
    sdk_environment();
    let mut env = test_env();
    env.insert("DYNAMODB_ENDPOINT".into(), endpoint.into());
    for (var, table) in [
        ("CUSTOMERS_TABLE", "customers"),
        ("SESSIONS_TABLE", "sessions"),
        ("MESSAGES_TABLE", "messages"),
        ("KIOSKS_TABLE", "kiosks"),
    ] {
        env.insert(var.into(), format!("omnisession-faults-{table}"));
    }
    Config::from_lookup(|k| env.get(k).cloned()).expect("fault-test configuration")
}

/// The functions' state as a Lambda builds it at cold start, against `endpoint`, with
/// their calls checked against template.yaml's policies (see `iam`) as everywhere else.
async fn app_at(endpoint: &str) -> App {
    let mut state = AppState::new(config_at(endpoint))
        .await
        .expect("the environment's secrets");
    let iam = Iam::for_tables(&state.config.tables);
    let client = enforced(state.store.client(), iam);
    state.store = Store::new(client, state.config.tables.clone());
    App {
        state: state.into(),
    }
}

/// Creates the tables of template.yaml in the instance at `endpoint`; returns a client
/// that talks to it directly (not through any proxy), for set-up and checks.
async fn tables_at(endpoint: &str) -> Client {
    let config = config_at(endpoint);
    let admin = client(&config);
    create_tables(&admin, &config).await;
    let registry = Store::new(admin.clone(), config.tables.clone());
    omnisession_testkit::setup::register_kiosk(
        &registry,
        omnisession_testkit::setup::DEV_KIOSK,
        &dev_kiosk_key(),
    )
    .await
    .expect("the development kiosk");
    admin
}

/// A DynamoDB Local of this test, a fault proxy in front of it, and the functions'
/// state pointed at the proxy. Fields drop in order: the instance is killed last.
pub(crate) struct Rig {
    pub(crate) proxy: FaultProxy,
    pub(crate) app: Arc<App>,
    admin: Client,
    ddb: DynamoDbLocal,
}

impl Rig {
    pub(crate) async fn start() -> Self {
        let ddb = DynamoDbLocal::in_memory();
        let admin = tables_at(&ddb.endpoint()).await;
        let proxy = FaultProxy::start(&ddb.endpoint()).await;
        let app = Arc::new(app_at(&proxy.endpoint()).await);
        Self {
            proxy,
            app,
            admin,
            ddb,
        }
    }

    /// Another proxy and state on the same instance, for a case of its own.
    async fn branch(&self) -> (FaultProxy, App) {
        let proxy = FaultProxy::start(&self.ddb.endpoint()).await;
        let app = app_at(&proxy.endpoint()).await;
        (proxy, app)
    }

    async fn assert_no_half_logins(&self) -> Census {
        assert_no_half_logins(&self.admin, &self.app.state.config).await
    }
}

// ---- assertions ----------------------------------------------------------------------

/// Awaits a request and checks that the answer comes within the function's budget.
async fn within_budget(what: &str, request: impl Future<Output = Reply>) -> Reply {
    let started = Instant::now();
    let reply = request.await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < BUDGET,
        "{what}: answered after {elapsed:?}, beyond the function's {BUDGET:?} timeout"
    );
    reply
}

/// Awaits a request and checks the two rules that hold whatever the fault: the answer
/// comes within the function's budget, and it is never a 500.
async fn timed(what: impl AsRef<str>, request: impl Future<Output = Reply>) -> Reply {
    let what = what.as_ref();
    let reply = within_budget(what, request).await;
    assert!(
        reply.status < 500 || reply.status == 503,
        "{what}: {} {:?}",
        reply.status,
        reply.body
    );
    reply
}

/// 503 with `Retry-After` and the JSON error body.
fn assert_unavailable(what: &str, reply: &Reply) {
    assert_eq!(reply.status, 503, "{what}: {:?}", reply.body);
    let retry_after = reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(
        retry_after.is_some_and(|s| s >= 1),
        "{what}: 503 without a Retry-After in seconds: {:?}",
        reply.headers
    );
    assert_eq!(
        reply.body["error_type"], "service_unavailable",
        "{what}: {:?}",
        reply.body
    );
    assert!(!reply.detail().is_empty(), "{what}: {:?}", reply.body);
}

/// The fault hit the first request of an operation and the SDK sent it again.
fn assert_retried(what: &str, seen: &[Seen], operation: &str) {
    let attempts: Vec<&Seen> = seen.iter().filter(|s| s.operation == operation).collect();
    assert!(
        attempts.len() >= 2 && attempts[0].fault.is_some() && attempts[1].fault.is_none(),
        "{what}: expected a failed {operation} and its retry, the proxy saw {seen:?}"
    );
}

/// Sends requests at once, each in a task of its own, and checks each with [`timed`].
/// (Debug builds of the handlers are large futures: several joined on the test thread's
/// stack can overflow it.)
async fn all_at_once(app: &Arc<App>, requests: Vec<(String, Request)>) -> Vec<(String, Reply)> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(what, req)| {
            let app = app.clone();
            tokio::spawn(async move {
                let reply = timed(&what, app.send(req)).await;
                (what, reply)
            })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("a request failed its checks"));
    }
    replies
}

/// The requests the `App` helpers send, built ahead so that tasks can own them.
mod requests {
    use lambda_http::Request;
    use omnisession::secrets::{SecretString, sign_login};
    use serde_json::{Value, json};

    use super::PASSWORD;
    use crate::helpers::*;

    pub fn signup(phone: &str) -> Request {
        let body = json!({"name": "Test Customer", "phone_number": phone, "password": PASSWORD, "channel": "web"});
        with_body(event("auth-signup"), &body)
    }

    pub fn login(phone: &str, channel: &str) -> Request {
        let body = json!({"phone_number": phone, "password": PASSWORD, "channel": channel});
        with_body(event("auth-login"), &body)
    }

    pub fn kiosk_start(phone: &str) -> Request {
        with_body(
            event("session-start"),
            &json!({"phone": phone, "channel": "kiosk"}),
        )
    }

    pub fn whatsapp_login(phone: &str, app_secret: &SecretString) -> Request {
        let body =
            json!({"phone_number": phone, "name": "Asha", "channel": "whatsapp"}).to_string();
        let (signed_at, signature) =
            sign_login(app_secret, body.as_bytes(), chrono::Utc::now().timestamp());
        let req = with_header(
            with_raw_body(event("session-login"), &body),
            "x-omnisession-timestamp",
            &signed_at,
        );
        with_header(req, "x-hub-signature-256", &signature)
    }

    pub fn restore(token: &str) -> Request {
        with_token(event("session-restore"), token)
    }

    pub fn update(token: &str) -> Request {
        let body = json!({"messages": [{"role": "user", "content": "Running shoes, size 9?"}]});
        with_body(with_token(event("session-update"), token), &body)
    }

    /// The sales agent records a summary (`X-Service-Key` of the sample event).
    pub fn agent_summary(sid: &str) -> Request {
        let body: Value = json!({"summary": "Wants running shoes"});
        with_body(memory_event("session-sid-summary-post", sid), &body)
    }
}

/// What the tables held when checked.
#[derive(Debug, Default)]
struct Census {
    customers: usize,
    sessions: usize,
}

type Item = HashMap<String, AttributeValue>;

async fn scan_all(admin: &Client, table: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut start: Option<Item> = None;
    loop {
        let out = admin
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap_or_else(|e| panic!("scan {table}: {e:?}"));
        items.extend(out.items().iter().cloned());
        match out.last_evaluated_key() {
            Some(key) if !key.is_empty() => start = Some(key.clone()),
            _ => return items,
        }
    }
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// Scans every item and checks that each login is whole (see `shared/src/store`):
/// - a customer record `phone#<e164>` and its id claim `customer#<id>` name each other;
/// - a live session holds at least one token, and its phone's lock `phone#<e164>` and
///   customer record exist and point at it;
/// - a lock points at a session that exists, of the same phone.
async fn assert_no_half_logins(admin: &Client, config: &Config) -> Census {
    let mut problems = Vec::new();
    let customers: HashMap<String, Item> = scan_all(admin, &config.tables.customers)
        .await
        .into_iter()
        .filter_map(|item| Some((text(&item, "pk")?.to_string(), item)))
        .collect();
    let mut census = Census::default();
    for (pk, item) in &customers {
        if let Some(phone) = pk.strip_prefix("phone#") {
            census.customers += 1;
            let id = text(item, "customer_id").unwrap_or_default();
            let claim = customers.get(&format!("customer#{id}"));
            if claim.and_then(|c| text(c, "phone_number")) != Some(phone) {
                problems.push(format!(
                    "customer {pk} (id {id}) without its claim: {claim:?}"
                ));
            }
        } else if let Some(id) = pk.strip_prefix("customer#") {
            let phone = text(item, "phone_number").unwrap_or_default();
            let record = customers.get(&format!("phone#{phone}"));
            if record.and_then(|r| text(r, "customer_id")) != Some(id) {
                problems.push(format!(
                    "claim {pk} (phone {phone}) without its customer: {record:?}"
                ));
            }
        } else {
            problems.push(format!("unexpected customers item {pk}"));
        }
    }

    let sessions: HashMap<String, Item> = scan_all(admin, &config.tables.sessions)
        .await
        .into_iter()
        .filter_map(|item| Some((text(&item, "pk")?.to_string(), item)))
        .collect();
    let now = chrono::Utc::now().timestamp();
    for (pk, item) in &sessions {
        if let Some(phone) = pk.strip_prefix("phone#") {
            let sid = text(item, "session_id").unwrap_or_default();
            let session = sessions.get(sid);
            if session.and_then(|s| text(s, "phone")) != Some(phone) {
                problems.push(format!(
                    "lock {pk} points at a missing session {sid}: {session:?}"
                ));
            }
        } else if !pk.contains('#') {
            census.sessions += 1;
            if number(item, "expires_at").is_none_or(|e| e <= now) {
                continue;
            }
            let phone = text(item, "phone").unwrap_or_default();
            let tokens = item.get("tokens").and_then(|t| t.as_m().ok());
            // The webhook's sessions have no token: there is no client to give one to.
            let channels = item.get("channels").and_then(|c| c.as_m().ok());
            let webhook_only = channels.is_some_and(|c| c.len() == 1 && c.contains_key("whatsapp"));
            if tokens.is_none_or(|t| t.is_empty()) && !webhook_only {
                problems.push(format!("session {pk} of {phone} without a token"));
            }
            let lock = sessions.get(&format!("phone#{phone}"));
            if lock.and_then(|l| text(l, "session_id")) != Some(pk.as_str()) {
                problems.push(format!(
                    "session {pk} of {phone} without its phone lock: {lock:?}"
                ));
            }
            let customer = customers.get(&format!("phone#{phone}"));
            if customer.and_then(|c| text(c, "customer_id")) != text(item, "customer_id") {
                problems.push(format!(
                    "session {pk} of {phone} without its customer: {customer:?}"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "half-written logins in the tables:\n{}",
        problems.join("\n")
    );
    census
}

/// A token's login is whole: it restores its session.
async fn assert_restores(what: &str, app: &App, token: &str, session_id: &str) {
    let restored = app.restore(token).await;
    assert_eq!(restored.status, 200, "{what}: {:?}", restored.body);
    assert_eq!(restored.session_id(), session_id, "{what}");
}

/// A customer record and its id claim, read directly.
async fn assert_customer(what: &str, admin: &Client, config: &Config, phone: &str, id: &str) {
    for (key, attribute, expected) in [
        (format!("phone#{phone}"), "customer_id", id),
        (format!("customer#{id}"), "phone_number", phone),
    ] {
        let item = admin
            .get_item()
            .table_name(&config.tables.customers)
            .key("pk", AttributeValue::S(key.clone()))
            .consistent_read(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: read {key}: {e:?}"))
            .item;
        assert_eq!(
            item.as_ref().and_then(|i| text(i, attribute)),
            Some(expected),
            "{what}: {key} is {item:?}"
        );
    }
}

// ---- the tests -----------------------------------------------------------------------

#[tokio::test]
async fn an_unreachable_dynamodb_is_a_503_with_retry_after_within_the_budget() {
    // Nothing listens on this port: every attempt is refused.
    let app = Arc::new(app_at(&format!("http://127.0.0.1:{}", free_port())).await);
    let phone = unique_phone();
    let sid = SessionId::generate();
    let token = IssuedToken::issue(&sid).value.expose().to_string();
    let replies = all_at_once(
        &app,
        vec![
            ("signup".into(), requests::signup(&phone)),
            ("login".into(), requests::login(&phone, "kiosk")),
            ("kiosk start".into(), requests::kiosk_start(&phone)),
            (
                "whatsapp login".into(),
                requests::whatsapp_login(&phone, app.app_secret()),
            ),
            ("restore".into(), requests::restore(&token)),
            ("update".into(), requests::update(&token)),
            (
                "agent summary".into(),
                requests::agent_summary(sid.as_str()),
            ),
        ],
    )
    .await;
    for (what, reply) in &replies {
        assert_unavailable(what, reply);
    }
}

#[tokio::test]
async fn one_failed_attempt_is_retried_and_the_request_succeeds() {
    let rig = Rig::start().await;
    let app = &rig.app;
    for fault in [
        Fault::Throttling,
        Fault::ProvisionedThroughputExceeded,
        Fault::InternalServerError,
        Fault::Drop,
        Fault::LoseResponse,
    ] {
        // A signup's first call writes the customer and its claim in one transaction.
        rig.proxy.take_seen();
        rig.proxy.plan(Plan::next(1, fault));
        let phone = unique_phone();
        let what = format!("signup after one {fault:?}");
        let signup = timed(&what, app.signup(&phone, PASSWORD, "web")).await;
        assert_eq!(signup.status, 201, "{what}: {:?}", signup.body);
        assert_retried(&what, &rig.proxy.take_seen(), "TransactWriteItems");

        // A second login joins the session with one conditional update.
        rig.proxy.plan(Plan::next(1, fault).on("UpdateItem"));
        let what = format!("kiosk login after one {fault:?}");
        let login = timed(&what, app.login(&phone, PASSWORD, "kiosk")).await;
        assert_eq!(login.status, 200, "{what}: {:?}", login.body);
        assert_eq!(login.session_id(), signup.session_id(), "{what}");
        assert_retried(&what, &rig.proxy.take_seen(), "UpdateItem");

        // A restore is one strongly consistent read (beside the history's end).
        rig.proxy.plan(Plan::next(1, fault).on("BatchGetItem"));
        let what = format!("restore after one {fault:?}");
        let restore = timed(&what, app.restore(&login.token())).await;
        assert_eq!(restore.status, 200, "{what}: {:?}", restore.body);
        assert_retried(&what, &rig.proxy.take_seen(), "BatchGetItem");
    }

    // A read slower than the attempt timeout is abandoned and tried again.
    let (phone, web) = app.new_customer().await;
    rig.proxy.take_seen();
    rig.proxy
        .plan(Plan::next(1, Fault::Delay(SLOW)).on("BatchGetItem"));
    let restore = timed("slow restore", app.restore(&web.token())).await;
    assert_eq!(restore.status, 200, "slow restore: {:?}", restore.body);
    assert_retried("slow restore", &rig.proxy.take_seen(), "BatchGetItem");
    rig.proxy
        .plan(Plan::next(1, Fault::Delay(SLOW)).on("BatchGetItem"));
    let login = timed("slow login", app.login(&phone, PASSWORD, "kiosk")).await;
    assert_eq!(login.status, 200, "slow login: {:?}", login.body);
    assert_retried("slow login", &rig.proxy.take_seen(), "BatchGetItem");

    rig.proxy.settle().await;
    let census = rig.assert_no_half_logins().await;
    assert_eq!((census.customers, census.sessions), (6, 6), "{census:?}");
}

#[tokio::test]
async fn persistent_faults_answer_503_with_retry_after_within_the_budget() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let (phone, web) = app.new_customer().await;
    let (token, sid) = (web.token(), web.session_id());

    for fault in [
        Fault::Throttling,
        Fault::ProvisionedThroughputExceeded,
        Fault::InternalServerError,
        Fault::Delay(SLOW),
        Fault::Drop,
        Fault::LoseResponse,
    ] {
        rig.proxy.take_seen();
        rig.proxy.plan(Plan::always(fault));
        let name = |what: &str| format!("{what} under persistent {fault:?}");
        let replies = all_at_once(
            app,
            vec![
                (name("signup"), requests::signup(&unique_phone())),
                (name("login"), requests::login(&phone, "kiosk")),
                (name("restore"), requests::restore(&token)),
                (name("update"), requests::update(&token)),
                (name("agent summary"), requests::agent_summary(&sid)),
            ],
        )
        .await;
        for (what, reply) in &replies {
            assert_unavailable(what, reply);
        }
        rig.proxy.heal();
        rig.proxy.settle().await;
        // Five requests, each failing at its first call: more than five failed attempts
        // means the SDK retried before giving up.
        let seen = rig.proxy.take_seen();
        let failed = seen.iter().filter(|s| s.fault.is_some()).count();
        assert!(failed > 5, "{fault:?}: no retries: {seen:?}");
    }

    // The login made before the faults is untouched.
    assert_restores("the first login", app, &token, &sid).await;
    rig.assert_no_half_logins().await;
}

/// The flows a login can take, each a different sequence of DynamoDB calls.
#[derive(Clone, Copy, Debug)]
enum Flow {
    /// Customer and claim (transaction), phone index, new session and lock (transaction).
    Signup,
    /// Customer and lockout, phone index, join the live session (update).
    JoinLogin,
    /// Customer and lockout, phone index, new session and lock (transaction).
    FreshLogin,
    /// The kiosk registry (the state's first kiosk request), customer, customer and claim
    /// (transaction), phone index, new session (transaction).
    KioskStartNewPhone,
}

impl Flow {
    const ALL: [Flow; 4] = [
        Flow::Signup,
        Flow::JoinLogin,
        Flow::FreshLogin,
        Flow::KioskStartNewPhone,
    ];

    /// The DynamoDB calls the flow makes when nothing fails.
    fn calls(self) -> u64 {
        match self {
            Flow::KioskStartNewPhone => 5,
            _ => 3,
        }
    }
}

/// One flow with a fault injected from its `after`-th DynamoDB request on, through a proxy
/// and state of its own. Checks that it answers within the budget, 2xx when the fault is
/// transient (`must_succeed`: the SDK's retry gets it through) and 503 otherwise, and that
/// a 2xx login is whole: its token restores, its customer has its claim.
async fn fault_case(rig: &Rig, flow: Flow, plan: Plan, must_succeed: bool) {
    let (proxy, app) = rig.branch().await;
    // The customer (and a session to join, or one that has ended) exist before the fault.
    let phone = match flow {
        Flow::JoinLogin => app.new_customer().await.0,
        Flow::FreshLogin => {
            let (phone, web) = app.new_customer().await;
            assert_eq!(app.end(&web.token(), "global").await.status, 200);
            phone
        }
        Flow::Signup | Flow::KioskStartNewPhone => unique_phone(),
    };
    let what = format!("{flow:?} with {plan:?}");
    proxy.plan(plan);
    let reply = match flow {
        Flow::Signup => timed(&what, app.signup(&phone, PASSWORD, "web")).await,
        Flow::JoinLogin | Flow::FreshLogin => {
            timed(&what, app.login(&phone, PASSWORD, "kiosk")).await
        }
        Flow::KioskStartNewPhone => timed(&what, app.kiosk_start(&phone)).await,
    };
    proxy.heal();
    proxy.settle().await;
    let seen = proxy.take_seen();
    assert!(
        seen.iter().any(|s| s.fault.is_some()),
        "{what}: no fault was injected: {seen:?}"
    );
    match reply.status {
        200 | 201 if must_succeed => {
            assert_restores(&what, &app, &reply.token(), &reply.session_id()).await;
            let id = reply.body["customer"]["customer_id"]
                .as_str()
                .expect("customer_id");
            assert_customer(&what, &rig.admin, &app.state.config, &phone, id).await;
        }
        503 if !must_succeed => assert_unavailable(&what, &reply),
        status => panic!("{what}: {status} {:?}; the proxy saw {seen:?}", reply.body),
    }
}

#[tokio::test]
async fn a_fault_at_any_call_of_a_login_leaves_it_whole_or_absent() {
    let rig = Rig::start().await;
    let mut cases = Vec::new();
    // A single fault at any call: the SDK's retry carries the login through, also when
    // the failed attempt had been written (its answer lost): retrying a write is safe.
    for fault in [Fault::Drop, Fault::LoseResponse] {
        for flow in Flow::ALL {
            for after in 0..flow.calls() {
                cases.push((flow, Plan::next(1, fault).after(after), true));
            }
        }
    }
    // Every call from one on fails: the login answers 503, and what it wrote before is
    // whole (a write whose answer was lost included).
    for fault in [Fault::Throttling, Fault::LoseResponse] {
        for flow in Flow::ALL {
            for after in 0..flow.calls() {
                cases.push((flow, Plan::always(fault).after(after), false));
            }
        }
    }
    // The single-fault cases first: persistent faults drain the SDK's retry quota (a
    // token bucket per process), and then no request is retried at all.
    futures::stream::iter(cases)
        .map(|(flow, plan, must_succeed)| fault_case(&rig, flow, plan, must_succeed))
        .buffered(4)
        .collect::<Vec<()>>()
        .await;
    rig.assert_no_half_logins().await;
}

#[tokio::test]
async fn a_throttled_transaction_is_a_503_not_a_500() {
    let rig = Rig::start().await;
    let app = &rig.app;
    rig.proxy
        .plan(Plan::always(Fault::TransactionThrottled).on("TransactWriteItems"));
    let new_phone = unique_phone();
    let texter = unique_phone();
    let first_text = delivery(
        &[(texter.trim_start_matches('+'), &wamid(), "Size 9?")],
        "Asha",
    );
    let replies = [
        (
            "signup",
            within_budget("signup", app.signup(&new_phone, PASSWORD, "web")).await,
        ),
        (
            "kiosk start of a new phone",
            within_budget("kiosk start", app.kiosk_start(&unique_phone())).await,
        ),
        (
            "first WhatsApp message of a new phone",
            within_budget("first WhatsApp message", app.webhook(&first_text)).await,
        ),
    ];
    rig.proxy.heal();
    let statuses: Vec<(&str, u16)> = replies.iter().map(|(w, r)| (*w, r.status)).collect();
    for (what, reply) in &replies {
        assert_eq!(
            reply.status, 503,
            "{what} with a throttled transaction; all: {statuses:?}"
        );
        assert_unavailable(what, reply);
    }
    // The provider retries the delivery it was refused: the message's dedupe claim was
    // given back, so the retry files it (once).
    let retried = app.webhook(&first_text).await;
    assert_eq!((retried.status, &retried.body["stored"]), (200, &json!(1)));
    let again = app.webhook(&first_text).await;
    assert_eq!(again.body["duplicates"], 1, "{:?}", again.body);
    rig.assert_no_half_logins().await;
}

#[tokio::test]
async fn a_throttled_global_end_leaves_no_lock_behind() {
    let rig = Rig::start().await;
    let app = &rig.app;
    let (_, web) = app.new_customer().await;
    rig.proxy
        .plan(Plan::always(Fault::TransactionThrottled).on("TransactWriteItems"));
    let end = timed("global end", app.end(&web.token(), "global")).await;
    rig.proxy.heal();
    // Either the session ended whole (200: session and lock gone) or not at all (503).
    match end.status {
        200 => assert_eq!(app.restore(&web.token()).await.status, 401),
        _ => {
            assert_unavailable("global end with a throttled transaction", &end);
            assert_restores("the login", app, &web.token(), &web.session_id()).await;
        }
    }
    rig.assert_no_half_logins().await;
}

#[tokio::test]
async fn a_brownout_is_answered_within_the_budget() {
    let rig = Rig::start().await;
    let app = &rig.app;
    // Every call's first attempt outlasts the 2 s attempt timeout; its retry is answered.
    // A webhook delivery from a new phone makes seven calls (dedupe check, customer,
    // customer and claim, phone index, new session, message, session).
    rig.proxy
        .plan(Plan::every(2, Fault::Delay(Duration::from_secs(4))));
    let phone = unique_phone();
    let digits = phone.trim_start_matches('+');
    let delivery = delivery(&[(digits, &wamid(), "Hi, size 9 in stock?")], "Asha");
    let reply = timed("webhook in a brownout", app.webhook(&delivery)).await;
    assert!(
        matches!(reply.status, 200 | 503),
        "webhook in a brownout: {} {:?}",
        reply.status,
        reply.body
    );
    rig.proxy.heal();
    rig.proxy.settle().await;
    rig.assert_no_half_logins().await;
}

/// One answer of the run that DynamoDB Local is killed in.
#[derive(Debug)]
struct Outcome {
    phone: String,
    what: &'static str,
    /// When it was sent and answered.
    sent: Instant,
    answered: Instant,
    status: u16,
    token: Option<String>,
    session_id: Option<String>,
    customer_id: Option<String>,
}

/// Signs up fresh phones and logs each in on the kiosk and the web until `stop`.
async fn login_stream(app: Arc<App>, stop: Arc<AtomicBool>) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let phone = unique_phone();
        let mut signed_up = false;
        for what in ["signup", "kiosk login", "web login"] {
            let sent = Instant::now();
            let reply = match what {
                "signup" => timed(what, app.signup(&phone, PASSWORD, "web")).await,
                "kiosk login" => timed(what, app.login(&phone, PASSWORD, "kiosk")).await,
                _ => timed(what, app.login(&phone, PASSWORD, "web")).await,
            };
            let ok = matches!(reply.status, 200 | 201);
            signed_up |= what == "signup" && ok;
            match (what, reply.status) {
                ("signup", 201 | 503) | (_, 200 | 503) => {}
                // The signup did not get through: the login may find no customer.
                (_, 401) if !signed_up => {}
                (_, status) => panic!("{what} of {phone}: {status} {:?}", reply.body),
            }
            outcomes.push(Outcome {
                phone: phone.clone(),
                what,
                sent,
                answered: Instant::now(),
                status: reply.status,
                token: ok.then(|| reply.token()),
                session_id: ok.then(|| reply.session_id()),
                customer_id: ok.then(|| {
                    reply.body["customer"]["customer_id"]
                        .as_str()
                        .expect("customer_id")
                        .to_string()
                }),
            });
        }
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_dynamodb_mid_run_loses_no_acknowledged_login_and_leaves_none_half_written() {
    let mut ddb = DynamoDbLocal::persistent();
    let admin = tables_at(&ddb.endpoint()).await;
    let app = Arc::new(app_at(&ddb.endpoint()).await);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| tokio::spawn(login_stream(app.clone(), stop.clone())))
        .collect();

    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::block_in_place(|| ddb.kill());
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tokio::task::block_in_place(|| ddb.restart());
    let restarted_at = Instant::now();
    let outage = restarted_at - killed_at;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);

    let mut outcomes = Vec::new();
    for client in clients {
        outcomes.extend(client.await.expect("a client of the run panicked"));
    }
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for outcome in &outcomes {
        *by_status.entry(outcome.status).or_default() += 1;
    }
    eprintln!("outage {outage:?}; answers by status: {by_status:?}");
    assert!(
        by_status.get(&503).is_some_and(|n| *n > 0),
        "no request saw the outage: {by_status:?}"
    );

    // After the restart every acknowledged login is there, whole. Except in one window:
    // DynamoDB Local (unlike DynamoDB) answers a TransactWriteItems before its data is on
    // disk, and a SIGKILL loses the last one or two acknowledged a few tens of milliseconds
    // earlier (whole: none of their items survive). A login answered in the second before
    // the kill (or during the outage) may therefore be missing; it must not be half there,
    // which the scan at the end checks, and it is at most one phone per client.
    const EMULATOR_WINDOW: Duration = Duration::from_secs(1);
    let in_window = |o: &Outcome| o.answered + EMULATOR_WINDOW > killed_at && o.sent < restarted_at;
    let mut excused: BTreeMap<String, String> = BTreeMap::new();
    let config = &app.state.config;
    let since_kill = |t: Instant| {
        let secs = |d: Duration| d.as_secs_f64();
        if t >= killed_at {
            secs(t - killed_at)
        } else {
            -secs(killed_at - t)
        }
    };
    let mut problems = Vec::new();
    let mut acknowledged = 0;
    for outcome in outcomes.iter().filter(|o| o.token.is_some()) {
        acknowledged += 1;
        let (token, sid, id) = (
            outcome.token.as_deref().expect("token"),
            outcome.session_id.as_deref().expect("session id"),
            outcome.customer_id.as_deref().expect("customer id"),
        );
        let restored = app.restore(token).await;
        let customer = admin
            .get_item()
            .table_name(&config.tables.customers)
            .key("pk", AttributeValue::S(format!("customer#{id}")))
            .consistent_read(true)
            .send()
            .await
            .expect("read a customer claim")
            .item;
        let whole = restored.status == 200
            && restored.body["session"]["session_id"] == sid
            && customer.as_ref().and_then(|c| text(c, "phone_number")) == Some(&outcome.phone);
        if !whole {
            let item = |pk: String| {
                admin
                    .get_item()
                    .table_name(&config.tables.sessions)
                    .key("pk", AttributeValue::S(pk))
                    .consistent_read(true)
                    .send()
            };
            let session = item(sid.to_string()).await.map(|o| o.item);
            let lock = item(format!("phone#{}", outcome.phone))
                .await
                .map(|o| o.item);
            let history: Vec<String> = outcomes
                .iter()
                .filter(|o| o.phone == outcome.phone)
                .map(|o| {
                    format!(
                        "{} sent {:+.2}s answered {:+.2}s: {} {:?}",
                        o.what,
                        since_kill(o.sent),
                        since_kill(o.answered),
                        o.status,
                        o.session_id
                    )
                })
                .collect();
            let report = format!(
                "{} of {} ({}) is not whole after the restart: restore {} {:?}; claim {customer:?}; \
                 session {session:?}; lock {lock:?}; history (seconds from the kill, restart \
                 {:.2}s): {history:#?}",
                outcome.what,
                outcome.phone,
                outcome.status,
                restored.status,
                restored.body["detail"],
                outage.as_secs_f64(),
            );
            if in_window(outcome) && restored.status == 401 && session.is_ok_and(|s| s.is_none()) {
                excused.insert(outcome.phone.clone(), report);
            } else {
                problems.push(report);
            }
        }
    }
    assert!(
        problems.is_empty(),
        "acknowledged logins lost or half there:\n{}",
        problems.join("\n")
    );
    if !excused.is_empty() {
        eprintln!(
            "lost by DynamoDB Local at the kill (its window, see above):\n{}",
            excused.values().cloned().collect::<Vec<_>>().join("\n")
        );
    }
    assert!(
        excused.len() <= 4,
        "more logins lost at the kill than there were clients in flight: {excused:#?}"
    );
    assert!(acknowledged > 0, "no login succeeded: {by_status:?}");
    assert_no_half_logins(&admin, config).await;
}
