//! The omni-channel rules: every login of a phone joins its one live session (or starts
//! it), gets its own token, and slides the 7-day expiry; every request with a token is
//! checked with one strongly consistent read.

use chrono::{DateTime, Utc};

use crate::AppState;
use crate::channel::Channel;
use crate::error::ApiError;
use crate::model::{LoginResponse, Session, SessionMetadata, limits, rfc3339};
use crate::phone::PhoneNumber;
use crate::store::{
    CreateCustomer, CreateSession, CustomerItem, MAX_TOKENS, QrGrant, SessionItem, TokenEntry,
};
use crate::token::{IssuedToken, Level, PresentedToken, SessionId};

/// Attempts at joining or starting a session before giving up with 503. Each retry is
/// caused by another login of the same phone winning a race, so a handful is plenty.
const ENTER_ATTEMPTS: usize = 8;

/// The expiry a write gives a session: `idle` from now, never past its absolute cap.
pub fn next_expiry(state: &AppState, now: DateTime<Utc>, max_expires_at: i64) -> i64 {
    (now + state.config.session_idle)
        .timestamp()
        .min(max_expires_at)
}

/// A login's way into its session.
struct Entered {
    session: SessionItem,
    /// The login's token and its entry; `None` for the WhatsApp webhook, which files
    /// messages and has no client to give a token to.
    login: Option<(IssuedToken, TokenEntry)>,
    reused: bool,
}

impl Entered {
    fn into_response(self, customer: &CustomerItem) -> Result<LoginResponse, ApiError> {
        let (token, entry) = self
            .login
            .ok_or_else(|| ApiError::Internal("a login without a token".into()))?;
        Ok(LoginResponse {
            session_token: token.value.expose().to_string(),
            session: view(&self.session, entry.channel),
            customer: customer.view(entry.level),
            reused: self.reused,
        })
    }
}

/// Logs `customer` in on `channel`: joins the phone's live session (found through the
/// phone GSI) or starts one. Either way the login gets its own token.
pub async fn enter(
    state: &AppState,
    customer: &CustomerItem,
    channel: Channel,
    level: Level,
) -> Result<LoginResponse, ApiError> {
    enter_session(state, customer, channel, Some(level))
        .await?
        .into_response(customer)
}

/// The one way into a phone's session, with a token of `level` or without one.
async fn enter_session(
    state: &AppState,
    customer: &CustomerItem,
    channel: Channel,
    level: Option<Level>,
) -> Result<Entered, ApiError> {
    let store = &state.store;
    let mut target = store
        .live_session_by_phone(&customer.phone_number, Utc::now().timestamp())
        .await?;
    let mut stale: Option<String> = None;

    for attempt in 1..=ENTER_ATTEMPTS {
        if let Some((sid, max_expires_at)) = target.take() {
            if let Some(entered) = join(state, &sid, max_expires_at, channel, level, None).await? {
                return Ok(entered);
            }
            // Ended or expired since we looked: its lock may be taken over.
            stale = Some(sid);
        }

        // Read the clock per attempt: liveness must not be judged by a stale time.
        let now = Utc::now();
        let sid = SessionId::generate();
        let login = level.map(|level| issue(&sid, channel, level, now));
        let session = new_session(state, &sid, customer, channel, login.as_ref(), now);
        match store
            .create_session(&session, stale.as_deref(), now.timestamp())
            .await?
        {
            CreateSession::Created => {
                return Ok(Entered {
                    session,
                    login,
                    reused: false,
                });
            }
            CreateSession::Held {
                session_id,
                max_expires_at,
            } => target = Some((session_id, max_expires_at)),
            CreateSession::Contended => crate::store::backoff(attempt as u32).await,
        }
    }
    Err(ApiError::Unavailable)
}

/// A new token for a login on `channel` at `level`, and the entry the session keeps of it.
fn issue(
    sid: &SessionId,
    channel: Channel,
    level: Level,
    now: DateTime<Utc>,
) -> (IssuedToken, TokenEntry) {
    let token = IssuedToken::issue(sid);
    let entry = TokenEntry {
        hash: token.hash.clone(),
        channel,
        level,
        issued_at: rfc3339(now),
    };
    (token, entry)
}

