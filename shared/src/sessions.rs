//! The omni-channel rules: every login of a phone joins its one live session (or starts
//! it), gets its own token, and slides the 7-day expiry; every request with a token is
//! checked with one strongly consistent read.

use chrono::{DateTime, Utc};

use crate::AppState;
use crate::channel::Channel;
use crate::config::KioskHistory;
use crate::entering::{self, Entry, Started};
use crate::events::{self, AccountEvent, EventKind};
use crate::kiosks::Kiosk;
use crate::logins::{self, LoginMark, Maker, NewLogin};
use crate::model::{ChatMessage, LoginResponse, limits, rfc3339};
use crate::phone::PhoneNumber;
use crate::store::{
    CreateCustomer, CreateSession, CustomerItem, Entering, JoinTerms, Joined, SessionItem, SkuMark,
    StoredLogin, TokenEntry,
};
use crate::token::{IssuedToken, Level, PresentedToken, SessionId};
use crate::views;

/// What the session rules refuse, or what stood in their way (`error::ApiError` turns
/// each into an answer).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no session token was sent")]
    MissingToken,
    /// Malformed, unknown, revoked, fallen with its root, or its session ended.
    #[error("{INVALID_TOKEN}")]
    InvalidToken,
    #[error("the customer of this session no longer exists")]
    CustomerGone,
    /// A password login checked against a password that has changed since.
    #[error("the password changed since it was checked")]
    PasswordChanged,
    /// The root has minted its hourly share of logins; seconds until the next hour.
    #[error("too many logins minted this hour; retry in {0} seconds")]
    TooManyMints(u64),
    /// An old kiosk's `customer_id` that is not this phone's customer.
    #[error("the customer id does not belong to this phone number")]
    CustomerIdMismatch,
    /// The login's level is too low; says what it may not do.
    #[error("{0}")]
    Forbidden(&'static str),
    /// Other logins of the same phone kept winning the race for its session.
    #[error("other logins kept winning the race for the session")]
    Contended,
    /// An item that cannot be what the code wrote.
    #[error("{0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The expiry a write gives a session: `idle` from now, never past its absolute cap.
pub fn next_expiry(state: &AppState, now: DateTime<Utc>, max_expires_at: i64) -> i64 {
    (now + state.config.session_idle)
        .timestamp()
        .min(max_expires_at)
}

/// A login's way into its session.
struct Entered {
    session: SessionItem,
    /// The latest messages of its history, for the response.
    chat: Vec<ChatMessage>,
    /// The login's token and its entry; `None` for the WhatsApp webhook, which files
    /// messages and has no client to give a token to.
    login: Option<Issued>,
    reused: bool,
}

impl Entered {
    fn into_response(
        self,
        customer: &CustomerItem,
        history: KioskHistory,
    ) -> Result<LoginResponse, SessionError> {
        let Issued { token, entry, .. } = self
            .login
            .ok_or_else(|| SessionError::Corrupt("a login without a token".into()))?;
        Ok(LoginResponse {
            session_token: token.value.expose().to_string(),
            session: views::session(&self.session, &self.chat, &entry, history),
            customer: views::customer(customer, entry.level),
            reused: self.reused,
        })
    }
}

/// A phone's live session as the `phone-index` GSI shows it, looked up beside the other
/// reads of a login (the phone is known before anything is read). The index is
/// eventually consistent: a miss is settled by the lock when the session is started.
pub struct Found(Option<(String, i64)>);

impl Found {
    /// The session's id and absolute cap, if the index shows one live.
    pub fn live(self) -> Option<(String, i64)> {
        self.0
    }
}

/// Looks up [`Found`] for `phone`.
pub async fn find(state: &AppState, phone: &PhoneNumber) -> Result<Found, SessionError> {
    Ok(Found(
        state
            .store
            .live_session_by_phone(phone.as_str(), Utc::now().timestamp())
            .await?,
    ))
}

/// Logs `customer` in with a direct login (password, WhatsApp, a kiosk typing the phone,
/// a code): joins the phone's live session (`found`, or one started meanwhile) or starts
/// one. Either way the login gets its own token. A password login's terms carry the
/// password version it was checked against, so that a password change in the meantime
/// refuses it; a login that proves the phone ends an unproven account's session instead
/// of joining it (pass the customer through [`prove`] first).
pub async fn enter(
    state: &AppState,
    customer: &CustomerItem,
    login: NewLogin,
    terms: JoinTerms<'_>,
    found: Found,
) -> Result<LoginResponse, SessionError> {
    let mut event = AccountEvent::new(EventKind::Login).on(login.channel);
    if let Some(kiosk) = &login.kiosk {
        event = event.at_kiosk(kiosk);
    }
    // Recorded beside the join or start (no round trip of its own): the credential was
    // proven, so the event stands even if the join is then refused (a password change
    // at that instant, DynamoDB unavailable).
    let (entered, ()) = tokio::join!(
        enter_session(state, customer, Some(login), &terms, found),
        events::record(state, &customer.customer_id, event),
    );
    entered?.into_response(customer, state.config.kiosk_phone_history)
}

/// The one way into a phone's session, with a login or without one (the webhook): the
/// race loop of [`entering`] through the real door.
async fn enter_session(
    state: &AppState,
    customer: &CustomerItem,
    login: Option<NewLogin>,
    terms: &JoinTerms<'_>,
    found: Found,
) -> Result<Entered, SessionError> {
    let door = RealDoor {
        state,
        customer,
        // Only the WhatsApp webhook enters without a login.
        channel: login.as_ref().map_or(Channel::Whatsapp, |l| l.channel),
        login: login.as_ref(),
        terms,
    };
    match entering::enter(&door, found.0).await? {
        Entry::Entered(entered) => Ok(entered),
        // Live, but the password changed since it was checked.
        Entry::Refused => Err(SessionError::PasswordChanged),
        Entry::Contended => Err(SessionError::Contended),
    }
}

/// The sessions table as a login's way in: joins are conditional updates, starts are
/// the lock-taking transaction.
struct RealDoor<'a> {
    state: &'a AppState,
    customer: &'a CustomerItem,
    channel: Channel,
    login: Option<&'a NewLogin>,
    terms: &'a JoinTerms<'a>,
}

