//! The endpoints the bench measures, and how each iteration's request is prepared. The
//! preparation (a fresh phone, a token to log out, a QR code to verify) runs through the
//! real handlers too, but before the clock starts and before the probe is read.

use std::collections::BTreeMap;

use omnisession::AppState;
use omnisession::config::SecretSource;
use omnisession::model::limits;
use omnisession::secrets::{SecretString, hub_signature, timed_payload};
use omnisession::sessions;
use omnisession_testkit::probe::Probe;
use omnisession_testkit::{Function, Reply, unique_phone, wamid};
use serde_json::{Value, json};

use crate::Result;
use crate::events::{Event, Events};

/// What a measured request does; each has its own preparation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    StartNewPhone,
    StartJoin,
    SignedLoginNewPhone,
    SignedLoginJoin,
    Restore,
    /// The sample update: one message and the cart.
    Update,
    /// One message, nothing else.
    UpdateMessage,
    /// The cart, nothing else.
    UpdateCart,
    EndLocal,
    EndGlobal,
    Signup,
    PasswordLoginJoin,
    PasswordLoginNewSession,
    Logout,
    LogoutAll,
    QrInit,
    QrVerify,
    Context,
    SummaryGet,
    RecommendationsGet,
    CartGet,
    SummaryPost,
    RecommendationsPost,
    MessagesPost,
    WebhookDelivery,
    WebhookRedelivery,
    WebhookStatus,
    WebhookHandshake,
    /// A code sent (to a new phone each time; its delivery goes wherever the courier's
    /// settings point).
    CodeSend,
}

#[derive(Clone, Debug)]
pub struct Endpoint {
    /// The function whose route table has [`Self::route`].
    pub function: Function,
    /// `METHOD /path`, as the function's route table writes it.
    pub route: &'static str,
    /// Which case of the route (e.g. joining a live session or starting one).
    pub case: &'static str,
    pub kind: Kind,
    /// bcrypt cost of the passwords involved: 4 to measure everything but bcrypt, the
    /// production default 12 where the whole login is the point.
    pub bcrypt_cost: u32,
    /// Whether the request runs bcrypt (then its overhead is also shown without it).
    pub runs_bcrypt: bool,
    /// The request goes to a full session (docs/design.md §6: "whatever the length of the
    /// history and the number of logins"): [`FULL_MESSAGES`] messages and
    /// [`FULL_LOGINS`] logins, every direct maker at its quota in `omnisession::logins`,
    /// so a join also pushes the least recently used login of its maker out. Otherwise
    /// endpoints that add logins get a fresh session every [`RENEW_EVERY`] requests, so
    /// that they measure the usual case.
    pub full: bool,
}

/// Requests per fixture for endpoints that add logins to a session: well below the
/// quotas of `omnisession::logins` even when a request adds two (QR verify: a login and
/// the kiosk's).
pub const RENEW_EVERY: usize = 2;

/// Messages in a full session's history before it is measured.
pub const FULL_MESSAGES: usize = 1000;
/// Logins of a full session, as tests/api/budgets.rs builds them: 10 password logins, 2
/// WhatsApp logins, 4 kiosk logins (each direct maker's quota) and 16 minted ones.
pub const FULL_LOGINS: usize = PASSWORD_LOGINS + WHATSAPP_LOGINS + KIOSK_LOGINS + MINTED_LOGINS;
const PASSWORD_LOGINS: usize = 10;
const WHATSAPP_LOGINS: usize = 2;
const KIOSK_LOGINS: usize = 4;
const MINTED_LOGINS: usize = 16;
/// Logins minted under one root at most (`omnisession::logins`).
const MINTED_PER_ROOT: usize = 3;

/// Messages in a fresh fixture's history when the sales memory reads it.
pub const FRESH_MESSAGES: usize = 10;

impl Endpoint {
    /// Whether each request adds a login to the fixture's session.
    pub fn adds_logins(&self) -> bool {
        matches!(
            self.kind,
            Kind::StartJoin | Kind::SignedLoginJoin | Kind::PasswordLoginJoin | Kind::QrVerify
        )
    }

    /// Whether the request, or its preparation, adds a password login: its full session's
    /// minted logins then hang under its WhatsApp and kiosk logins, so that pushing out a
    /// password login never takes minted ones with it and the session stays at
    /// [`FULL_LOGINS`]. Otherwise they hang under password logins (as in
    /// tests/api/budgets.rs), so that a WhatsApp or kiosk join keeps them.
    fn adds_password_logins(&self) -> bool {
        matches!(
            self.kind,
            Kind::PasswordLoginJoin | Kind::Logout | Kind::LogoutAll | Kind::QrVerify
        )
    }
}

