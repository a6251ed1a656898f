//! Proving a phone with a code: sending one (the same answer, work and time whether or
//! not the phone is known, and whether or not delivery worked), and typing it back to log
//! in, to reset the password, or to step a login up in place. Whoever proves a phone owns
//! it: an unproven account of that phone is taken over (`sessions::prove`).

use chrono::{DateTime, Utc};

use crate::AppState;
use crate::channel::Channel;
use crate::codes::{CODE_TTL_SECS, Code, Purpose, Sends, macs_match};
use crate::identity::{self, WhatsappSender};
use crate::kiosks::Kiosk;
use crate::logins::{Maker, NewLogin};
use crate::model::{LoginResponse, rfc3339};
use crate::passwords::Password;
use crate::phone::{PhoneNumber, WhatsappUserId};
use crate::secrets::fingerprint;
use crate::sessions::{self, Assurance, Authenticated, SessionError};
use crate::store::{JoinTerms, StoreError};
use crate::token::Level;

/// Sends per hour from one address without a kiosk key (a web page): enough for a
/// household behind one address, and a ceiling on pumping codes to many numbers.
pub const SENDS_PER_ADDRESS_HOUR: u32 = 20;
/// Sends per hour from one kiosk: a busy store's counter.
pub const SENDS_PER_KIOSK_HOUR: u32 = 120;