impl entering::Door for RealDoor<'_> {
    type Entered = Entered;
    type Error = SessionError;

    async fn join(
        &self,
        session_id: &str,
        max_expires_at: i64,
    ) -> Result<entering::Joined<Entered>, SessionError> {
        join(
            self.state,
            session_id,
            max_expires_at,
            self.channel,
            self.login,
            self.terms,
        )
        .await
    }

    async fn start(&self, replacing: Option<&str>) -> Result<Started<Entered>, SessionError> {
        // Read the clock per attempt: liveness must not be judged by a stale time.
        let now = Utc::now();
        let sid = SessionId::generate();
        let issued = self.login.map(|login| issue(&sid, login, now));
        let session = new_session(
            self.state,
            &sid,
            self.customer,
            (self.channel, self.login),
            issued.as_ref(),
            now,
        );
        // The login's own item beside the transaction that starts the session: it
        // counts only if the session (holding its mark) is created.
        let (created, stored) = tokio::join!(
            self.state
                .store
                .create_session(&session, replacing, now.timestamp()),
            put_login(
                self.state,
                session.id(),
                issued.as_ref(),
                session.max_expires_at
            ),
        );
        Ok(match created? {
            CreateSession::Created => {
                stored?;
                Started::Created(Entered {
                    session,
                    chat: Vec::new(),
                    login: issued,
                    reused: false,
                })
            }
            CreateSession::Held {
                session_id,
                max_expires_at,
            } => Started::Held {
                session_id,
                max_expires_at,
            },
            CreateSession::Contended => Started::Contended,
        })
    }

    async fn pause(&self, attempt: u32) {
        crate::store::backoff(attempt).await
    }
}