/// Adds a login to the live session `sid`; `None` when it has ended or expired.
async fn join(
    state: &AppState,
    sid: &str,
    max_expires_at: i64,
    channel: Channel,
    level: Option<Level>,
    vouched_by: Option<&str>,
) -> Result<Option<Entered>, ApiError> {
    let now = Utc::now();
    let login = match level {
        Some(level) => Some(issue(&session_id(sid)?, channel, level, now)),
        None => None,
    };
    let token = login.as_ref().map(|(t, e)| (t.token_id.as_str(), e));
    let expires_at = next_expiry(state, now, max_expires_at);
    let joined = state
        .store
        .join_session(sid, channel, token, vouched_by, now, expires_at)
        .await?;
    let Some(session) = joined else {
        return Ok(None);
    };
    if session.tokens.len() > MAX_TOKENS {
        state.store.trim(&session).await;
    }
    Ok(Some(Entered {
        session,
        login,
        reused: true,
    }))
}

/// The QR handoff: a kiosk joins exactly the session the code was made for, at the level
/// of the login that made it. `None` when that session has ended meanwhile or that login
/// has been signed out (a photo of the code is worth nothing after a logout).
pub async fn hand_over(
    state: &AppState,
    grant: &QrGrant,
    channel: Channel,
    level: Level,
) -> Result<Option<LoginResponse>, ApiError> {
    let phone = PhoneNumber::from_stored(grant.phone.clone());
    let Some(customer) = state.store.customer_by_phone(&phone).await? else {
        return Ok(None);
    };
    let vouched_by = Some(grant.issuer_token_id.as_str());
    let (sid, max) = (&grant.session_id, grant.max_expires_at);
    join(state, sid, max, channel, Some(level), vouched_by)
        .await?
        .map(|entered| entered.into_response(&customer))
        .transpose()
}

fn session_id(raw: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(raw)
        .ok_or_else(|| ApiError::Internal(format!("malformed session id in table: {raw:?}")))
}

fn new_session(
    state: &AppState,
    sid: &SessionId,
    customer: &CustomerItem,
    channel: Channel,
    login: Option<&(IssuedToken, TokenEntry)>,
    now: DateTime<Utc>,
) -> SessionItem {
    let max_expires_at = (now + state.config.session_max).timestamp();
    let now_text = rfc3339(now);
    SessionItem {
        pk: sid.to_string(),
        phone: customer.phone_number.clone(),
        customer_id: customer.customer_id.clone(),
        channels: [(channel.as_str().to_string(), now_text.clone())].into(),
        tokens: login
            .map(|(token, entry)| (token.token_id.clone(), entry.clone()))
            .into_iter()
            .collect(),
        recent: Vec::new(),
        message_count: 0,
        summary: String::new(),
        skus: Default::default(),
        cart: Vec::new(),
        created_at: now_text.clone(),
        updated_at: now_text,
        expires_at: next_expiry(state, now, max_expires_at),
        max_expires_at,
    }
}

/// The API's view of a session, for a token of `channel`.
pub fn view(item: &SessionItem, channel: Channel) -> Session {
    let window = item.recent.len().saturating_sub(limits::CHAT_WINDOW);
    let expires = DateTime::<Utc>::from_timestamp(item.expires_at, 0).unwrap_or_default();
    Session {
        session_id: item.pk.clone(),
        phone: item.phone.clone(),
        customer_id: item.customer_id.clone(),
        channel,
        metadata: SessionMetadata {
            channels: item.channels(),
        },
        chat_context: item.recent[window..].to_vec(),
        conversation_summary: item.summary.clone(),
        last_recommended_skus: item.recommended_skus(),
        cart: item.cart.clone(),
        created_at: item.created_at.clone(),
        updated_at: item.updated_at.clone(),
        expires_at: rfc3339(expires),
    }
}

/// The customer a live session belongs to; 401 if the record has gone since.
pub async fn customer_of(
    state: &AppState,
    session: &SessionItem,
) -> Result<CustomerItem, ApiError> {
    let phone = PhoneNumber::from_stored(session.phone.clone());
    state
        .store
        .customer_by_phone(&phone)
        .await?
        .ok_or(ApiError::Unauthorized(
            "the customer of this session no longer exists",
        ))
}

