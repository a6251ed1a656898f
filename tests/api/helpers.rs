//! The test harness: each test gets an [`App`] wired to DynamoDB Local (started by
//! `make test`), sends the real API Gateway events of `events/` through the handlers,
//! and isolates itself with fresh random phone numbers.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request};
use omnisession::AppState;
use omnisession::config::{Config, SecretSource};
use omnisession::kiosks::{CacheAges, Kiosks};
use omnisession::secrets::{SecretString, hub_signature, sign_login};
use omnisession::store::schema;
use omnisession::vault::{Manager, Vault, VaultError};
use omnisession_admin::tables;
pub use omnisession_testkit::probe::Probe;
pub use omnisession_testkit::setup::repo_root;
use omnisession_testkit::standin::{local_sdk_config, standin};
pub use omnisession_testkit::{Reply, unique_phone, wamid};
use omnisession_testkit::{server, setup};
use serde_json::{Value, json};

use crate::iam::{Iam, secret_arn};

pub const DEMO_PHONE: &str = "+919876543210";
pub const DEMO_PASSWORD: &str = "test123";

/// config/dev.env with the test overrides `scripts/test.sh` applies: its own DynamoDB
/// Local port, its own delivery stand-in (:8103), `-test-` tables, bcrypt cost 4. Process
/// variables win (test.sh exports them, with the ports it was given).
pub fn test_env() -> BTreeMap<String, String> {
    let mut env = setup::dev_env("test").expect("config/dev.env");
    env.insert("DYNAMODB_ENDPOINT".into(), "http://127.0.0.1:8101".into());
    env.insert(
        "GRAPH_API_BASE".into(),
        "http://127.0.0.1:8103/v21.0".into(),
    );
    env.insert("SNS_ENDPOINT".into(), "http://127.0.0.1:8103".into());
    env.insert("BCRYPT_COST".into(), "4".into());
    for key in env.clone().keys() {
        if let Ok(v) = std::env::var(key) {
            env.insert(key.clone(), v);
        }
    }
    env
}

/// A kiosk of this test process alone (id, store, label), registered by every [`App`],
/// for tests that lock a kiosk out.
pub fn spare_kiosk() -> (&'static str, &'static str, &'static str) {
    (spare_kiosk_id(), "test-store", "A test process's kiosk")
}

fn spare_kiosk_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| format!("test-{}", hex::encode(rand::random::<[u8; 8]>())))
}

pub fn spare_kiosk_key() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| format!("test-kiosk-{}", hex::encode(rand::random::<[u8; 16]>())))
}

/// config/dev.env's development kiosk key, which seed.sh (and every [`App`], for tables
/// of its own) registers as the kiosk `dev-kiosk` of the store `dev-store`.
pub fn dev_kiosk_key() -> String {
    test_env()["DEV_KIOSK_KEY"].clone()
}

/// What the built `omnisession-admin` said.
pub struct AdminRun {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the built `omnisession-admin` as an operator does, against the test tables (the
/// test environment and nothing else, `extra` on top).
pub fn run_admin(args: &[&str], extra: &[(&str, &str)]) -> AdminRun {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"));
    let admin = target.join("debug").join("omnisession-admin");
    assert!(
        admin.exists(),
        "{} not built: `make test` builds it first",
        admin.display()
    );
    let output = std::process::Command::new(&admin)
        .args(args)
        .env_clear()
        .envs(test_env())
        .envs(extra.iter().copied())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", admin.display()));
    AdminRun {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).to_string(),
    }
}

pub fn test_config() -> Config {
    let env = test_env();
    Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration")
}

/// The test configuration with codes sent to this test process's own stand-in
/// ([`standin`]) and `settings` laid over it.
pub fn standin_config(settings: &[(&str, &str)]) -> Config {
    let mut env = test_env();
    env.extend(standin().env());
    for (name, value) in settings {
        env.insert(name.to_string(), value.to_string());
    }
    Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration")
}

pub fn client(config: &Config) -> Client {
    client_checked(config, None, Iam::for_tables(&config.tables))
}

/// A client whose calls `probe` records, if given, and whose calls made by a function's
/// handler template.yaml's policies check (see `iam`).
pub fn client_checked(config: &Config, probe: Option<Probe>, iam: Iam) -> Client {
    let endpoint = config.dynamodb_endpoint.clone().expect("DYNAMODB_ENDPOINT");
    let mut sdk = aws_sdk_dynamodb::Config::builder();
    if let Some(probe) = probe {
        sdk = sdk.interceptor(probe);
    }
    // As `Store::connect` has it, so that the functions' requests count their throttles.
    let sdk = sdk
        .interceptor(omnisession::metrics::DynamoDbCalls)
        .interceptor(iam)
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("ap-south-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "tests"))
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(sdk)
}

/// The name template.yaml's `KeysSecret` has in the IAM test ([`secret_arn`]).
pub const KEYS_SECRET: &str = "omnisession-test-KeysSecret";

/// The secrets `config` names (`SECRETS`), read from this process's stand-in by the real
/// client, whose calls made by a function `iam` checks.
pub async fn vault_checked(config: &Config, iam: Iam) -> Result<Vault, VaultError> {
    let SecretSource::Manager { ids, refresh, .. } = &config.secrets else {
        panic!("SECRETS is not set");
    };
    let sdk = local_sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&sdk)
            .endpoint_url(standin().base.clone())
            .interceptor(iam)
            .build(),
    );
    let rules = SecretSource::rules(config.local_dev, config.courier.is_some());
    Vault::from_manager(Manager::new(client, ids.clone()), ids, rules, *refresh).await
}