/// A new login: its token, its own item, and the mark its session keeps.
struct Issued {
    token: IssuedToken,
    entry: TokenEntry,
    mark: LoginMark,
}

/// A new token for `login`.
fn issue(sid: &SessionId, login: &NewLogin, now: DateTime<Utc>) -> Issued {
    let token = IssuedToken::issue(sid);
    let entry = TokenEntry {
        hash: token.hash.clone(),
        channel: login.channel,
        level: login.level,
        issued_at: rfc3339(now),
        by: Some(login.maker.clone()),
        root: login.root.clone(),
        last_used_at: None,
        kiosk: login.kiosk.as_ref().map(|k| k.id.clone()),
        store: login.kiosk.as_ref().map(|k| k.store.clone()),
    };
    let mark = LoginMark::new(
        login.level,
        &login.maker,
        login.root.as_deref(),
        now.timestamp_millis(),
    );
    Issued { token, entry, mark }
}

/// Stores a new login's own item (nothing for the webhook, which issues no token).
async fn put_login(
    state: &AppState,
    session_id: &str,
    issued: Option<&Issued>,
    max_expires_at: i64,
) -> Result<(), SessionError> {
    if let Some(issued) = issued {
        state
            .store
            .put_login(
                session_id,
                &issued.token.token_id,
                &issued.entry,
                max_expires_at,
            )
            .await?;
    }
    Ok(())
}

/// Adds a login (or, for the webhook, only its channel) to the live session `sid`.
async fn join(
    state: &AppState,
    sid: &str,
    max_expires_at: i64,
    channel: Channel,
    login: Option<&NewLogin>,
    terms: &JoinTerms<'_>,
) -> Result<entering::Joined<Entered>, SessionError> {
    let now = Utc::now();
    let issued = match login {
        Some(login) => Some(issue(&session_id(sid)?, login, now)),
        None => None,
    };
    let token = issued
        .as_ref()
        .map(|i| (i.token.token_id.as_str(), &i.mark));
    let expires_at = next_expiry(state, now, max_expires_at);
    let store = login
        .and_then(|l| l.kiosk.as_ref())
        .map(|k| k.store.as_str());
    // One round trip: the join (which writes the login's mark and adds its kiosk's store,
    // and holds only while the terms do), the login's own item, and the end of the history
    // a login's answer shows.
    let (joined, stored, chat) = tokio::join!(
        state.store.join_session(
            sid,
            Entering {
                channel,
                token,
                store
            },
            terms,
            now,
            expires_at
        ),
        put_login(state, sid, issued.as_ref(), max_expires_at),
        recent_chat(state, sid, login.is_some()),
    );
    let session = match joined? {
        Joined::Joined(session) => *session,
        Joined::Gone => return Ok(entering::Joined::Gone),
        Joined::Refused => return Ok(entering::Joined::Refused),
        // Whoever proves the phone owns it: the unproven account's session and its logins
        // end, and the loop starts the prover's own.
        Joined::Unproven(unproven) => {
            state.store.end_session(&unproven).await?;
            return Ok(entering::Joined::Gone);
        }
    };
    stored?;
    trim(state, &session).await;
    Ok(entering::Joined::In(Entered {
        session,
        chat: chat?,
        login: issued,
        reused: true,
    }))
}

/// A login minted from another login of the same session: `POST /session/start` with a
/// token, or the QR handoff (where the minter is the login that made the code).
pub struct Mint<'a> {
    pub session_id: &'a str,
    pub max_expires_at: i64,
    pub minter: &'a str,
    /// The minter's root (see `logins`).
    pub root: &'a str,
    pub channel: Channel,
    pub level: Level,
    /// The kiosk it is minted for (the QR handoff), recorded like a kiosk's own login.
    pub kiosk: Option<&'a Kiosk>,
}

