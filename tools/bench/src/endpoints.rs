//! The endpoints the bench measures, and how each iteration's request is prepared. The
//! preparation (a fresh phone, a token to log out, a QR code to verify) runs through the
//! real handlers too, but before the clock starts and before the probe is read.

use std::collections::BTreeMap;

use omnisession::AppState;
use omnisession::secrets::{SecretString, hub_signature, timed_payload};
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
    Update,
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
    /// The session is full of logins of the measured login's maker (its quota in
    /// `omnisession::logins`), so each join also pushes the least recently used one out: a
    /// separate round trip. Otherwise endpoints that add logins get a fresh
    /// session every [`RENEW_EVERY`] requests, so that they measure the usual case.
    pub at_token_cap: bool,
}

/// Requests per fixture for endpoints that add logins to a session: well below the
/// quotas of `omnisession::logins` even when a request adds two (QR verify: a login and
/// the kiosk's).
pub const RENEW_EVERY: usize = 2;

/// Logins a "full" fixture session is given before it is measured: more than any maker's
/// quota, so the session holds a full quota of them.
pub const FULL_SESSION_LOGINS: usize = 12;

impl Endpoint {
    /// Whether each request adds a login to the fixture's session.
    pub fn adds_logins(&self) -> bool {
        matches!(
            self.kind,
            Kind::StartJoin | Kind::SignedLoginJoin | Kind::PasswordLoginJoin | Kind::QrVerify
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
        function: function_of(route), route, case, kind, bcrypt_cost, runs_bcrypt, at_token_cap: false,
    };
    let capped = |endpoint: Endpoint| Endpoint { at_token_cap: true, ..endpoint };
    vec![
        e("POST /session/start", "(kiosk, new phone)", StartNewPhone, 4, false),
        e("POST /session/start", "(kiosk, joins live session)", StartJoin, 4, false),
        e("POST /session/login", "(signed, new phone)", SignedLoginNewPhone, 4, false),
        e("POST /session/login", "(signed, joins)", SignedLoginJoin, 4, false),
        capped(e("POST /session/login", "(signed, joins a session full of WhatsApp logins)", SignedLoginJoin, 4, false)),
        e("GET /session/restore", "(no slide due)", Restore, 4, false),
        e("POST /session/update", "(2 messages, cart, SKUs, summary)", Update, 4, false),
        e("POST /session/end", "(local)", EndLocal, 4, false),
        e("POST /session/end", "(global)", EndGlobal, 4, false),
        e("POST /auth/signup", "(bcrypt 4)", Signup, 4, true),
        e("POST /auth/signup", "(bcrypt 12)", Signup, 12, true),
        e("POST /auth/login", "(joins, bcrypt 4)", PasswordLoginJoin, 4, true),
        capped(e("POST /auth/login", "(joins a session full of password logins, bcrypt 4)", PasswordLoginJoin, 4, true)),
        e("POST /auth/login", "(new session, bcrypt 4)", PasswordLoginNewSession, 4, true),
        e("POST /auth/login", "(joins, bcrypt 12)", PasswordLoginJoin, 12, true),
        e("POST /auth/logout", "", Logout, 4, false),
        e("POST /auth/logout-all", "", LogoutAll, 4, false),
        e("POST /auth/qr-init", "", QrInit, 4, false),
        e("POST /auth/qr-verify", "", QrVerify, 4, false),
        e("GET /session/{sid}/context", "(limit 20)", Context, 4, false),
        e("GET /session/{sid}/summary", "", SummaryGet, 4, false),
        e("GET /session/{sid}/recommendations", "", RecommendationsGet, 4, false),
        e("GET /session/{sid}/cart", "", CartGet, 4, false),
        e("POST /session/{sid}/summary", "", SummaryPost, 4, false),
        e("POST /session/{sid}/recommendations", "", RecommendationsPost, 4, false),
        e("POST /session/{sid}/messages", "", MessagesPost, 4, false),
        e("POST /webhooks/whatsapp", "(1 text message)", WebhookDelivery, 4, false),
        e("POST /webhooks/whatsapp", "(redelivery, deduped)", WebhookRedelivery, 4, false),
        e("POST /webhooks/whatsapp", "(status callback)", WebhookStatus, 4, false),
        e("GET /webhooks/whatsapp", "(handshake)", WebhookHandshake, 4, false),
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
    pub fn new(states: BTreeMap<u32, AppState>, probe: Probe, events: Events) -> Result<Self> {
        let any = states.values().next().ok_or("no state")?;
        let kiosk_key = any
            .config
            .kiosk_keys
            .exposed()
            .first()
            .ok_or("KIOSK_KEYS is empty")?
            .to_string();
        let app_secret = any.config.whatsapp_app_secret.clone();
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

    /// A fresh customer signed up on the web at `cost`, with some chat history so that
    /// the memory reads return real data.
    pub async fn fixture(&self, endpoint: &Endpoint) -> Result<Fixture> {
        let cost = endpoint.bcrypt_cost;
        let phone = unique_phone();
        let signup = self.call(cost, self.signup_event(&phone)).await?;
        let fixture = Fixture {
            phone,
            token: signup.text("/session_token")?,
            session_id: signup.text("/session/session_id")?,
        };
        if endpoint.at_token_cap {
            for _ in 0..FULL_SESSION_LOGINS {
                if endpoint.kind == Kind::PasswordLoginJoin {
                    let event = self.login_event(&fixture.phone, "web");
                    self.call(cost, event).await?;
                } else {
                    let event = self.signed_login_event(&fixture.phone);
                    self.call(cost, event).await?;
                }
            }
        }
        if endpoint.function == Function::SalesMemory {
            let update = self.events.get("session-update").sample_body().to_string();
            for _ in 0..10 {
                let event = self
                    .event("session-update")
                    .token(&fixture.token)
                    .body(&update);
                self.call(cost, event).await?;
            }
        }
        self.probe.take();
        Ok(fixture)
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
                let body = self.events.get("session-update").sample_body().to_string();
                self.event("session-update").token(&fx.token).body(&body)
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
