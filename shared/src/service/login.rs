//! Logins that take more than a phone: a password, a QR code handed over from a logged-in
//! phone, or a token of the same phone opening another channel.

use chrono::Utc;

use crate::AppState;
use crate::channel::Channel;
use crate::guard::{self, Guard, GuardError, Tally};
use crate::kiosks::Kiosk;
use crate::logins::{Maker, NewLogin};
use crate::model::LoginResponse;
use crate::passwords::Password;
use crate::phone::PhoneNumber;
use crate::sessions::{self, Authenticated, Mint, SessionError};
use crate::store::{JoinTerms, QrGrant, StoreError};
use crate::token::{Level, QrToken};

/// Why a password login failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown phone or wrong password: one answer for both.
    #[error("unknown phone or wrong password")]
    InvalidCredentials,
    #[error(transparent)]
    Guard(#[from] GuardError),
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// A password login on the web or a kiosk, from `source` (the caller's address, which
/// its guessing bucket is keyed by). It joins the phone's live session or starts one.
pub async fn password_login(
    state: &AppState,
    phone: &PhoneNumber,
    password: &Password,
    channel: Channel,
    source: &str,
) -> Result<LoginResponse, LoginError> {
    // Failures are counted per phone, known or not, so the lock tells nothing either.
    // The phone's session is looked up beside the check: one round trip before bcrypt.
    let (checked, found) = tokio::join!(
        guard::check_password(state, phone, source, password),
        sessions::find(state, phone),
    );
    let customer = checked?.ok_or(LoginError::InvalidCredentials)?;
    let login = NewLogin::direct(channel, Level::Password, Maker::Password);
    // A password change since the check above refuses this login.
    let terms = JoinTerms {
        password_version: Some(customer.password_version),
        ..JoinTerms::default()
    };
    Ok(sessions::enter(state, &customer, login, terms, found?).await?)
}

/// Why a logged-in customer could not open another channel.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The token's session is another phone's.
    #[error("the session token belongs to another phone number")]
    OtherPhone,
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// A logged-in customer opening another channel (`/session/start` with a token): a login
/// minted from `authed` into its very session, worth what that one is.
pub async fn open_channel(
    state: &AppState,
    authed: &Authenticated,
    phone: &PhoneNumber,
    channel: Channel,
    customer_id: Option<&str>,
) -> Result<LoginResponse, OpenError> {
    if authed.session.phone != phone.as_str() {
        return Err(OpenError::OtherPhone);
    }
    let customer = sessions::customer_of(state, &authed.session).await?;
    if customer_id.is_some_and(|id| id != customer.customer_id) {
        return Err(SessionError::CustomerIdMismatch.into());
    }
    let mint = Mint {
        session_id: authed.session.id(),
        max_expires_at: authed.session.max_expires_at,
        minter: &authed.token_id,
        root: authed.root(),
        channel,
        level: authed.login.level,
        // A token opening a channel is no kiosk's doing, whatever channel it names.
        kiosk: None,
    };
    sessions::mint(state, &mint, &customer)
        .await?
        // Signed out (or the session ended) since the token was checked.
        .ok_or(OpenError::Session(SessionError::InvalidToken))
}

/// A QR code for handing this login's session over to a kiosk: stored only as its hash,
/// with the session and the login that made it (the kiosk's login is minted from it), for
/// `qr_ttl`. The code and when it expires.
pub async fn issue_qr(
    state: &AppState,
    authed: &Authenticated,
) -> Result<(QrToken, chrono::DateTime<Utc>), StoreError> {
    let qr = QrToken::issue();
    let expires = Utc::now() + state.config.qr_ttl;
    let grant = QrGrant {
        session_id: authed.session.id().to_string(),
        issuer_token_id: authed.token_id.clone(),
        issuer_root: Some(authed.root().to_string()),
        phone: authed.session.phone.clone(),
        max_expires_at: authed.session.max_expires_at,
    };
    state
        .store
        .put_qr(&qr.hash, &grant, expires.timestamp())
        .await?;
    Ok((qr, expires))
}

/// Why a QR handoff failed.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// Malformed, unknown, expired or used; or its session or maker is gone. One answer.
    #[error("QR code is invalid, expired or already used")]
    InvalidCode,
    #[error(transparent)]
    Guard(#[from] GuardError),
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<StoreError> for HandoffError {
    fn from(err: StoreError) -> Self {
        HandoffError::Guard(err.into())
    }
}

/// A kiosk's attempt at redeeming a QR code, once its guessing limit has let it try.
pub struct Handoff {
    kiosk: Kiosk,
    tally: Tally,
    /// Epoch milliseconds.
    now: i64,
}

impl Handoff {
    /// Checks the kiosk's guessing limit (per kiosk and source address, with a ceiling
    /// per kiosk): five free failures, then a doubling lock. Plenty for a customer whose
    /// code expired, far too few to guess a 160-bit code.
    pub async fn begin(
        state: &AppState,
        kiosk: &Kiosk,
        source: &str,
    ) -> Result<Self, HandoffError> {
        let guard = Guard::qr_codes(&kiosk.id, source);
        let now = Utc::now().timestamp_millis();
        let buckets = state.store.buckets(guard.keys()).await?;
        let tally = guard.tally(buckets);
        if let Some(wait) = tally.retry_after(now) {
            return Err(GuardError::Locked(wait).into());
        }
        Ok(Self {
            kiosk: kiosk.clone(),
            tally,
            now,
        })
    }

    /// Consumes the code (of two kiosks racing for it, exactly one wins) and mints a
    /// kiosk login at password level on the code's session, from the login that made the
    /// code (it falls when that login is signed out), recording the kiosk and its store.
    pub async fn redeem(self, state: &AppState, code: &str) -> Result<LoginResponse, HandoffError> {
        let grant = match QrToken::hash_of_presented(code) {
            Some(hash) => state.store.consume_qr(&hash, self.now / 1000).await?,
            None => None,
        };
        let Some(grant) = grant else {
            self.tally.failed(&state.store, self.now).await?;
            return Err(HandoffError::InvalidCode);
        };
        self.tally.succeeded(&state.store).await?;
        let phone = PhoneNumber::from_stored(grant.phone.clone());
        let customer = state
            .store
            .customer_by_phone(&phone)
            .await?
            .ok_or(HandoffError::InvalidCode)?;
        let mint = Mint {
            session_id: &grant.session_id,
            max_expires_at: grant.max_expires_at,
            minter: &grant.issuer_token_id,
            root: grant
                .issuer_root
                .as_deref()
                .unwrap_or(&grant.issuer_token_id),
            channel: Channel::Kiosk,
            level: Level::Password,
            kiosk: Some(&self.kiosk),
        };
        // The code was good but its session ended, or its maker logged out, meanwhile.
        sessions::mint(state, &mint, &customer)
            .await?
            .ok_or(HandoffError::InvalidCode)
    }
}