impl Endpoint {
    pub fn label(&self) -> String {
        if self.case.is_empty() {
            format!("`{}`", self.route)
        } else {
            format!("`{}` {}", self.route, self.case)
        }
    }
}

/// The function whose route table has `route` (`METHOD /path`).
fn function_of(route: &str) -> Function {
    let (method, path) = route.split_once(' ').expect("METHOD /path");
    Function::all_routes()
        .find(|(_, r)| r.method == method && r.path == path)
        .map(|(function, _)| function)
        .unwrap_or_else(|| panic!("no function's route table has {route}"))
}

/// The measured endpoints, in report order.
// One endpoint per line reads as a table; rustfmt would spread each over eight lines.
#[rustfmt::skip]
pub fn all() -> Vec<Endpoint> {
    use Kind::*;
    let e = |route, case, kind, bcrypt_cost, runs_bcrypt| Endpoint {
        function: function_of(route), route, case, kind, bcrypt_cost, runs_bcrypt, full: false,
    };
    let full = |endpoint: Endpoint| Endpoint { full: true, ..endpoint };
    vec![
        e("POST /session/start", "(kiosk, new phone)", StartNewPhone, 4, false),
        e("POST /session/start", "(kiosk, joins live session)", StartJoin, 4, false),
        full(e("POST /session/start", "(kiosk, joins a full session)", StartJoin, 4, false)),
        e("POST /session/login", "(signed, new phone)", SignedLoginNewPhone, 4, false),
        e("POST /session/login", "(signed, joins)", SignedLoginJoin, 4, false),
        full(e("POST /session/login", "(signed, joins a full session)", SignedLoginJoin, 4, false)),
        e("GET /session/restore", "(no slide due)", Restore, 4, false),
        full(e("GET /session/restore", "(no slide due, full session)", Restore, 4, false)),
        e("POST /session/update", "(1 message and the cart)", Update, 4, false),
        full(e("POST /session/update", "(1 message, full session)", UpdateMessage, 4, false)),
        full(e("POST /session/update", "(cart, full session)", UpdateCart, 4, false)),
        e("POST /session/end", "(local)", EndLocal, 4, false),
        full(e("POST /session/end", "(local, full session)", EndLocal, 4, false)),
        e("POST /session/end", "(global)", EndGlobal, 4, false),
        e("POST /auth/signup", "(bcrypt 4)", Signup, 4, true),
        e("POST /auth/signup", "(bcrypt 12)", Signup, 12, true),
        e("POST /auth/login", "(joins, bcrypt 4)", PasswordLoginJoin, 4, true),
        full(e("POST /auth/login", "(joins a full session, bcrypt 4)", PasswordLoginJoin, 4, true)),
        e("POST /auth/login", "(new session, bcrypt 4)", PasswordLoginNewSession, 4, true),
        e("POST /auth/login", "(joins, bcrypt 12)", PasswordLoginJoin, 12, true),
        e("POST /auth/logout", "", Logout, 4, false),
        full(e("POST /auth/logout", "(full session)", Logout, 4, false)),
        e("POST /auth/logout-all", "", LogoutAll, 4, false),
        e("POST /auth/qr-init", "", QrInit, 4, false),
        e("POST /auth/qr-verify", "", QrVerify, 4, false),
        e("GET /session/{sid}/context", "(limit 20)", Context, 4, false),
        full(e("GET /session/{sid}/context", "(limit 20, full session)", Context, 4, false)),
        e("GET /session/{sid}/summary", "", SummaryGet, 4, false),
        e("GET /session/{sid}/recommendations", "", RecommendationsGet, 4, false),
        e("GET /session/{sid}/cart", "", CartGet, 4, false),
        e("POST /session/{sid}/summary", "", SummaryPost, 4, false),
        full(e("POST /session/{sid}/summary", "(full session)", SummaryPost, 4, false)),
        e("POST /session/{sid}/recommendations", "", RecommendationsPost, 4, false),
        full(e("POST /session/{sid}/recommendations", "(full session)", RecommendationsPost, 4, false)),
        e("POST /session/{sid}/messages", "", MessagesPost, 4, false),
        full(e("POST /session/{sid}/messages", "(full session)", MessagesPost, 4, false)),
        e("POST /webhooks/whatsapp", "(1 text message)", WebhookDelivery, 4, false),
        full(e("POST /webhooks/whatsapp", "(1 text message, full session)", WebhookDelivery, 4, false)),
        e("POST /webhooks/whatsapp", "(redelivery, deduped)", WebhookRedelivery, 4, false),
        e("POST /webhooks/whatsapp", "(status callback)", WebhookStatus, 4, false),
        e("GET /webhooks/whatsapp", "(handshake)", WebhookHandshake, 4, false),
        e("POST /auth/code/send", "(new phone)", CodeSend, 4, false),
    ]
}