pub fn table_names(config: &Config) -> BTreeMap<String, String> {
    tables::configured_names(&config.tables)
}

/// Creates `config`'s tables as template.yaml declares them, unless they exist.
pub async fn create_tables(client: &Client, config: &Config) {
    setup::create_tables(client, config)
        .await
        .expect("tables (is DynamoDB Local running? use `make test`)");
}

/// A DynamoDB item as the SDK returns it.
pub type Item = HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

pub struct App {
    pub state: std::sync::Arc<AppState>,
}

/// A Meta webhook delivery of text messages: (sender phone digits, message id, text).
pub fn delivery(messages: &[(&str, &str, &str)], name: &str) -> Value {
    let contacts: Vec<Value> = messages
        .iter()
        .map(|(from, _, _)| json!({"profile": {"name": name}, "wa_id": from}))
        .collect();
    let messages: Vec<Value> = messages
        .iter()
        .map(|(from, id, text)| {
            json!({"from": from, "id": id, "timestamp": "1795780800", "type": "text", "text": {"body": text}})
        })
        .collect();
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "contacts": contacts, "messages": messages}}]}]})
}

/// A request read from `events/<name>.json`, exactly as API Gateway would send it.
pub fn event(name: &str) -> Request {
    let path = repo_root().join("events").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn with_body(mut req: Request, body: &Value) -> Request {
    *req.body_mut() = Body::Text(body.to_string());
    req
}

pub fn with_raw_body(mut req: Request, body: &str) -> Request {
    *req.body_mut() = Body::Text(body.to_string());
    req
}

pub fn with_header(mut req: Request, name: &'static str, value: &str) -> Request {
    req.headers_mut()
        .insert(name, HeaderValue::from_str(value).unwrap());
    req
}

pub fn without_header(mut req: Request, name: &str) -> Request {
    req.headers_mut().remove(name);
    req
}

/// The same event for another path (a real session id in place of the placeholder).
pub fn with_path(mut req: Request, path: &str) -> Request {
    *req.uri_mut() = format!("https://localhost{path}").parse().unwrap();
    req
}

/// A sales-memory event (`events/session-sid-*.json`) for session `sid`.
pub fn memory_event(name: &str, sid: &str) -> Request {
    let req = event(name);
    let path = req.uri().path().replace("REPLACE_WITH_SESSION_ID", sid);
    with_path(req, &path)
}

/// The same request from another address (API Gateway's `requestContext.http.sourceIp`).
pub fn from_ip(req: Request, source_ip: &str) -> Request {
    use lambda_http::RequestExt;
    req.with_request_context(server::source_context(source_ip))
}

pub fn with_token(req: Request, token: &str) -> Request {
    with_header(req, "x-session-token", token)
}

impl App {
    pub async fn new() -> Self {
        let config = test_config();
        let iam = Iam::for_tables(&config.tables);
        Self::build(config, None, iam).await
    }

    /// An app whose DynamoDB calls `probe` records.
    pub async fn counting(probe: Probe) -> Self {
        let config = standin_config(&[]);
        let iam = Iam::for_tables(&config.tables);
        Self::build(config, Some(probe), iam).await
    }

    /// An app whose functions' calls `iam` checks and records (codes go to this test
    /// process's stand-in, as with [`App::with_standin`]).
    pub async fn checked_by(iam: Iam) -> Self {
        Self::build(standin_config(&[]), None, iam).await
    }

    /// [`App::checked_by`] with a kiosk registry that ages as `ages` says (the IAM tour
    /// reads it on every kiosk request, so that each function it drives reads it).
    pub async fn checked_by_with_ages(iam: Iam, ages: CacheAges) -> Self {
        Self::build_with(standin_config(&[]), None, iam, ages).await
    }

    /// An app for old front ends: `CUSTOMER_MEMORY_WRITES=all` lets customer tokens set
    /// the summary and recommended SKUs through `/session/update`.
    pub async fn old_front_ends() -> Self {
        let mut config = test_config();
        config.customer_memory_writes = true;
        Self::with_config(config).await
    }

    /// An app with tables of its own, for tests that would disturb others (a fuzzer
    /// that locks out the dev kiosk key, say).
    pub async fn isolated(tag: &str) -> Self {
        Self::isolated_with(tag, test_config()).await
    }

    /// [`App::isolated`] with `config` besides its tables.
    pub async fn isolated_with(tag: &str, mut config: Config) -> Self {
        let prefix = format!(
            "omnisession-{tag}-{}",
            hex::encode(rand::random::<[u8; 4]>())
        );
        config.tables.customers = format!("{prefix}-customers");
        config.tables.sessions = format!("{prefix}-sessions");
        config.tables.messages = format!("{prefix}-messages");
        config.tables.kiosks = format!("{prefix}-kiosks");
        let iam = Iam::for_tables(&config.tables);
        Self::build(config, None, iam).await
    }

    /// An app that reads its secrets from this test process's stand-in of Secrets
    /// Manager, as a deployed function does: `secret` is put there first under the ARN
    /// template.yaml's `KeysSecret` has in the IAM test, and re-read every second
    /// (`SECRETS_REFRESH_SECS=1`) with the secrets client checked by IAM like DynamoDB's.
    pub async fn with_secrets_manager(secret: &Value, settings: &[(&str, &str)]) -> Self {
        standin().put_secret(KEYS_SECRET, secret);
        let mut env = test_env();
        env.extend(standin().env());
        env.insert("SECRETS".into(), secret_arn("KeysSecret"));
        env.insert("SECRETS_REFRESH_SECS".into(), "1".into());
        for (name, value) in settings {
            env.insert(name.to_string(), value.to_string());
        }
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration");
        let iam = Iam::for_tables(&config.tables);
        let vault = vault_checked(&config, iam.clone())
            .await
            .expect("the secrets from the stand-in");
        let client = client_checked(&config, None, iam);
        create_tables(&client, &config).await;
        let state = setup::state_with_vault(config, client, vault);
        Self::serving(state, CacheAges::DEFAULT).await
    }

    /// An app with a configuration of the test's own (on the shared tables).
    pub async fn with_config(config: Config) -> Self {
        let iam = Iam::for_tables(&config.tables);
        Self::build(config, None, iam).await
    }

    /// An app whose codes go to this test process's own stand-in ([`standin`]), with
    /// `settings` laid over the test configuration.
    pub async fn with_standin(settings: &[(&str, &str)]) -> Self {
        Self::with_config(standin_config(settings)).await
    }

    /// An app whose kiosk registry goes stale after `ages` rather than the functions' minute,
    /// so that a test sees a revocation bite without waiting that long.
    pub async fn with_kiosk_ages(ages: CacheAges) -> Self {
        let config = test_config();
        let iam = Iam::for_tables(&config.tables);
        Self::build_with(config, None, iam, ages).await
    }

    async fn build(config: Config, probe: Option<Probe>, iam: Iam) -> Self {
        Self::build_with(config, probe, iam, CacheAges::DEFAULT).await
    }

    async fn build_with(config: Config, probe: Option<Probe>, iam: Iam, ages: CacheAges) -> Self {
        let client = client_checked(&config, probe, iam);
        create_tables(&client, &config).await;
        Self::serving(setup::state(config, client), ages).await
    }

    /// An app on `state`, whose kiosk registry ages as `ages` says, with the test kiosks
    /// registered in its tables.
    async fn serving(mut state: AppState, ages: CacheAges) -> Self {
        state.kiosks = Kiosks::new(ages);
        // The development kiosk (seed.sh registers it in the shared tables; an isolated
        // app's tables need it too) and this process's own.
        for (kiosk, key) in [
            (setup::DEV_KIOSK, dev_kiosk_key()),
            (spare_kiosk(), spare_kiosk_key().to_string()),
        ] {
            setup::register_kiosk(&state.store, kiosk, &key)
                .await
                .expect("register a test kiosk");
        }
        Self {
            state: std::sync::Arc::new(state),
        }
    }

    /// Serves this app's functions over HTTP (see `omnisession_testkit::server`); the
    /// base URL.
    pub async fn serve(&self) -> String {
        let addr = server::start(self.state.clone())
            .await
            .expect("a local port for the HTTP server");
        format!("http://{addr}")
    }

    pub fn db(&self) -> &Client {
        self.state.store.client()
    }

    /// An item of the sessions table (a session, a lock, a `seen#` or `lockout#` record),
    /// read consistently.
    pub async fn sessions_item(&self, pk: &str) -> Option<Item> {
        self.item(&self.state.config.tables.sessions, pk).await
    }

    /// An item of the customers table, read consistently.
    pub async fn customers_item(&self, pk: &str) -> Option<Item> {
        self.item(&self.state.config.tables.customers, pk).await
    }

    async fn item(&self, table: &str, pk: &str) -> Option<Item> {
        self.db()
            .get_item()
            .table_name(table)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("read an item of {table}: {e}"))
            .item
    }

    /// Backdates when the login of `token` was last used (its mark in the session), to
    /// simulate an idle login.
    pub async fn backdate_login_use(&self, session_id: &str, token: &str, at: &str) {
        use aws_sdk_dynamodb::types::AttributeValue;
        let token_id = token.split('.').nth(1).expect("a token id");
        let item = self.sessions_item(session_id).await.expect("the session");
        let mark = item["tokens"].as_m().expect("tokens")[token_id]
            .as_s()
            .expect("a login mark")
            .clone();
        let at = chrono::DateTime::parse_from_rfc3339(at).expect("an RFC 3339 time");
        let fields: Vec<&str> = mark.splitn(3, ' ').collect();
        let backdated = format!("{} {} {}", fields[0], at.timestamp_millis(), fields[2]);
        self.db()
            .update_item()
            .table_name(&self.state.config.tables.sessions)
            .key("pk", AttributeValue::S(session_id.into()))
            .update_expression("SET tokens.#t = :mark")
            .expression_attribute_names("#t", token_id)
            .expression_attribute_values(":mark", AttributeValue::S(backdated))
            .send()
            .await
            .expect("backdate a login");
    }

    /// Sends a request to the function that serves its path, as API Gateway would.
    pub async fn send(&self, req: Request) -> Reply {
        Reply::from_response(server::dispatch(&self.state, req).await)
    }

    pub async fn qr_init(&self, token: &str) -> Reply {
        self.send(with_token(event("auth-qr-init"), token)).await
    }

    pub async fn qr_verify(&self, qr_token: &str, kiosk_key: &str) -> Reply {
        let body = json!({"qr_token": qr_token, "channel": "kiosk"});
        let req = with_header(
            with_body(event("auth-qr-verify"), &body),
            "x-kiosk-key",
            kiosk_key,
        );
        self.send(req).await
    }

    /// This test's own kiosk key: tests that fail QR codes on purpose must not lock out
    /// a key that other tests (running at the same time) use.
    pub fn kiosk_key(&self) -> String {
        spare_kiosk_key().to_string()
    }

    /// The development kiosk key of config/dev.env, shared by every test.
    pub fn dev_kiosk_key(&self) -> String {
        dev_kiosk_key()
    }

    /// A sales-memory call as the agent (the sample event's service key).
    pub async fn agent(&self, name: &str, sid: &str, body: Option<Value>) -> Reply {
        let req = memory_event(name, sid);
        let req = match body {
            Some(body) => with_body(req, &body),
            None => req,
        };
        self.send(req).await
    }

    /// A webhook delivery signed with the app secret, as Meta sends it.
    pub async fn webhook(&self, body: &Value) -> Reply {
        let raw = body.to_string();
        let signature = hub_signature(self.app_secret(), raw.as_bytes());
        let req = with_raw_body(event("webhooks-whatsapp-post"), &raw);
        self.send(with_header(req, "x-hub-signature-256", &signature))
            .await
    }

    pub fn app_secret(&self) -> &SecretString {
        match &self.state.config.secrets {
            SecretSource::Environment(secrets) => secrets
                .whatsapp_app_secrets
                .current()
                .expect("config/dev.env's WHATSAPP_APP_SECRET"),
            SecretSource::Manager { .. } => panic!("this app's secrets are in Secrets Manager"),
        }
    }

    /// `POST /auth/code/send` for `phone`, from the web, from an address of its own (the
    /// sends per address are limited, and the tests share 127.0.0.1).
    pub async fn send_code(&self, phone: &str, purpose: &str) -> Reply {
        let body = json!({"phone_number": phone, "purpose": purpose});
        let address = format!("198.19.{}.{}", rand::random::<u8>(), rand::random::<u8>());
        self.send(from_ip(with_body(event("auth-code-send"), &body), &address))
            .await
    }

    /// `POST /auth/code/verify` on the web, with `extra` fields laid over the body.
    pub async fn verify_code(&self, phone: &str, code: &str, purpose: &str, extra: Value) -> Reply {
        let mut body =
            json!({"phone_number": phone, "code": code, "purpose": purpose, "channel": "web"});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        self.send(with_body(event("auth-code-verify"), &body)).await
    }

    /// The code last delivered to `phone` by the stand-in of [`App::with_standin`].
    pub fn last_code(&self, phone: &str) -> String {
        standin()
            .last_code(phone)
            .unwrap_or_else(|| panic!("no code was delivered to {phone}"))
    }

    pub async fn signup(&self, phone: &str, password: &str, channel: &str) -> Reply {
        let body = json!({"name": "Test Customer", "phone_number": phone, "password": password, "channel": channel, "city": "Pune"});
        self.send(with_body(event("auth-signup"), &body)).await
    }

    pub async fn login(&self, phone: &str, password: &str, channel: &str) -> Reply {
        let body = json!({"phone_number": phone, "password": password, "channel": channel});
        self.send(with_body(event("auth-login"), &body)).await
    }

    pub async fn kiosk_start(&self, phone: &str) -> Reply {
        let body = json!({"phone": phone, "channel": "kiosk"});
        self.send(with_body(event("session-start"), &body)).await
    }

    /// A phone-only login signed with the app secret, as the WhatsApp bot sends it.
    pub async fn whatsapp_login(&self, phone: &str, name: &str) -> Reply {
        let body = json!({"phone_number": phone, "name": name, "channel": "whatsapp"}).to_string();
        let req = with_raw_body(event("session-login"), &body);
        self.send(self.signed_now(req)).await
    }

    /// The bot's signed login of a WhatsApp user known only by their user id (BSUID).
    pub async fn whatsapp_login_user(&self, user_id: &str, name: &str) -> Reply {
        let body = json!({"user_id": user_id, "name": name, "channel": "whatsapp"}).to_string();
        let req = with_raw_body(event("session-login"), &body);
        self.send(self.signed_now(req)).await
    }

    /// `req` signed as our WhatsApp bot signs `/session/login`: a timestamp of now and the
    /// HMAC of `"<timestamp>.<body>"`.
    pub fn signed_now(&self, req: Request) -> Request {
        self.signed_at(req, chrono::Utc::now().timestamp())
    }

    /// `req` signed with the timestamp `signed_at` (epoch seconds).
    pub fn signed_at(&self, req: Request, signed_at: i64) -> Request {
        let (signed_at, signature) = sign_login(self.app_secret(), req.body().as_ref(), signed_at);
        let req = with_header(req, "x-omnisession-timestamp", &signed_at);
        with_header(req, "x-hub-signature-256", &signature)
    }

    pub async fn restore(&self, token: &str) -> Reply {
        self.send(with_token(event("session-restore"), token)).await
    }

    pub async fn update(&self, token: &str, body: Value) -> Reply {
        self.send(with_body(with_token(event("session-update"), token), &body))
            .await
    }

    pub async fn end(&self, token: &str, scope: &str) -> Reply {
        let req = with_body(
            with_token(event("session-end"), token),
            &json!({ "scope": scope }),
        );
        self.send(req).await
    }

    /// Signs up a fresh customer on the web and returns (phone, login reply).
    /// A customer who signed up on the web with `secret-pass` and has proven the phone
    /// (as a code or click-to-verify would, written directly: most tests are about what
    /// an established account does, not about the proof).
    pub async fn new_customer(&self) -> (String, Reply) {
        let phone = unique_phone();
        let reply = self.signup(&phone, "secret-pass", "web").await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        self.mark_proven(&phone, &reply.session_id()).await;
        (phone, reply)
    }

    /// The contents of a session's stored messages, oldest first (the whole history).
    pub async fn message_contents(&self, session_id: &str) -> Vec<String> {
        let items = self.state.store.message_items(session_id).await.unwrap();
        items
            .iter()
            .filter_map(|item| item.get("content")?.as_s().ok().cloned())
            .collect()
    }

    /// Fails if any of `secrets` is stored anywhere: every item of the three tables is
    /// scanned. A secret counts where it stands on its own (not inside a longer run of
    /// letters and digits), so that a 6-digit code is not "found" inside a timestamp.
    pub async fn assert_stored_nowhere(&self, secrets: &[String]) {
        let tables = &self.state.config.tables;
        for table in [&tables.customers, &tables.sessions, &tables.messages] {
            let mut start = None;
            loop {
                let page = self
                    .db()
                    .scan()
                    .table_name(table)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .unwrap();
                let dump = format!("{:?}", page.items());
                for secret in secrets {
                    assert!(!stands_in(&dump, secret), "a secret is stored in {table}");
                }
                start = page.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
    }

    /// Marks a signed-up account and its session proven, directly in the tables.
    pub async fn mark_proven(&self, phone: &str, session_id: &str) {
        let phone = omnisession::phone::PhoneNumber::from_stored(phone.to_string());
        self.state.store.mark_proven(&phone).await.unwrap();
        self.db()
            .update_item()
            .table_name(&self.state.config.tables.sessions)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(session_id.into()),
            )
            .update_expression("REMOVE unproven")
            .send()
            .await
            .unwrap();
    }

    /// Sets stored attributes of a session directly, to simulate the passage of time.
    pub async fn set_session_numbers(&self, session_id: &str, values: &[(&str, i64)]) {
        let mut update = self
            .db()
            .update_item()
            .table_name(&self.state.config.tables.sessions)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(session_id.into()),
            );
        let mut sets = Vec::new();
        for (i, (name, value)) in values.iter().enumerate() {
            sets.push(format!("#n{i} = :v{i}"));
            update = update
                .expression_attribute_names(format!("#n{i}"), *name)
                .expression_attribute_values(
                    format!(":v{i}"),
                    aws_sdk_dynamodb::types::AttributeValue::N(value.to_string()),
                );
        }
        update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
            .unwrap();
    }

    /// Live sessions of a phone as the phone GSI sees them.
    pub async fn live_sessions(&self, phone: &str) -> Vec<String> {
        let now = chrono::Utc::now().timestamp();
        let out = self
            .db()
            .query()
            .table_name(&self.state.config.tables.sessions)
            .index_name(schema::PHONE_INDEX)
            .key_condition_expression("phone = :p")
            .expression_attribute_values(
                ":p",
                aws_sdk_dynamodb::types::AttributeValue::S(phone.into()),
            )
            .send()
            .await
            .unwrap();
        out.items()
            .iter()
            .filter(|i| {
                i.get("expires_at")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|e| e > now)
            })
            .map(|i| i["pk"].as_s().unwrap().clone())
            .collect()
    }
}

