//! The account and its logins: signing up, changing the password, ending one login, every
//! login, or the whole session.

use chrono::Utc;

use crate::AppState;
use crate::channel::Channel;
use crate::events::{self, AccountEvent, EventKind};
use crate::guard::{self, GuardError};
use crate::logins::{Maker, NewLogin};
use crate::model::{LoginResponse, rfc3339};
use crate::passwords::Password;
use crate::phone::PhoneNumber;
use crate::sessions::{self, Authenticated, SessionError};
use crate::store::{CreateCustomer, CustomerItem, JoinTerms, StoreError};
use crate::token::Level;

/// Why a signup failed.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    /// The phone has an account: whatever the password (signup is no password oracle).
    #[error("the phone number is already registered")]
    PhoneTaken,
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<StoreError> for SignupError {
    fn from(err: StoreError) -> Self {
        SignupError::Session(err.into())
    }
}

/// Creates the customer (`customer`, whose id may be redrawn on a collision) with
/// `password`, and logs them in on `channel`.
pub async fn signup(
    state: &AppState,
    mut customer: CustomerItem,
    password: &Password,
    channel: Channel,
) -> Result<LoginResponse, SignupError> {
    // A signup proves nothing about the phone: the account stays unproven (its session
    // its own) until a code or click-to-verify proves it.
    customer.unproven = true;
    customer.password_hash = Some(
        state
            .passwords
            .hash(password)
            .await
            .map_err(|e| SignupError::Hashing(e.to_string()))?,
    );
    loop {
        match state.store.create_customer(&customer).await? {
            CreateCustomer::Created => break,
            CreateCustomer::PhoneTaken => return Err(SignupError::PhoneTaken),
            // A random 64-bit id collided: draw another.
            CreateCustomer::IdTaken => customer.customer_id = CustomerItem::generate_id(),
        }
    }
    let login = NewLogin::direct(channel, Level::Password, Maker::Password);
    let found = sessions::find(state, &customer.phone()).await?;
    let terms = JoinTerms {
        password_version: Some(customer.password_version),
        ..JoinTerms::default()
    };
    Ok(sessions::enter(state, &customer, login, terms, found).await?)
}

/// Why a password change failed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// `current_password` is not the current password (a failed attempt, counted like a
    /// failed login), or another change got in first.
    #[error("the current password does not match")]
    WrongPassword,
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    Guard(#[from] GuardError),
}

impl From<StoreError> for PasswordError {
    fn from(err: StoreError) -> Self {
        PasswordError::Guard(err.into())
    }
}

/// Sets a new password and signs every login out, `authed` included. A wrong `current`
/// is a failed password attempt (the same guessing limits as a login, from `source`), so
/// a stolen token cannot be used to guess the password.
pub async fn change_password(
    state: &AppState,
    authed: &Authenticated,
    source: &str,
    current: &Password,
    new: &Password,
) -> Result<(), PasswordError> {
    let phone = PhoneNumber::from_stored(authed.session.phone.clone());
    let customer = guard::check_password(state, &phone, source, current)
        .await?
        .ok_or(PasswordError::WrongPassword)?;
    let hash = state
        .passwords
        .hash(new)
        .await
        .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    let version = state
        .store
        .set_password_hash(
            &phone,
            &hash,
            customer.password_hash.as_deref(),
            &rfc3339(Utc::now()),
        )
        .await?
        // Another change got in first: the current password is no longer this one.
        .ok_or(PasswordError::WrongPassword)?;
    // The new version goes with the revocation: a password login checked against the
    // old password a moment ago cannot join afterwards.
    let (revoked, ()) = tokio::join!(
        state
            .store
            .revoke_all_tokens(authed.session.id(), Some(version)),
        events::record(
            state,
            &customer.customer_id,
            by(authed, EventKind::PasswordChange)
        ),
    );
    revoked?;
    Ok(())
}

/// Ends the login `authed`: its token stops working at once, the customer's other
/// logins stay (logging out of a public kiosk leaves the phone signed in).
pub async fn log_out(state: &AppState, authed: &Authenticated) -> Result<(), StoreError> {
    let mark = authed
        .session
        .tokens
        .get(&authed.token_id)
        .map(|s| s.mark(&authed.token_id));
    let event = by(authed, EventKind::Logout).of_login(&authed.token_id, mark.as_ref());
    let (revoked, ()) = tokio::join!(
        state
            .store
            .revoke_token(authed.session.id(), &authed.token_id),
        events::record(state, &authed.session.customer_id, event),
    );
    revoked?;
    Ok(())
}

/// An event `kind` done by the login `authed`.
fn by(authed: &Authenticated, kind: EventKind) -> AccountEvent {
    AccountEvent::new(kind).on(authed.login.channel)
}

/// Signs every login of the session out at once.
pub async fn log_out_everywhere(
    state: &AppState,
    authed: &Authenticated,
) -> Result<(), StoreError> {
    let (revoked, ()) = tokio::join!(
        state.store.revoke_all_tokens(authed.session.id(), None),
        events::record(
            state,
            &authed.session.customer_id,
            by(authed, EventKind::LogoutAll)
        ),
    );
    revoked
}

/// Ends the session on every channel: it and its lock are deleted, so the next login
/// starts afresh.
pub async fn end_session(state: &AppState, authed: &Authenticated) -> Result<(), StoreError> {
    let (ended, ()) = tokio::join!(
        state.store.end_session(&authed.session),
        events::record(
            state,
            &authed.session.customer_id,
            by(authed, EventKind::LogoutAll)
        ),
    );
    ended
}