pub const PASSWORD: &str = "bench horse staple 7";

/// A customer with a live web session, made for one endpoint's measurements.
#[derive(Clone, Debug)]
pub struct Fixture {
    pub phone: String,
    pub token: String,
    pub session_id: String,
}

/// The handlers' state per bcrypt cost (a stored hash keeps the cost it was made with),
/// all on the one probed client, plus what requests are signed and keyed with.
pub struct Harness {
    pub states: BTreeMap<u32, AppState>,
    pub probe: Probe,
    pub events: Events,
    kiosk_key: String,
    app_secret: SecretString,
    sequence: std::sync::atomic::AtomicU64,
}

impl Harness {
    /// `kiosk_key`: the registered kiosk's key the kiosk requests carry.
    pub fn new(
        states: BTreeMap<u32, AppState>,
        probe: Probe,
        events: Events,
        kiosk_key: String,
    ) -> Result<Self> {
        let any = states.values().next().ok_or("no state")?;
        let SecretSource::Environment(secrets) = &any.config.secrets else {
            return Err("the bench reads its secrets from config/dev.env".into());
        };
        let app_secret = secrets
            .whatsapp_app_secrets
            .current()
            .ok_or("WHATSAPP_APP_SECRET is empty")?
            .clone();
        Ok(Self {
            states,
            probe,
            events,
            kiosk_key,
            app_secret,
            sequence: Default::default(),
        })
    }

    pub fn state(&self, cost: u32) -> &AppState {
        &self.states[&cost]
    }

    fn event(&self, name: &str) -> Event {
        let n = self
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.events.get(name).request_id(&format!("bench-{n}"))
    }

    /// An untimed call to the function serving `event`'s route, for preparation; anything
    /// but 2xx stops the bench.
    async fn call(&self, cost: u32, event: Event) -> Result<Reply> {
        let req = event.request()?;
        let function = Function::serving(req.method().as_str(), req.uri().path())
            .ok_or_else(|| format!("no function serves {}", req.uri().path()))?;
        let reply = Reply::from_response(function.handle(self.state(cost), req).await);
        if !(200..300).contains(&reply.status) {
            return Err(format!("preparation call failed: {} {}", reply.status, reply.body).into());
        }
        Ok(reply)
    }

    fn signup_event(&self, phone: &str) -> Event {
        let mut body = self.events.get("auth-signup").sample_body();
        body["phone_number"] = json!(phone);
        body["password"] = json!(PASSWORD);
        self.event("auth-signup").body(&body.to_string())
    }

    fn login_event(&self, phone: &str, channel: &str) -> Event {
        let body = json!({"phone_number": phone, "password": PASSWORD, "channel": channel});
        self.event("auth-login").body(&body.to_string())
    }

    fn signed_login_event(&self, phone: &str) -> Event {
        let body = json!({"phone_number": phone, "name": "Bench Customer", "channel": "whatsapp"})
            .to_string();
        let signed_at = chrono::Utc::now().timestamp().to_string();
        let signature = hub_signature(
            &self.app_secret,
            &timed_payload(&signed_at, body.as_bytes()),
        );
        self.event("session-login")
            .body(&body)
            .header("x-omnisession-timestamp", &signed_at)
            .header("x-hub-signature-256", &signature)
    }

    fn kiosk_start_event(&self, phone: &str) -> Event {
        let body = json!({"phone": phone, "channel": "kiosk"}).to_string();
        self.event("session-start")
            .body(&body)
            .header("x-kiosk-key", &self.kiosk_key)
    }

    fn end_event(&self, token: &str, scope: &str) -> Event {
        self.event("session-end")
            .token(token)
            .body(&json!({ "scope": scope }).to_string())
    }

    fn webhook_event(&self, phone: &str, message_id: &str) -> Event {
        let mut body = self.events.get("webhooks-whatsapp-post").sample_body();
        let digits = phone.trim_start_matches('+');
        let value = &mut body["entry"][0]["changes"][0]["value"];
        value["contacts"][0]["wa_id"] = json!(digits);
        value["messages"][0]["from"] = json!(digits);
        value["messages"][0]["id"] = json!(message_id);
        self.signed("webhooks-whatsapp-post", &body.to_string())
    }

