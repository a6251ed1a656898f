//! A customer's new phone number (`POST /auth/phone/change`), proven by a code sent to
//! it: the record and the live session move to it in one transaction, every login keeps
//! working, and the old number is free (it can sign up afresh).

use crate::AppState;
use crate::codes::{Code, Purpose};
use crate::events::{self, AccountEvent, EventKind};
use crate::model::LoginResponse;
use crate::phone::PhoneNumber;
use crate::service::proof::redeem_code;
use crate::sessions::{self, Authenticated, SessionError};
use crate::store::{Renumbered, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RenumberError {
    /// Wrong, expired or used up: one answer.
    #[error("the code is wrong, expired or already used; request a new one")]
    InvalidCode,
    #[error("the new number is the account's number already")]
    SameNumber,
    /// Another customer has the new number.
    #[error("the new number belongs to another account")]
    Taken,
    /// The account is known by a WhatsApp user id, not a number: a `login` code proves a
    /// number for it.
    #[error("this account has no phone number to change; log in with a code to add one")]
    NoNumber,
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<StoreError> for RenumberError {
    fn from(err: StoreError) -> Self {
        RenumberError::Session(err.into())
    }
}

/// Tries of a move that raced another write to the record or the session.
const ATTEMPTS: usize = 4;

/// Moves the account of `authed` (a `password`-level login) to `to`, once `code` (sent
/// to `to` for `change_phone`) is right. The answer is that login's, on the new number.
pub async fn change_number(
    state: &AppState,
    authed: &Authenticated,
    token: &str,
    to: &PhoneNumber,
    code: &Code,
) -> Result<LoginResponse, RenumberError> {
    let from = PhoneNumber::from_stored(authed.session.phone.clone());
    if !from.is_phone() {
        return Err(RenumberError::NoNumber);
    }
    if from == *to {
        return Err(RenumberError::SameNumber);
    }
    // The code first: only who holds the new number learns whether it is taken.
    if !redeem_code(state, Purpose::ChangePhone, to, code).await? {
        return Err(RenumberError::InvalidCode);
    }
    let mut moved = None;
    for _ in 0..ATTEMPTS {
        let (customer, session) = tokio::try_join!(
            state.store.customer_by_phone(&from),
            state.store.session_in_batch(authed.session.id()),
        )?;
        let customer = customer.ok_or(SessionError::CustomerGone)?;
        let session = session.filter(|s| s.phone == from.as_str() && s.merged_into.is_none());
        match state
            .store
            .change_number(&customer, session.as_ref(), to)
            .await?
        {
            Renumbered::Changed => {
                moved = Some(customer);
                break;
            }
            Renumbered::Taken => return Err(RenumberError::Taken),
            Renumbered::Retry => continue,
        }
    }
    let customer = moved.ok_or(SessionError::Contended)?;
    if let Some(user) = &customer.whatsapp_user_id {
        state.store.relink_whatsapp_user(user, to).await?;
    }
    let event = AccountEvent::new(EventKind::NumberChange).on(authed.login.channel);
    events::record(state, &customer.customer_id, event).await;
    // The same login, now on the new number.
    let authed = sessions::authenticate(state, Some(token)).await?;
    Ok(sessions::stepped_up(state, &authed, token).await?)
}