/// Mints a login into exactly the minter's session, written only while the minter and its
/// root still stand (a revocation racing with the mint wins). Each root may mint
/// [`logins::MINTS_PER_HOUR`] logins an hour. `None` when the session has ended or the
/// minter has been signed out.
pub async fn mint(
    state: &AppState,
    mint: &Mint<'_>,
    customer: &CustomerItem,
) -> Result<Option<LoginResponse>, SessionError> {
    let window = format!("mint#{}#{}", mint.session_id, mint.root);
    let now = Utc::now().timestamp();
    if let Some(wait) = state
        .store
        .count_this_hour(&window, logins::MINTS_PER_HOUR, now)
        .await?
    {
        return Err(SessionError::TooManyMints(wait));
    }
    let login = NewLogin {
        channel: mint.channel,
        level: mint.level,
        maker: Maker::Login(mint.minter.to_string()),
        root: Some(mint.root.to_string()),
        kiosk: mint.kiosk.cloned(),
    };
    let terms = JoinTerms {
        minted_by: Some((mint.minter, mint.root)),
        ..JoinTerms::default()
    };
    // Recorded beside the join, like a direct login's (the minting login was proven).
    let mut event = AccountEvent::new(EventKind::Login).on(mint.channel);
    if let Some(kiosk) = mint.kiosk {
        event = event.at_kiosk(kiosk);
    }
    let (joined, ()) = tokio::join!(
        join(
            state,
            mint.session_id,
            mint.max_expires_at,
            mint.channel,
            Some(&login),
            &terms,
        ),
        events::record(state, &customer.customer_id, event),
    );
    match joined? {
        entering::Joined::In(entered) => entered
            .into_response(customer, state.config.kiosk_phone_history)
            .map(Some),
        entering::Joined::Gone | entering::Joined::Refused => Ok(None),
    }
}

fn session_id(raw: &str) -> Result<SessionId, SessionError> {
    SessionId::parse(raw)
        .ok_or_else(|| SessionError::Corrupt(format!("malformed session id in table: {raw:?}")))
}

/// A new session entered on `channel` by `login` (none for the webhook), `issued` its token.
fn new_session(
    state: &AppState,
    sid: &SessionId,
    customer: &CustomerItem,
    (channel, login): (Channel, Option<&NewLogin>),
    issued: Option<&Issued>,
    now: DateTime<Utc>,
) -> SessionItem {
    let max_expires_at = (now + state.config.session_max).timestamp();
    let now_text = rfc3339(now);
    SessionItem {
        pk: sid.to_string(),
        phone: customer.phone_number.clone(),
        customer_id: customer.customer_id.clone(),
        channels: [(channel.as_str().to_string(), now_text.clone())].into(),
        tokens: issued
            .map(|i| (i.token.token_id.clone(), StoredLogin::Mark(i.mark.clone())))
            .into_iter()
            .collect(),
        message_count: 0,
        last_channel: None,
        summary: String::new(),
        summary_by: None,
        skus: Default::default(),
        cart: Vec::new(),
        created_at: now_text.clone(),
        updated_at: now_text,
        expires_at: next_expiry(state, now, max_expires_at),
        max_expires_at,
        password_version: customer.password_version,
        unproven: customer.unproven,
        merged_into: None,
        merged_from: Vec::new(),
        stores: login
            .and_then(|l| l.kiosk.as_ref())
            .map(|k| k.store.clone())
            .into_iter()
            .collect(),
    }
}

/// The latest messages a session's view shows; none when `wanted` is false (the webhook
/// files messages and shows nothing).
async fn recent_chat(
    state: &AppState,
    session_id: &str,
    wanted: bool,
) -> Result<Vec<ChatMessage>, SessionError> {
    if !wanted {
        return Ok(Vec::new());
    }
    Ok(state
        .store
        .last_messages(session_id, limits::CHAT_WINDOW)
        .await?)
}