    fn signed(&self, name: &str, body: &str) -> Event {
        let signature = hub_signature(&self.app_secret, body.as_bytes());
        self.event(name)
            .body(body)
            .header("x-hub-signature-256", &signature)
    }

    fn memory_event(&self, name: &str, sid: &str) -> Event {
        self.event(name).session_id(sid)
    }

    /// A login minted from `token` (`/session/start` with a token and no kiosk key).
    fn mint_event(&self, phone: &str, token: &str) -> Event {
        let body = json!({"phone": phone, "channel": "kiosk"}).to_string();
        self.event("session-start")
            .without_header("x-kiosk-key")
            .body(&body)
            .token(token)
    }

    fn update_event(&self, token: &str, body: &Value) -> Event {
        self.event("session-update")
            .token(token)
            .body(&body.to_string())
    }

    /// A fresh customer signed up on the web at `cost`, with some chat history so that
    /// the memory reads return real data; for a [`Endpoint::full`] endpoint, a full
    /// session.
    pub async fn fixture(&self, endpoint: &Endpoint) -> Result<Fixture> {
        let cost = endpoint.bcrypt_cost;
        let phone = unique_phone();
        let signup = self.call(cost, self.signup_event(&phone)).await?;
        let fixture = Fixture {
            phone,
            token: signup.text("/session_token")?,
            session_id: signup.text("/session/session_id")?,
        };
        // A signup is unproven, and a WhatsApp login would take it over (its password and
        // session go): proven from its own session first, as a code sent with its token
        // proves it.
        let state = self.state(cost);
        let mut signed_up = sessions::authenticate(state, Some(&fixture.token))
            .await
            .map_err(|e| format!("the fixture's token: {e}"))?;
        sessions::step_up(state, &mut signed_up)
            .await
            .map_err(|e| format!("proving the fixture's phone: {e}"))?;
        if endpoint.full {
            self.fill(endpoint, &fixture).await?;
        } else if endpoint.function == Function::SalesMemory {
            let update = self.events.get("session-update").sample_body();
            for _ in 0..FRESH_MESSAGES {
                self.call(cost, self.update_event(&fixture.token, &update))
                    .await?;
            }
        }
        self.probe.take();
        Ok(fixture)
    }

    /// Makes the fixture's session full, as tests/api/budgets.rs does: [`FULL_LOGINS`]
    /// logins, then [`FULL_MESSAGES`] messages, a cart, a summary and SKUs.
    async fn fill(&self, endpoint: &Endpoint, fx: &Fixture) -> Result<()> {
        let cost = endpoint.bcrypt_cost;
        let mut password = vec![fx.token.clone()];
        for _ in 1..PASSWORD_LOGINS {
            let login = self.call(cost, self.login_event(&fx.phone, "web")).await?;
            password.push(login.text("/session_token")?);
        }
        let mut phone_level = Vec::new();
        for _ in 0..WHATSAPP_LOGINS {
            let login = self.call(cost, self.signed_login_event(&fx.phone)).await?;
            phone_level.push(login.text("/session_token")?);
        }
        for _ in 0..KIOSK_LOGINS {
            let start = self.call(cost, self.kiosk_start_event(&fx.phone)).await?;
            phone_level.push(start.text("/session_token")?);
        }
        // The minters: the newest logins of a group the endpoint never pushes out.
        let roots: Vec<&String> = if endpoint.adds_password_logins() {
            phone_level.iter().collect()
        } else {
            password.iter().rev().collect()
        };
        for i in 0..MINTED_LOGINS {
            let root = roots
                .get(i / MINTED_PER_ROOT)
                .ok_or("not enough roots to mint under")?;
            self.call(cost, self.mint_event(&fx.phone, root)).await?;
        }
        let chat: Vec<Value> = (0..limits::MESSAGES_PER_UPDATE)
            .map(|i| json!({"role": "user", "content": format!("Message {i} of a long chat about shoes")}))
            .collect();
        for _ in 0..FULL_MESSAGES / limits::MESSAGES_PER_UPDATE {
            let body = json!({ "messages": chat });
            self.call(cost, self.update_event(&fx.token, &body)).await?;
        }
        let cart = json!({"cart": [{"sku": "SHOE-RUN-09", "quantity": 1, "price": 4999.0}]});
        self.call(cost, self.update_event(&fx.token, &cart)).await?;
        for name in [
            "session-sid-summary-post",
            "session-sid-recommendations-post",
        ] {
            self.call(cost, self.memory_event(name, &fx.session_id))
                .await?;
        }
        Ok(())
    }