/// Who asks for a code: the limits are theirs as well as the phone's.
pub enum Sender<'a> {
    /// A web page, by its address.
    Address(&'a str),
    /// A registered kiosk.
    Kiosk(&'a Kiosk),
}

/// What a client is told after a send, whatever became of it.
#[derive(Debug)]
pub struct CodeSent {
    pub expires_at: DateTime<Utc>,
    /// When the next send to this phone would be accepted.
    pub resend_after: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The phone's or the sender's limit; seconds until a send is accepted again.
    #[error("too many codes sent; retry in {0} seconds")]
    TooMany(u64),
    /// No code key: a code could be stored under no key a verify would find.
    #[error("codes are not set up here: CODE_HMAC_KEY is not configured")]
    NoCodeKey,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tries of a send record that raced another send to the same phone.
const RECORD_ATTEMPTS: usize = 4;

/// Draws a code for `phone` and `purpose`, stores its HMAC (replacing any earlier code)
/// and hands it to `deliver`. The phone is not looked up: a known and an unknown phone
/// take the same steps, and a failed delivery is logged (without the code), not told.
pub async fn send_code<F, Fut>(
    state: &AppState,
    phone: &PhoneNumber,
    purpose: Purpose,
    sender: Sender<'_>,
    deliver: F,
) -> Result<CodeSent, SendError>
where
    F: FnOnce(Code) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    // The current key stores; a verify also tries the previous one (a rotation).
    let secrets = state.secrets().await;
    let key = secrets.code_keys.current().ok_or(SendError::NoCodeKey)?;
    let now = Utc::now();
    let sends = admit(state, phone, &sender, now.timestamp_millis()).await?;
    let code = Code::draw();
    let mac = code.mac(key, purpose, phone.as_str());
    state
        .store
        .put_code(purpose, phone.as_str(), &mac, now.timestamp())
        .await?;
    if let Err(reason) = deliver(code).await {
        tracing::warn!(purpose = purpose.as_str(), %reason, "a verification code was not delivered");
    }
    let resend = sends.next_allowed(now.timestamp_millis());
    Ok(CodeSent {
        expires_at: now + chrono::Duration::seconds(CODE_TTL_SECS),
        resend_after: DateTime::from_timestamp_millis(resend).unwrap_or(now),
    })
}

/// Counts a send against the phone's sliding limits and the sender's hourly one; the
/// phone's record as it is afterwards.
async fn admit(
    state: &AppState,
    phone: &PhoneNumber,
    sender: &Sender<'_>,
    now_ms: i64,
) -> Result<Sends, SendError> {
    let (mut sends, mut version) = state.store.code_sends(phone.as_str()).await?;
    let mut counted = false;
    for _ in 0..RECORD_ATTEMPTS {
        let next = sends.admit(now_ms).map_err(SendError::TooMany)?;
        if !counted {
            count_sender(state, sender, now_ms / 1000).await?;
            counted = true;
        }
        if state
            .store
            .put_code_sends(phone.as_str(), &next, version)
            .await?
        {
            return Ok(next);
        }
        (sends, version) = state.store.code_sends(phone.as_str()).await?;
    }
    Err(StoreError::Unavailable("code sends kept racing".into()).into())
}

async fn count_sender(state: &AppState, sender: &Sender<'_>, now: i64) -> Result<(), SendError> {
    let (window, cap) = match sender {
        Sender::Address(address) => (
            format!("code#ip#{}", fingerprint(address)),
            SENDS_PER_ADDRESS_HOUR,
        ),
        Sender::Kiosk(kiosk) => (format!("code#kiosk#{}", kiosk.id), SENDS_PER_KIOSK_HOUR),
    };
    match state.store.count_this_hour(&window, cap, now).await? {
        Some(wait) => Err(SendError::TooMany(wait)),
        None => Ok(()),
    }
}

/// A code typed back, and what it is to do.
pub struct Verification<'a> {
    pub phone: &'a PhoneNumber,
    pub code: &'a Code,
    pub purpose: Purpose,
    /// `web`, or `kiosk` with the kiosk (of the request's key).
    pub channel: Channel,
    pub kiosk: Option<&'a Kiosk>,
    /// `reset` only: the new password.
    pub new_password: Option<&'a Password>,
    /// `login` only: the login to step up instead of making a new one, with its token.
    pub step_up: Option<(Authenticated, &'a str)>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Wrong, expired, used up, or never sent: one answer.
    #[error("the code is wrong, expired or already used; request a new one")]
    InvalidCode,
    /// A step-up whose token belongs to another phone's session.
    #[error("the session token belongs to another phone number")]
    OtherPhone,
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<StoreError> for VerifyError {
    fn from(err: StoreError) -> Self {
        VerifyError::Session(err.into())
    }
}

/// Checks a code (one try taken first, so parallel guesses share the five) and uses it up
/// (of two verifies of the same code, exactly one succeeds), then does what it is for.
pub async fn verify_code(
    state: &AppState,
    verification: Verification<'_>,
) -> Result<LoginResponse, VerifyError> {
    let Verification {
        phone,
        code,
        purpose,
        ..
    } = verification;
    // A step-up proves the token's own phone; a customer known only by their WhatsApp
    // user id proves the phone that becomes theirs (their customer is merged into it).
    let mut links_user = None;
    if let Some((authed, _)) = &verification.step_up
        && authed.session.phone != phone.as_str()
    {
        let key = PhoneNumber::from_stored(authed.session.phone.clone());
        links_user = key
            .whatsapp_user()
            .and_then(|user| WhatsappUserId::parse(user).ok());
        if links_user.is_none() {
            return Err(VerifyError::OtherPhone);
        }
    }
    if !redeem_code(state, purpose, phone, code).await? {
        return Err(VerifyError::InvalidCode);
    }
    let login = match verification.kiosk {
        Some(kiosk) => NewLogin::at_kiosk(Level::Password, kiosk),
        None => NewLogin::direct(verification.channel, Level::Password, Maker::Password),
    };
    match (purpose, verification.step_up, verification.new_password) {
        (Purpose::Login, Some((mut authed, token)), _) => {
            if let Some(user) = links_user {
                let sender = WhatsappSender::default();
                identity::link(state, &user, phone, &sender).await?;
                // The token's login now stands in the phone's session.
                authed = sessions::authenticate(state, Some(token)).await?;
            }
            sessions::step_up(state, &mut authed).await?;
            Ok(sessions::stepped_up(state, &authed, token).await?)
        }
        (Purpose::Login, None, _) => {
            Ok(sessions::phone_login(state, phone, None, None, login, Assurance::Proven).await?)
        }
        (Purpose::Reset, _, Some(password)) => reset(state, phone, password, login).await,
        // The handler asks for the password before a try is taken.
        (Purpose::Reset, _, None) => Err(VerifyError::InvalidCode),
        // The verify route refuses it before a try is taken: `/auth/phone/change` redeems it.
        (Purpose::ChangePhone, _, _) => Err(VerifyError::InvalidCode),
    }
}

/// Checks `code` for `phone` and `purpose` (one try taken first, so parallel guesses
/// share the five) and uses it up: `true` for exactly one of two verifies of a good code.
pub async fn redeem_code(
    state: &AppState,
    purpose: Purpose,
    phone: &PhoneNumber,
    code: &Code,
) -> Result<bool, StoreError> {
    let now = Utc::now().timestamp();
    let Some(tried) = state
        .store
        .take_code_try(purpose, phone.as_str(), now)
        .await?
    else {
        return Ok(false);
    };
    // During a rotation a code may have been stored under the previous key.
    let secrets = state.secrets().await;
    let matched = secrets
        .code_keys
        .iter()
        .any(|key| macs_match(&tried.mac, &code.mac(key, purpose, phone.as_str())));
    Ok(matched
        && state
            .store
            .consume_code(purpose, phone.as_str(), &tried.mac)
            .await?)
}

/// Sets a new password for the phone's customer (made if the phone is new), ends every
/// login of its session, and logs in afresh.
async fn reset(
    state: &AppState,
    phone: &PhoneNumber,
    password: &Password,
    login: NewLogin,
) -> Result<LoginResponse, VerifyError> {
    let customer = sessions::customer_for_phone(state, phone, None, None).await?;
    let customer = sessions::prove(state, customer, None).await?;
    let hash = state
        .passwords
        .hash(password)
        .await
        .map_err(|e| VerifyError::Hashing(e.to_string()))?;
    let version = state
        .store
        .set_password_hash(phone, &hash, None, &rfc3339(Utc::now()))
        .await?
        .ok_or(SessionError::CustomerGone)?;
    crate::events::record(
        state,
        &customer.customer_id,
        crate::events::reset(login.channel),
    )
    .await;
    // The lock, not the eventually consistent index, names the live session: a login
    // made a moment before the reset must end with the others.
    if let Some(session_id) = state.store.locked_session(phone.as_str()).await? {
        state
            .store
            .revoke_all_tokens(&session_id, Some(version))
            .await?;
    }
    let customer = crate::store::CustomerItem {
        password_hash: Some(hash),
        password_version: version,
        ..customer
    };
    let terms = JoinTerms {
        password_version: Some(version),
        proven: true,
        ..JoinTerms::default()
    };
    let found = sessions::find(state, phone).await?;
    Ok(sessions::enter(state, &customer, login, terms, found).await?)
}