/// Keeps a session item small after a write: SKUs beyond the newest
/// [`limits::RECOMMENDED_SKUS`], and the logins `logins::to_evict` names (fallen with
/// their root, or beyond their maker's quota). One `UpdateItem`, and only when there is
/// something to remove.
pub async fn trim(state: &AppState, session: &SessionItem) {
    let ranked = views::skus_by_rank(session);
    let extra = ranked.len().saturating_sub(limits::RECOMMENDED_SKUS);
    let skus: Vec<(String, SkuMark)> = ranked
        .into_iter()
        .take(extra)
        .filter_map(|sku| session.skus.get(&sku).map(|mark| (sku, *mark)))
        .collect();
    let logins = logins::to_evict(&session.logins());
    if !skus.is_empty() || !logins.is_empty() {
        state
            .store
            .remove_from_session(session, &skus, &logins)
            .await;
    }
}

/// The answer to a step-up: the same token, now at `password` level, with its session.
pub async fn stepped_up(
    state: &AppState,
    authed: &Authenticated,
    token: &str,
) -> Result<LoginResponse, SessionError> {
    let (customer, chat) = tokio::join!(
        customer_of(state, &authed.session),
        recent_chat(state, authed.session.id(), true)
    );
    Ok(LoginResponse {
        session_token: token.to_string(),
        session: views::session(
            &authed.session,
            &chat?,
            &authed.login,
            state.config.kiosk_phone_history,
        ),
        customer: views::customer(&customer?, authed.login.level),
        reused: true,
    })
}

/// The customer a live session belongs to; 401 if the record has gone since.
pub async fn customer_of(
    state: &AppState,
    session: &SessionItem,
) -> Result<CustomerItem, SessionError> {
    let phone = PhoneNumber::from_stored(session.phone.clone());
    state
        .store
        .customer_by_phone(&phone)
        .await?
        .ok_or(SessionError::CustomerGone)
}

/// A request's verified login.
pub struct Authenticated {
    pub session: SessionItem,
    pub token_id: String,
    pub login: TokenEntry,
    /// The session the token was issued in, where the login's own item lives: not
    /// `session` when that one was merged into it since.
    pub issued_in: String,
}

impl Authenticated {
    /// The root this login stands on (itself for a direct login).
    pub fn root(&self) -> &str {
        logins::root_of(&self.token_id, &self.login)
    }

    /// The login as its session holds it, for a write that records its use.
    pub fn writer(&self) -> Option<(&str, &StoredLogin)> {
        let stored = self.session.tokens.get(&self.token_id)?;
        Some((&self.token_id, stored))
    }

    /// Refuses a login below `level` (403), saying what it may not do.
    pub fn require(self, level: Level, refusal: &'static str) -> Result<Self, SessionError> {
        if self.login.level < level {
            return Err(SessionError::Forbidden(refusal));
        }
        Ok(self)
    }
}

/// The one answer for a token that does not (or no longer) open a session.
pub const INVALID_TOKEN: &str = "session token is invalid or expired; log in again";

/// [`authenticate`], with the end of the session's history read in parallel (one round
/// trip): for the requests that answer with the session's view.
pub async fn authenticate_with_chat(
    state: &AppState,
    presented: Option<&str>,
) -> Result<(Authenticated, Vec<ChatMessage>), SessionError> {
    let session_id = presented
        .and_then(PresentedToken::parse)
        .map(|t| t.session_id.as_str().to_string());
    let (authed, chat) = tokio::join!(
        authenticate(state, presented),
        recent_chat(
            state,
            session_id.as_deref().unwrap_or_default(),
            session_id.is_some()
        ),
    );
    let authed = authed?;
    if session_id.as_deref() != Some(authed.session.id()) {
        // A token of a merged session: the history is the one it was merged into.
        let chat = recent_chat(state, authed.session.id(), true).await?;
        return Ok((authed, chat));
    }
    Ok((authed, chat?))
}

