//! Self-service over one's own logins: listing the logins of my session (`GET
//! /auth/sessions`) and ending one of them (`DELETE /auth/sessions/{login_id}`); and the
//! operator's counterpart, ending every login a revoked kiosk made (`kiosk revoke`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;

use crate::AppState;
use crate::channel::Channel;
use crate::events::{self, AccountEvent, EventKind};
use crate::logins::{self, Group};
use crate::model::rfc3339;
use crate::sessions::{Authenticated, SessionError};
use crate::store::{SessionItem, Store, StoreError, StoredLogin, TokenEntry};
use crate::token::Level;

/// Why a login could not be ended.
#[derive(Debug, thiserror::Error)]
pub enum DevicesError {
    /// No standing login of the caller's session has this id (or it ended meanwhile).
    #[error("no login of this session has that id")]
    UnknownLogin,
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<StoreError> for DevicesError {
    fn from(err: StoreError) -> Self {
        DevicesError::Session(err.into())
    }
}

/// One login as its customer sees it: never its token or its hash.
#[derive(Clone, Debug, Serialize)]
pub struct LoginView {
    /// The token id: public, it names the login without opening it.
    pub login_id: String,
    pub channel: Channel,
    pub level: Level,
    pub issued_at: String,
    /// Written at most once per touch interval (an hour), like the session's expiry.
    pub last_used_at: String,
    /// The kiosk a kiosk login was made at (its id; for a kiosk login made before the
    /// kiosk registry, the fingerprint of the kiosk's key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kiosk: Option<String>,
    /// That kiosk's store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// The login that asks.
    pub current: bool,
}

/// The standing logins of `authed`'s session, oldest first. The channel and issue time
/// are in each login's own item: one `BatchGetItem` reads them all, looking in this
/// session and in the sessions merged into it (a merged login's item stays where it was
/// issued). A login whose item is found nowhere cannot authenticate, so it is not shown.
pub async fn list(state: &AppState, authed: &Authenticated) -> Result<Vec<LoginView>, StoreError> {
    let session = &authed.session;
    let marks = session.logins();
    let standing: Vec<(&String, &StoredLogin)> = session
        .tokens
        .iter()
        .filter(|(id, _)| {
            marks
                .get(*id)
                .is_some_and(|m| logins::stands(id, m, &marks))
        })
        .collect();
    let homes: Vec<&str> = std::iter::once(session.id())
        .chain(session.merged_from.iter().map(String::as_str))
        .collect();
    let keys: Vec<(&str, &str)> = standing
        .iter()
        .filter(|(_, stored)| matches!(stored, StoredLogin::Mark(_)))
        .flat_map(|(id, _)| homes.iter().map(move |home| (*home, id.as_str())))
        .collect();
    let items = if keys.is_empty() {
        Default::default()
    } else {
        state.store.login_items(&keys).await?
    };
    let mut views: Vec<LoginView> = standing
        .into_iter()
        .filter_map(|(id, stored)| {
            let entry: TokenEntry = match stored {
                StoredLogin::Whole(entry) => entry.clone(),
                StoredLogin::Mark(_) => homes
                    .iter()
                    .find_map(|home| items.get(&(home.to_string(), id.clone())))?
                    .clone(),
            };
            let mark = marks.get(id)?;
            Some(LoginView {
                login_id: id.clone(),
                channel: entry.channel,
                level: mark.level,
                issued_at: entry.issued_at,
                last_used_at: DateTime::<Utc>::from_timestamp_millis(mark.last_used)
                    .map(rfc3339)
                    .unwrap_or_default(),
                kiosk: entry.kiosk.or_else(|| kiosk_of(&mark.group)),
                store: entry.store,
                current: *id == authed.token_id,
            })
        })
        .collect();
    views.sort_by(|a, b| (&a.issued_at, &a.login_id).cmp(&(&b.issued_at, &b.login_id)));
    Ok(views)
}

fn kiosk_of(group: &Group) -> Option<String> {
    match group {
        // Logins stored before makers were recorded name no kiosk.
        Group::Kiosk(key) if !key.is_empty() => Some(key.clone()),
        _ => None,
    }
}

/// Ends the login `login_id` of `authed`'s session (the caller's own included, like a
/// logout): its token stops working at once, and what was minted from it falls with it.
/// The caller must be at `password` level (checked by the handler).
pub async fn end(
    state: &AppState,
    authed: &Authenticated,
    login_id: &str,
) -> Result<(), DevicesError> {
    let marks = authed.session.logins();
    let mark = marks
        .get(login_id)
        .filter(|mark| logins::stands(login_id, mark, &marks))
        .ok_or(DevicesError::UnknownLogin)?;
    let event = AccountEvent::new(EventKind::Revocation)
        .on(authed.login.channel)
        .of_login(login_id, Some(mark));
    if !end_standing(&state.store, &authed.session, login_id, event).await? {
        // Ended meanwhile (a logout, an eviction): it is gone either way.
        return Err(DevicesError::UnknownLogin);
    }
    Ok(())
}

/// Ends the login `login_id` standing in `session`, recording `event` for the session's
/// customer beside it (one round trip): its token stops working at once, and the logins
/// minted from it fall with it. `false` if it had ended meanwhile.
async fn end_standing(
    store: &Store,
    session: &SessionItem,
    login_id: &str,
    event: AccountEvent,
) -> Result<bool, StoreError> {
    let (ended, ()) = tokio::join!(
        store.revoke_token(session.id(), login_id),
        events::record_in(store, &session.customer_id, event),
    );
    ended
}

/// Sessions whose kiosk logins [`end_kiosk_logins`] ends at once.
const PARALLEL_SESSIONS: usize = 8;

/// Ends every standing login that the kiosk `kiosk_id` made, each as `DELETE
/// /auth/sessions/{login_id}` ends one, with a `Revocation` event naming the kiosk: what
/// `omnisession-admin kiosk revoke` does once the kiosk's key is revoked, so that tokens
/// made with a stolen key die with it. Returns how many it ended; logins ended already, and
/// those of expired sessions, are left alone, so running it again ends only what was made
/// since.
pub async fn end_kiosk_logins(store: &Store, kiosk_id: &str) -> Result<usize, StoreError> {
    let mut by_session: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (issued_in, login_id) in store.kiosk_logins(kiosk_id).await? {
        by_session.entry(issued_in).or_default().push(login_id);
    }
    stream::iter(by_session)
        .map(|(issued_in, login_ids)| end_in_session(store, kiosk_id, issued_in, login_ids))
        .buffer_unordered(PARALLEL_SESSIONS)
        .try_fold(0, |total, ended| async move { Ok(total + ended) })
        .await
}

/// Ends those of `login_ids` (issued in the session `issued_in`, made by the kiosk
/// `kiosk_id`) that still stand; how many.
async fn end_in_session(
    store: &Store,
    kiosk_id: &str,
    issued_in: String,
    login_ids: Vec<String>,
) -> Result<usize, StoreError> {
    let Some(session) = live_session(store, &issued_in).await? else {
        return Ok(0);
    };
    let marks = session.logins();
    let mut ended = 0;
    for login_id in login_ids {
        let Some(mark) = marks
            .get(&login_id)
            .filter(|mark| logins::stands(&login_id, mark, &marks))
        else {
            continue;
        };
        let mut event = AccountEvent::new(EventKind::Revocation).of_login(&login_id, Some(mark));
        // A QR handoff's login is minted from the phone's: its mark names no kiosk.
        event.kiosk = Some(kiosk_id.to_string());
        if end_standing(store, &session, &login_id, event).await? {
            ended += 1;
        }
    }
    Ok(ended)
}

/// The live session where the logins issued in `issued_in` stand: that one, or the one it
/// was merged into (as `sessions::authenticate` finds it).
async fn live_session(store: &Store, issued_in: &str) -> Result<Option<SessionItem>, StoreError> {
    let session = match store.session(issued_in).await? {
        Some(SessionItem {
            merged_into: Some(target),
            ..
        }) => store.session(&target).await?,
        session => session,
    };
    Ok(session.filter(|s| s.expires_at > Utc::now().timestamp() && s.merged_into.is_none()))
}
