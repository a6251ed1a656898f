//! WhatsApp click-to-verify: a page or kiosk shows a `wa.me` link whose prefilled text is
//! a one-time secret; the customer sends it from their WhatsApp; Meta's signed delivery
//! proves which phone sent it, and the page's poll becomes a `password`-level login of
//! that phone (or steps the page's own login up). No message goes out: no template fee.
//!
//! Two secrets: the text (≥ 40 bits, typed by nobody, seen by the customer and Meta) names
//! the link (its HMAC is the public `link_id`); the `link_secret` (256 bits, only its hash
//! stored) is the page's alone, so that seeing someone's text or link id on their screen
//! is not enough to collect the login it turns into.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::channel::Channel;
use crate::codes::{LINK_TTL_SECS, LinkText};
use crate::kiosks::Kiosk;
use crate::logins::{Maker, NewLogin};
use crate::model::LoginResponse;
use crate::phone::PhoneNumber;
use crate::secrets::{SecretString, constant_time_eq, fingerprint};
use crate::sessions::{self, Assurance, Authenticated, SessionError};
use crate::store::{NewLink, StoreError, StoredLink};
use crate::token::Level;

/// Links per hour from one address without a kiosk key (a web page): a household behind
/// one address, with reloads, and a ceiling on filling the table.
pub const LINKS_PER_ADDRESS_HOUR: u32 = 30;
/// Links per hour from one kiosk: a busy store's counter.
pub const LINKS_PER_KIOSK_HOUR: u32 = 120;
/// Draws of a text whose link id was taken (55 bits: in practice never twice).
const DRAWS: usize = 3;

/// Who asks for a link, and what it is for.
pub struct LinkRequest<'a> {
    /// `web`, or `kiosk` with `kiosk` (of the request's key): the channel of the login it
    /// becomes.
    pub channel: Channel,
    pub kiosk: Option<&'a Kiosk>,
    /// The caller's address, for the limit of a page without a kiosk key.
    pub address: &'a str,
    /// A step-up link: the login it raises in place.
    pub step_up: Option<&'a Authenticated>,
}

/// A new link, for its maker's answer only: the text and the secret are never stored or
/// logged.
pub struct CreatedLink {
    pub link_id: String,
    pub link_secret: SecretString,
    pub text: LinkText,
    /// `https://wa.me/<business number>?text=<the text, percent-encoded>`.
    pub wa_url: String,
    pub expires_at: DateTime<Utc>,
}

/// A poll of a link, with the credentials it was made with.
pub struct Poll<'a> {
    pub link_id: &'a str,
    /// `X-Link-Secret`.
    pub secret: &'a str,
    /// The kiosk of `X-Kiosk-Key`: a kiosk link is collected by the kiosk that made it
    /// (by its id: a rotation in between does not strand the link).
    pub kiosk: Option<&'a Kiosk>,
    /// The session token: a step-up link is collected by the login it raises.
    pub token: Option<&'a str>,
}