    /// The request of one iteration, after whatever preparation it needs.
    pub async fn request(&self, endpoint: &Endpoint, fx: &Fixture) -> Result<Event> {
        use Kind::*;
        let cost = endpoint.bcrypt_cost;
        let event = match endpoint.kind {
            StartNewPhone => self.kiosk_start_event(&unique_phone()),
            StartJoin => self.kiosk_start_event(&fx.phone),
            SignedLoginNewPhone => self.signed_login_event(&unique_phone()),
            SignedLoginJoin => self.signed_login_event(&fx.phone),
            Restore => self.event("session-restore").token(&fx.token),
            Update => {
                let body = self.events.get("session-update").sample_body();
                self.update_event(&fx.token, &body)
            }
            UpdateMessage => {
                let body =
                    json!({"messages": [{"role": "user", "content": "Do you have them in blue?"}]});
                self.update_event(&fx.token, &body)
            }
            UpdateCart => {
                let body =
                    json!({"cart": [{"sku": "SHOE-RUN-09", "quantity": 2, "price": 4999.0}]});
                self.update_event(&fx.token, &body)
            }
            EndLocal => {
                let login = self.call(cost, self.signed_login_event(&fx.phone)).await?;
                self.end_event(&login.text("/session_token")?, "local")
            }
            EndGlobal => {
                // A global end needs a password login: a fresh customer's.
                let signup = self.call(cost, self.signup_event(&unique_phone())).await?;
                self.end_event(&signup.text("/session_token")?, "global")
            }
            Signup => self.signup_event(&unique_phone()),
            PasswordLoginJoin => self.login_event(&fx.phone, "kiosk"),
            PasswordLoginNewSession => {
                // End the phone's session so that the measured login starts one.
                let login = self.call(cost, self.login_event(&fx.phone, "web")).await?;
                self.call(
                    cost,
                    self.end_event(&login.text("/session_token")?, "global"),
                )
                .await?;
                self.login_event(&fx.phone, "web")
            }
            Logout | LogoutAll | QrVerify => {
                let login = self.call(cost, self.login_event(&fx.phone, "web")).await?;
                let token = login.text("/session_token")?;
                match endpoint.kind {
                    Logout => self.event("auth-logout").token(&token),
                    LogoutAll => self.event("auth-logout-all").token(&token),
                    _ => {
                        let init = self
                            .call(cost, self.event("auth-qr-init").token(&token))
                            .await?;
                        let code = init
                            .body
                            .get("qr_token")
                            .and_then(Value::as_str)
                            .ok_or("qr-init gave no qr_token")?;
                        let body = json!({"qr_token": code, "channel": "kiosk"}).to_string();
                        self.event("auth-qr-verify")
                            .body(&body)
                            .header("x-kiosk-key", &self.kiosk_key)
                    }
                }
            }
            QrInit => self.event("auth-qr-init").token(&fx.token),
            Context => self.memory_event("session-sid-context", &fx.session_id),
            SummaryGet => self.memory_event("session-sid-summary-get", &fx.session_id),
            RecommendationsGet => {
                self.memory_event("session-sid-recommendations-get", &fx.session_id)
            }
            CartGet => self.memory_event("session-sid-cart", &fx.session_id),
            SummaryPost => self.memory_event("session-sid-summary-post", &fx.session_id),
            RecommendationsPost => {
                self.memory_event("session-sid-recommendations-post", &fx.session_id)
            }
            MessagesPost => self.memory_event("session-sid-messages", &fx.session_id),
            WebhookDelivery => self.webhook_event(&fx.phone, &wamid()),
            WebhookRedelivery => {
                let event = self.webhook_event(&fx.phone, &wamid());
                self.call(cost, event.clone()).await?;
                event
            }
            WebhookStatus => {
                let body = self.events.get("webhooks-whatsapp-status").sample_body();
                self.signed("webhooks-whatsapp-status", &body.to_string())
            }
            WebhookHandshake => self.event("webhooks-whatsapp-get"),
            CodeSend => {
                let body = json!({"phone_number": unique_phone(), "purpose": "login"}).to_string();
                // Each from an address of its own: an address may send 20 codes an hour.
                let n = self
                    .sequence
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
                self.event("auth-code-send").body(&body).source_ip(&ip)
            }
        };
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_measured_endpoint_is_a_route_of_a_function_table() {
        // `all` names each endpoint's function from the route tables, or panics.
        assert!(!super::all().is_empty());
    }
}