/// An HTTP client of a served app ([`App::serve`]) calling from a loopback address of its
/// own: all of 127.0.0.0/8 is this machine, so one test can be several callers as API
/// Gateway's `sourceIp` tells them apart.
#[derive(Clone)]
pub struct Caller {
    base: String,
    client: reqwest::Client,
}

impl Caller {
    pub fn new(base: &str, source_ip: &str) -> Self {
        let client = reqwest::Client::builder()
            .local_address(
                source_ip
                    .parse::<std::net::IpAddr>()
                    .expect("an IP address"),
            )
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        Self {
            base: base.to_string(),
            client,
        }
    }

    /// One request: its status and JSON body (`Null` when there is none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let mut req = self.client.request(
            method.parse().expect("a method"),
            format!("{}{path}", self.base),
        );
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let resp = req.send().await.expect("a response");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json().await.unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let headers: Vec<(&str, &str)> =
            token.map(|t| ("x-session-token", t)).into_iter().collect();
        self.call("POST", path, &headers, Some(body)).await
    }

    pub async fn restore(&self, token: &str) -> Reply {
        self.call(
            "GET",
            "/session/restore",
            &[("x-session-token", token)],
            None,
        )
        .await
    }
}

/// Whether `needle` occurs in `text` with no letter or digit right before or after it.
pub fn stands_in(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}