/// Checks a presented token with one strongly consistent read: the session must be
/// live, hold the token's hash, and still hold the root the login stands on.
pub async fn authenticate(
    state: &AppState,
    presented: Option<&str>,
) -> Result<Authenticated, SessionError> {
    let raw = presented.ok_or(SessionError::MissingToken)?;
    let token = PresentedToken::parse(raw).ok_or(SessionError::InvalidToken)?;
    let (session, own) = state
        .store
        .session_and_login(token.session_id.as_str(), &token.token_id)
        .await?;
    let session = match session {
        // Merged into another session (its customer turned out to be another's): its
        // logins stand there now (one more read, for these tokens only).
        Some(SessionItem {
            merged_into: Some(target),
            ..
        }) => state.store.session_in_batch(&target).await?,
        session => session,
    };
    let session = session
        .filter(|s| s.expires_at > Utc::now().timestamp() && s.merged_into.is_none())
        .ok_or(SessionError::InvalidToken)?;
    // The session's mark says the login stands; its own item holds the hash (a login
    // stored before logins had items is whole in the session).
    let login = match session.tokens.get(&token.token_id) {
        Some(StoredLogin::Mark(_)) => own,
        Some(StoredLogin::Whole(entry)) => Some(entry.clone()),
        None => None,
    };
    let marks = session.logins();
    let login = login
        .filter(|entry| token.matches(&entry.hash))
        .filter(|_| {
            marks
                .get(&token.token_id)
                .is_some_and(|mark| logins::stands(&token.token_id, mark, &marks))
        })
        .ok_or(SessionError::InvalidToken)?;
    Ok(Authenticated {
        session,
        token_id: token.token_id,
        login,
        issued_in: token.session_id.as_str().to_string(),
    })
}

/// Slides a session's expiry on a pure read and records that the login was used, but
/// writes at most once per `touch_interval`. Returns the session with the expiry it now
/// has.
pub async fn touch(state: &AppState, authed: Authenticated) -> Result<SessionItem, SessionError> {
    let mut session = authed.session;
    let now = Utc::now();
    let interval = state.config.touch_interval.num_seconds().max(1);
    let next = next_expiry(state, now, session.max_expires_at).max(session.expires_at);
    let Some(stored) = session.tokens.get(&authed.token_id) else {
        return Err(SessionError::InvalidToken);
    };
    let last_used = stored.mark(&authed.token_id).last_used / 1000;
    let due = next - session.expires_at >= interval || now.timestamp() - last_used >= interval;
    if due
        && state
            .store
            .touch_session(
                session.id(),
                &authed.token_id,
                &stored.used_at(now),
                now,
                next,
            )
            .await?
    {
        session.expires_at = next;
    }
    Ok(session)
}

/// How much a phone-only login knows of the phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assurance {
    /// Typed at a kiosk: the login joins whatever session the phone has.
    Asserted,
    /// Proven (WhatsApp, a code, click-to-verify): an unproven account of the phone is
    /// taken over first.
    Proven,
}

/// The phone-only login shared by the signed `POST /session/login`, a kiosk's
/// `POST /session/start` and a verified code: the caller has already proven (or, for a
/// kiosk, asserted) the phone. A new phone gets a minimal customer record.
pub async fn phone_login(
    state: &AppState,
    phone: &PhoneNumber,
    name: Option<&str>,
    customer_id: Option<&str>,
    login: NewLogin,
    assurance: Assurance,
) -> Result<LoginResponse, SessionError> {
    let (customer, found) = tokio::join!(
        customer_for_phone(state, phone, name, customer_id),
        find(state, phone)
    );
    let mut customer = customer?;
    if assurance == Assurance::Proven {
        customer = prove(state, customer, name).await?;
    }
    let terms = JoinTerms {
        proven: assurance == Assurance::Proven,
        ..JoinTerms::default()
    };
    enter(state, &customer, login, terms, found?).await
}

/// The customer of a phone someone has just proven: an unproven account is taken over
/// (its password, version and typed-in record go; its session ends when the prover
/// enters, see [`JoinTerms::proven`]). `name` names the customer afresh, as a first
/// contact would.
pub async fn prove(
    state: &AppState,
    customer: CustomerItem,
    name: Option<&str>,
) -> Result<CustomerItem, SessionError> {
    if !customer.unproven {
        return Ok(customer);
    }
    let phone = customer.phone();
    let now = rfc3339(Utc::now());
    let proven = state
        .store
        .prove_customer(&phone, name.unwrap_or("Guest"), &now)
        .await?;
    match proven {
        Some(proven) => Ok(proven),
        // Proven by someone else a moment ago.
        None => state
            .store
            .customer_by_phone(&phone)
            .await?
            .ok_or(SessionError::CustomerGone),
    }
}