/// What a poll finds.
pub enum Polled {
    /// The customer's message has not arrived yet.
    Pending { expires_at: DateTime<Utc> },
    /// It arrived: the login (new, or the stepped-up one), handed out once.
    Login(Box<LoginResponse>),
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A setting this feature needs is missing; names it.
    #[error("click-to-verify is not set up here: {0} is not configured")]
    NotConfigured(&'static str),
    /// The caller's hourly share of links; seconds until the next is accepted.
    #[error("too many links made lately; retry in {0} seconds")]
    TooMany(u64),
    /// No such link, or not this secret: one answer, so ids cannot be probed.
    #[error("no such link")]
    Unknown,
    /// Expired, or already collected.
    #[error("the link has expired or was already used")]
    Gone,
    /// A kiosk link polled without the key of the kiosk that made it.
    #[error("the link was made by another kiosk")]
    OtherKiosk,
    /// A step-up link polled with another login's token.
    #[error("the link was made for another login")]
    OtherLogin,
    /// A step-up link sent from a phone that is not the session's: used up.
    #[error("the link was sent from another phone number than the session's")]
    OtherPhone,
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<StoreError> for LinkError {
    fn from(err: StoreError) -> Self {
        LinkError::Session(err.into())
    }
}

/// Makes a link after counting it against its maker's hourly limit.
pub async fn create_link(
    state: &AppState,
    request: LinkRequest<'_>,
) -> Result<CreatedLink, LinkError> {
    let number = state
        .config
        .whatsapp_business_number
        .as_deref()
        .ok_or(LinkError::NotConfigured("WHATSAPP_BUSINESS_NUMBER"))?;
    // Without the key the webhook could not find the link its text names.
    let secrets = state.secrets().await;
    let Some(key) = secrets.code_keys.current() else {
        return Err(LinkError::NotConfigured("CODE_HMAC_KEY"));
    };
    let now = Utc::now();
    count_maker(state, &request, now.timestamp()).await?;
    let link_secret = SecretString::new(URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()));
    // Whole seconds, as stored: the polls' `expires_at` is the same instant.
    let expires_at =
        DateTime::from_timestamp(now.timestamp() + LINK_TTL_SECS, 0).unwrap_or_default();
    for _ in 0..DRAWS {
        let text = LinkText::draw();
        let link = NewLink {
            link_id: text.link_id(key),
            secret_hash: secret_hash(link_secret.expose()),
            channel: request.channel.as_str().to_string(),
            kiosk: request.kiosk.map(|kiosk| kiosk.id.clone()),
            step_up: request
                .step_up
                .map(|authed| (authed.session.id().to_string(), authed.token_id.clone())),
            expires_at: expires_at.timestamp(),
        };
        if state.store.put_walink(&link).await? {
            return Ok(CreatedLink {
                wa_url: format!(
                    "https://wa.me/{number}?text={}",
                    percent_encode(text.expose())
                ),
                link_id: link.link_id,
                link_secret,
                text,
                expires_at,
            });
        }
    }
    Err(StoreError::Unexpected("click-to-verify link ids kept colliding".into()).into())
}

async fn count_maker(
    state: &AppState,
    request: &LinkRequest<'_>,
    now: i64,
) -> Result<(), LinkError> {
    let (window, cap) = match request.kiosk {
        Some(kiosk) => (format!("walink#kiosk#{}", kiosk.id), LINKS_PER_KIOSK_HOUR),
        None => (
            format!("walink#ip#{}", fingerprint(request.address)),
            LINKS_PER_ADDRESS_HOUR,
        ),
    };
    match state.store.count_this_hour(&window, cap, now).await? {
        Some(wait) => Err(LinkError::TooMany(wait)),
        None => Ok(()),
    }
}

/// What a WhatsApp message carrying a link text did.
#[derive(Debug, PartialEq, Eq)]
pub enum Bound {
    /// The link is bound to the sender (now, or by an earlier delivery of the message).
    Bound,
    /// No live link has this text, or another phone sent it first.
    Unknown,
}

/// Binds the link whose text `text` is to the phone that sent it on WhatsApp. A
/// redelivery of the same message binds nothing new; of two phones sending the same
/// text, the first one's binding stands.
pub async fn bind_from_whatsapp(
    state: &AppState,
    text: &LinkText,
    sender: &PhoneNumber,
    name: Option<&str>,
) -> Result<Bound, StoreError> {
    let secrets = state.secrets().await;
    if secrets.code_keys.is_empty() {
        // Every text would name no link: said loudly, since customers see nothing happen.
        tracing::error!(
            "CODE_HMAC_KEY is not configured for the webhook: click-to-verify texts cannot be matched"
        );
        return Ok(Bound::Unknown);
    }
    let now = Utc::now().timestamp();
    // The current key first; during a rotation a link made just before it was stored
    // under the previous one.
    for key in secrets.code_keys.iter() {
        let link_id = text.link_id(key);
        if state
            .store
            .bind_walink(&link_id, sender.as_str(), name, now)
            .await?
        {
            return Ok(Bound::Bound);
        }
    }
    Ok(Bound::Unknown)
}

/// A poll: pending until the customer's message has arrived, then the login once, then
/// gone.
pub async fn poll_link(state: &AppState, poll: Poll<'_>) -> Result<Polled, LinkError> {
    if !well_formed_id(poll.link_id) {
        return Err(LinkError::Unknown);
    }
    let link = state
        .store
        .walink(poll.link_id)
        .await?
        .filter(|stored| {
            constant_time_eq(
                secret_hash(poll.secret).as_bytes(),
                stored.link.secret_hash.as_bytes(),
            )
        })
        .ok_or(LinkError::Unknown)?;
    let now = Utc::now().timestamp();
    if link.used || link.link.expires_at <= now {
        return Err(LinkError::Gone);
    }
    // Whose link it is is checked before anything is used up: a poll with the wrong
    // credentials leaves the link to its maker.
    if let Some(made_by) = &link.link.kiosk
        && poll.kiosk.map(|kiosk| &kiosk.id) != Some(made_by)
    {
        return Err(LinkError::OtherKiosk);
    }
    let step_up = match &link.link.step_up {
        Some((session_id, token_id)) => {
            let authed = sessions::authenticate(state, poll.token).await?;
            if authed.session.id() != session_id || &authed.token_id != token_id {
                return Err(LinkError::OtherLogin);
            }
            Some(authed)
        }
        None => None,
    };
    let Some(sender) = link.sender.clone() else {
        return Ok(Polled::Pending {
            expires_at: DateTime::from_timestamp(link.link.expires_at, 0).unwrap_or_default(),
        });
    };
    if !state.store.redeem_walink(poll.link_id, now).await? {
        // Another poll collected it a moment ago, or it expired meanwhile.
        return Err(LinkError::Gone);
    }
    let login = collect(state, &link, sender, step_up, &poll).await;
    if matches!(&login, Err(e) if !matches!(e, LinkError::OtherPhone)) {
        state.store.unredeem_walink(poll.link_id, now).await;
    }
    login.map(|login| Polled::Login(Box::new(login)))
}

/// The login a redeemed link turns into: a kiosk link's is made at the polling kiosk (the
/// one that made it, as checked).
async fn collect(
    state: &AppState,
    link: &StoredLink,
    sender: String,
    step_up: Option<Authenticated>,
    poll: &Poll<'_>,
) -> Result<LoginResponse, LinkError> {
    let phone = PhoneNumber::from_stored(sender);
    if let (Some(mut authed), Some(token)) = (step_up, poll.token) {
        if authed.session.phone != phone.as_str() {
            return Err(LinkError::OtherPhone);
        }
        sessions::step_up(state, &mut authed).await?;
        return Ok(sessions::stepped_up(state, &authed, token).await?);
    }
    let login = match (&link.link.kiosk, poll.kiosk) {
        (Some(_), Some(kiosk)) => NewLogin::at_kiosk(Level::Password, kiosk),
        (Some(_), None) => return Err(LinkError::OtherKiosk),
        (None, _) => NewLogin::direct(Channel::Web, Level::Password, Maker::Password),
    };
    // A new login (not a step-up): its answer counts it (`metrics`).
    crate::metrics::login_attempt(login.channel);
    Ok(sessions::phone_login(
        state,
        &phone,
        link.sender_name.as_deref(),
        None,
        login,
        Assurance::Proven,
    )
    .await?)
}

/// A link id as [`LinkText::link_id`] makes them: 32 lowercase hex digits.
fn well_formed_id(link_id: &str) -> bool {
    link_id.len() == 32
        && link_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Percent-encodes all but RFC 3986's unreserved characters, for a query value.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_percent_encoded_and_recognised_back() {
        let text = LinkText::draw();
        let encoded = percent_encode(text.expose());
        assert!(
            encoded.starts_with("Log%20me%20in%20with%20this%20number%3A%20"),
            "{encoded}"
        );
        assert!(!encoded.contains(' '));
        assert_eq!(percent_encode("a~b/é"), "a~b%2F%C3%A9");
    }

    #[test]
    fn link_ids_are_lowercase_hex_of_32() {
        let key = SecretString::new("k".repeat(32));
        assert!(well_formed_id(&LinkText::draw().link_id(&key)));
        for bad in [
            "",
            "ABCDEF0123456789abcdef0123456789",
            "0123",
            "g".repeat(32).as_str(),
        ] {
            assert!(!well_formed_id(bad), "{bad}");
        }
    }
}