/// A request's verified login.
pub struct Authenticated {
    pub session: SessionItem,
    pub token_id: String,
    pub login: TokenEntry,
}

const INVALID_TOKEN: &str = "session token is invalid or expired; log in again";

/// Checks a presented token with one strongly consistent read: the session must be
/// live and hold the token's hash.
pub async fn authenticate(
    state: &AppState,
    presented: Option<&str>,
) -> Result<Authenticated, ApiError> {
    let raw = presented.ok_or(ApiError::Unauthorized(
        "missing session token: send it as X-Session-Token or Authorization: Bearer",
    ))?;
    let token = PresentedToken::parse(raw).ok_or(ApiError::Unauthorized(INVALID_TOKEN))?;
    let session = state
        .store
        .session(token.session_id.as_str())
        .await?
        .ok_or(ApiError::Unauthorized(INVALID_TOKEN))?;
    if session.expires_at <= Utc::now().timestamp() {
        return Err(ApiError::Unauthorized(INVALID_TOKEN));
    }
    let login = session
        .tokens
        .get(&token.token_id)
        .filter(|entry| token.matches(&entry.hash))
        .cloned()
        .ok_or(ApiError::Unauthorized(INVALID_TOKEN))?;
    Ok(Authenticated {
        session,
        token_id: token.token_id,
        login,
    })
}

/// Slides a session's expiry on a pure read, but writes at most once per
/// `touch_interval`. Returns the session with the expiry it now has.
pub async fn touch(state: &AppState, mut session: SessionItem) -> Result<SessionItem, ApiError> {
    let now = Utc::now();
    let next = next_expiry(state, now, session.max_expires_at);
    if next - session.expires_at >= state.config.touch_interval.num_seconds().max(1)
        && state
            .store
            .touch_session(session.id(), now.timestamp(), next)
            .await?
    {
        session.expires_at = next;
    }
    Ok(session)
}

/// The phone-only login shared by the signed `POST /session/login` and a kiosk's
/// `POST /session/start`: the caller has already proven the phone. A new phone gets a
/// minimal customer record.
pub async fn phone_login(
    state: &AppState,
    phone: &PhoneNumber,
    name: Option<&str>,
    customer_id: Option<&str>,
    channel: Channel,
) -> Result<LoginResponse, ApiError> {
    let customer = customer_for_phone(state, phone, name, customer_id).await?;
    enter(state, &customer, channel, Level::Phone).await
}

/// The same phone-only login for the WhatsApp webhook: the provider has proven the
/// phone, and the session is joined (or started) without issuing a token, since the
/// webhook only files the customer's messages.
pub async fn phone_session(
    state: &AppState,
    phone: &PhoneNumber,
    name: Option<&str>,
    channel: Channel,
) -> Result<SessionItem, ApiError> {
    let customer = customer_for_phone(state, phone, name, None).await?;
    Ok(enter_session(state, &customer, channel, None)
        .await?
        .session)
}

async fn customer_for_phone(
    state: &AppState,
    phone: &PhoneNumber,
    name: Option<&str>,
    customer_id: Option<&str>,
) -> Result<CustomerItem, ApiError> {
    let store = &state.store;
    let belongs = |c: &CustomerItem| match customer_id {
        Some(id) if id != c.customer_id => Err(ApiError::field(
            "customer_id",
            "does not belong to this phone number",
        )),
        _ => Ok(()),
    };
    if let Some(existing) = store.customer_by_phone(phone).await? {
        belongs(&existing)?;
        return Ok(existing);
    }
    let id = customer_id.map_or_else(CustomerItem::generate_id, str::to_string);
    let customer = CustomerItem::new(
        id,
        phone,
        name.unwrap_or("Guest").to_string(),
        &rfc3339(Utc::now()),
    );
    match store.create_customer(&customer).await? {
        CreateCustomer::Created => Ok(customer),
        // Another channel created it a moment ago.
        CreateCustomer::PhoneTaken => {
            let existing = store
                .customer_by_phone(phone)
                .await?
                .ok_or(ApiError::Unavailable)?;
            belongs(&existing)?;
            Ok(existing)
        }
        CreateCustomer::IdTaken => Err(ApiError::Conflict(
            "customer_id is already used by another phone number".into(),
        )),
    }
}