/// Steps the login `authed` up to `password` level in place (the same token), because
/// its holder has just proven the session's phone (a code, click-to-verify). An unproven
/// account proven from its own session stays as it is, proven.
pub async fn step_up(state: &AppState, authed: &mut Authenticated) -> Result<(), SessionError> {
    let stored = authed
        .session
        .tokens
        .get(&authed.token_id)
        .ok_or(SessionError::InvalidToken)?;
    let (raised, own_item) = match stored {
        StoredLogin::Mark(mark) => (
            StoredLogin::Mark(LoginMark {
                level: Level::Password,
                ..mark.clone()
            }),
            true,
        ),
        StoredLogin::Whole(entry) => (
            StoredLogin::Whole(TokenEntry {
                level: Level::Password,
                ..entry.clone()
            }),
            false,
        ),
    };
    let proven = authed.session.unproven;
    if proven {
        let phone = PhoneNumber::from_stored(authed.session.phone.clone());
        state.store.mark_proven(&phone).await?;
    }
    let raised_in_place = state
        .store
        .raise_login(
            authed.session.id(),
            &authed.token_id,
            &raised,
            Level::Password,
            own_item.then_some(authed.issued_in.as_str()),
            proven,
        )
        .await?;
    if !raised_in_place {
        // Signed out since the token was checked.
        return Err(SessionError::InvalidToken);
    }
    authed.login.level = Level::Password;
    authed.session.unproven = false;
    authed
        .session
        .tokens
        .insert(authed.token_id.clone(), raised);
    Ok(())
}

/// The same phone-only login for the WhatsApp webhook: the provider has proven the
/// phone, and the session is joined (or started) without issuing a token, since the
/// webhook only files the customer's messages.
pub async fn phone_session(
    state: &AppState,
    phone: &PhoneNumber,
    name: Option<&str>,
) -> Result<SessionItem, SessionError> {
    let (customer, found) = tokio::join!(
        customer_for_phone(state, phone, name, None),
        find(state, phone)
    );
    let customer = prove(state, customer?, name).await?;
    let terms = JoinTerms {
        proven: true,
        ..JoinTerms::default()
    };
    Ok(enter_session(state, &customer, None, &terms, found?)
        .await?
        .session)
}

/// The customer of `phone`, made with a fresh id if the phone is new. `customer_id`, as
/// old kiosks send it, only ever cross-checks an existing customer: a caller can neither
/// choose a new customer's id nor probe which id is taken.
pub async fn customer_for_phone(
    state: &AppState,
    phone: &PhoneNumber,
    name: Option<&str>,
    customer_id: Option<&str>,
) -> Result<CustomerItem, SessionError> {
    let store = &state.store;
    let belongs = |c: CustomerItem| match customer_id {
        Some(id) if id != c.customer_id => Err(SessionError::CustomerIdMismatch),
        _ => Ok(c),
    };
    if let Some(existing) = store.customer_by_phone(phone).await? {
        return belongs(existing);
    }
    let now = rfc3339(Utc::now());
    let name = name.unwrap_or("Guest").to_string();
    loop {
        let customer = CustomerItem::new(CustomerItem::generate_id(), phone, name.clone(), &now);
        match store.create_customer(&customer).await? {
            CreateCustomer::Created => return Ok(customer),
            // Another channel created it a moment ago.
            CreateCustomer::PhoneTaken => {
                let existing = store
                    .customer_by_phone(phone)
                    .await?
                    .ok_or(SessionError::Contended)?;
                return belongs(existing);
            }
            // A random 64-bit id collided: draw another.
            CreateCustomer::IdTaken => continue,
        }
    }
}
