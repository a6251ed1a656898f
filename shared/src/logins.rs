//! The logins of a session: who made each one, which ones still stand, and which ones a
//! new login may push out.
//!
//! Every login records its **maker**: the password, the WhatsApp provider, a kiosk, or
//! another login of the session that minted it (`POST /session/start` with a token, the QR
//! handoff). Minted logins form a tree under the direct login at its **root**, and stand
//! only while that root does: ending a login also ends whatever was opened from it,
//! including anything minted in a race with the revocation.
//!
//! A session keeps a bounded number of logins, and a login is only ever pushed out by a
//! login of the same maker (the same group below), least recently used first: nobody can
//! sign the customer out of a channel they did not open, nor choose whom to evict.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::kiosks::Kiosk;
use crate::store::TokenEntry;
use crate::token::Level;

/// Who made a login.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Maker {
    /// A password login (`/auth/login`, signup).
    Password,
    /// The WhatsApp provider's signed `/session/login`.
    Whatsapp,
    /// A registered kiosk, by its id (`crate::kiosks`), typing a phone number or taking a
    /// code. Logins made before the registry hold the fingerprint of the kiosk's key
    /// instead: another kiosk's id, as far as grouping goes.
    Kiosk(String),
    /// Another login of the same session, by its token id.
    Login(String),
}

impl fmt::Display for Maker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Maker::Password => f.write_str("password"),
            Maker::Whatsapp => f.write_str("whatsapp"),
            Maker::Kiosk(key) => write!(f, "kiosk:{key}"),
            Maker::Login(token_id) => write!(f, "login:{token_id}"),
        }
    }
}

impl From<Maker> for String {
    fn from(maker: Maker) -> String {
        maker.to_string()
    }
}

impl TryFrom<String> for Maker {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        match raw.split_once(':') {
            None if raw == "password" => Ok(Maker::Password),
            None if raw == "whatsapp" => Ok(Maker::Whatsapp),
            Some(("kiosk", key)) => Ok(Maker::Kiosk(key.to_string())),
            Some(("login", token_id)) => Ok(Maker::Login(token_id.to_string())),
            _ => Err(format!("unknown login maker {raw:?}")),
        }
    }
}

/// The logins that may push each other out, with how many of them a session keeps.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    Password,
    Whatsapp,
    Kiosk(String),
    /// Everything minted under one root login.
    Minted(String),
}

impl Group {
    /// So a session holds at most (10 + 2 + 4) direct logins with one kiosk, each with at
    /// most 3 minted under it; each further kiosk adds 4 × (1 + 3).
    fn quota(&self) -> usize {
        match self {
            // Browsers and devices a customer logs in on with their password.
            Group::Password => 10,
            Group::Whatsapp => 2,
            Group::Kiosk(_) => 4,
            Group::Minted(_) => 3,
        }
    }
}

/// How many logins one root may mint per hour ([`crate::sessions::mint`]).
pub const MINTS_PER_HOUR: u32 = 10;

/// What a new login is, before it has a token.
#[derive(Clone, Debug)]
pub struct NewLogin {
    pub channel: Channel,
    pub level: Level,
    pub maker: Maker,
    /// The root of the minting login; `None` for a direct login (its own root).
    pub root: Option<String>,
    /// The kiosk the login is made at (by its key, or handed over by QR code), recorded
    /// with the login, its account event and the session's stores.
    pub kiosk: Option<Kiosk>,
}

impl NewLogin {
    /// A direct login (password, WhatsApp, a code, a link): its own root.
    pub fn direct(channel: Channel, level: Level, maker: Maker) -> Self {
        Self {
            channel,
            level,
            maker,
            root: None,
            kiosk: None,
        }
    }

    /// A direct login made by `kiosk` with its key (a typed phone, a code, a link).
    pub fn at_kiosk(level: Level, kiosk: &Kiosk) -> Self {
        Self {
            kiosk: Some(kiosk.clone()),
            ..Self::direct(Channel::Kiosk, level, Maker::Kiosk(kiosk.id.clone()))
        }
    }
}

/// What a session keeps of each of its logins: enough to tell which ones stand and which
/// ones a new login pushes out. The token's hash, channel and issue time are in the
/// login's own item, so that the session item stays small whatever its number of logins.
/// Stored as one short string, `"<level> <last used, epoch ms> <group>"`: `P` for a
/// password-level login, `p` for phone level; `pw`, `wa`, `k:<kiosk id>` or
/// `m:<root token id>` (e.g. `"P 1796112000000 pw"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LoginMark {
    pub level: Level,
    pub group: Group,
    /// When the login was last used (or made), epoch milliseconds (logins made in the
    /// same second still order): written at most once per touch interval, for
    /// least-recently-used eviction.
    pub last_used: i64,
}

impl LoginMark {
    /// The mark of a new login made by `maker` (minted under `root`, if any).
    pub fn new(level: Level, maker: &Maker, root: Option<&str>, now: i64) -> Self {
        let group = match (maker, root) {
            (Maker::Password, _) => Group::Password,
            (Maker::Whatsapp, _) => Group::Whatsapp,
            (Maker::Kiosk(key), _) => Group::Kiosk(key.clone()),
            (Maker::Login(minter), root) => Group::Minted(root.unwrap_or(minter).to_string()),
        };
        Self {
            level,
            group,
            last_used: now,
        }
    }

    /// The mark of a login stored whole in its session, before marks.
    pub fn of_entry(token_id: &str, entry: &TokenEntry) -> Self {
        let last_used = entry.last_used_at.as_deref().unwrap_or(&entry.issued_at);
        Self {
            level: entry.level,
            group: group_of(token_id, entry),
            last_used: chrono::DateTime::parse_from_rfc3339(last_used)
                .map_or(0, |t| t.timestamp_millis()),
        }
    }

    /// The root this login stands on: its own id for a direct login.
    pub fn root<'a>(&'a self, token_id: &'a str) -> &'a str {
        match &self.group {
            Group::Minted(root) => root,
            _ => token_id,
        }
    }
}

impl fmt::Display for LoginMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Password => "P",
            Level::Phone => "p",
        };
        let group = match &self.group {
            Group::Password => "pw".to_string(),
            Group::Whatsapp => "wa".to_string(),
            Group::Kiosk(key) => format!("k:{key}"),
            Group::Minted(root) => format!("m:{root}"),
        };
        write!(f, "{level} {} {group}", self.last_used)
    }
}

impl From<LoginMark> for String {
    fn from(mark: LoginMark) -> String {
        mark.to_string()
    }
}

impl TryFrom<String> for LoginMark {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        let bad = || format!("a login mark is \"<P|p> <epoch> <group>\", not {raw:?}");
        let mut parts = raw.splitn(3, ' ');
        let level = match parts.next() {
            Some("P") => Level::Password,
            Some("p") => Level::Phone,
            _ => return Err(bad()),
        };
        let last_used = parts.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
        let group = match parts.next().ok_or_else(bad)? {
            "pw" => Group::Password,
            "wa" => Group::Whatsapp,
            other => match other.split_once(':') {
                Some(("k", key)) => Group::Kiosk(key.to_string()),
                Some(("m", root)) if !root.is_empty() => Group::Minted(root.to_string()),
                _ => return Err(bad()),
            },
        };
        Ok(Self {
            level,
            group,
            last_used,
        })
    }
}

/// The root of a login: its own id for a direct login (and for logins stored before roots
/// were recorded).
pub fn root_of<'a>(token_id: &'a str, entry: &'a TokenEntry) -> &'a str {
    entry.root.as_deref().unwrap_or(token_id)
}

/// Whether a login still stands: a minted login falls with its root.
pub fn stands(token_id: &str, mark: &LoginMark, logins: &HashMap<String, LoginMark>) -> bool {
    let root = mark.root(token_id);
    root == token_id || logins.contains_key(root)
}

fn group_of(token_id: &str, entry: &TokenEntry) -> Group {
    match &entry.by {
        Some(Maker::Password) => Group::Password,
        Some(Maker::Whatsapp) => Group::Whatsapp,
        Some(Maker::Kiosk(key)) => Group::Kiosk(key.clone()),
        Some(Maker::Login(_)) => Group::Minted(root_of(token_id, entry).to_string()),
        // Logins stored before makers were recorded: by how they were proven.
        None => match (entry.level, entry.channel) {
            (Level::Password, _) => Group::Password,
            (Level::Phone, Channel::Whatsapp) => Group::Whatsapp,
            (Level::Phone, Channel::Kiosk) => Group::Kiosk(String::new()),
            (Level::Phone, Channel::Web) => Group::Minted(token_id.to_string()),
        },
    }
}

/// The logins to remove from a session: those that no longer stand, and in each group
/// beyond its quota the lowest-level, least recently used ones.
pub fn to_evict(logins: &HashMap<String, LoginMark>) -> Vec<String> {
    let mut evict = Vec::new();
    let mut groups: HashMap<&Group, Vec<(&String, &LoginMark)>> = HashMap::new();
    for (id, mark) in logins {
        if stands(id, mark, logins) {
            groups.entry(&mark.group).or_default().push((id, mark));
        } else {
            evict.push(id.clone());
        }
    }
    for (group, mut members) in groups {
        let extra = members.len().saturating_sub(group.quota());
        if extra == 0 {
            continue;
        }
        members.sort_by(|(a_id, a), (b_id, b)| {
            (a.level, a.last_used, a_id).cmp(&(b.level, b.last_used, b_id))
        });
        evict.extend(members.into_iter().take(extra).map(|(id, _)| id.clone()));
    }
    evict.sort();
    evict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        level: Level,
        channel: Channel,
        by: Maker,
        root: Option<&str>,
        at: &str,
    ) -> TokenEntry {
        TokenEntry {
            hash: String::new(),
            channel,
            level,
            issued_at: at.to_string(),
            by: Some(by),
            root: root.map(str::to_string),
            last_used_at: None,
            kiosk: None,
            store: None,
        }
    }

    /// What the session item keeps of each login.
    fn marks(logins: &HashMap<String, TokenEntry>) -> HashMap<String, LoginMark> {
        logins
            .iter()
            .map(|(id, e)| (id.clone(), LoginMark::of_entry(id, e)))
            .collect()
    }

    #[test]
    fn marks_round_trip_through_their_stored_form() {
        for (mark, stored) in [
            (
                LoginMark::new(Level::Password, &Maker::Password, None, 1796112000),
                "P 1796112000 pw",
            ),
            (
                LoginMark::new(Level::Phone, &Maker::Whatsapp, None, 7),
                "p 7 wa",
            ),
            (
                LoginMark::new(Level::Phone, &Maker::Kiosk("ab12".into()), None, 7),
                "p 7 k:ab12",
            ),
            (
                LoginMark::new(
                    Level::Password,
                    &Maker::Login("minter".into()),
                    Some("root"),
                    7,
                ),
                "P 7 m:root",
            ),
        ] {
            assert_eq!(String::from(mark.clone()), stored);
            assert_eq!(LoginMark::try_from(stored.to_string()), Ok(mark));
        }
        for bad in ["", "P", "X 1 pw", "P x pw", "P 1 zz", "P 1 m:"] {
            assert!(LoginMark::try_from(bad.to_string()).is_err(), "{bad:?}");
        }
    }

    fn at(minute: u32) -> String {
        format!("2026-12-01T10:{minute:02}:00.000Z")
    }

    #[test]
    fn makers_round_trip_through_their_stored_names() {
        for maker in [
            Maker::Password,
            Maker::Whatsapp,
            Maker::Kiosk("ab12".into()),
            Maker::Login("0123456789abcdef".into()),
        ] {
            assert_eq!(Maker::try_from(String::from(maker.clone())), Ok(maker));
        }
        assert!(Maker::try_from("root".to_string()).is_err());
    }

    #[test]
    fn kiosk_logins_only_push_out_their_own_kiosks_logins() {
        let mut logins = HashMap::from([
            (
                "wa".to_string(),
                entry(
                    Level::Phone,
                    Channel::Whatsapp,
                    Maker::Whatsapp,
                    None,
                    &at(0),
                ),
            ),
            (
                "pw".to_string(),
                entry(Level::Password, Channel::Web, Maker::Password, None, &at(0)),
            ),
        ]);
        for i in 0..33 {
            logins.insert(
                format!("k{i:02}"),
                entry(
                    Level::Phone,
                    Channel::Kiosk,
                    Maker::Kiosk("key".into()),
                    None,
                    &at(i + 1),
                ),
            );
        }
        let evict = to_evict(&marks(&logins));
        assert_eq!(evict.len(), 29);
        assert!(!evict.contains(&"wa".to_string()));
        assert!(!evict.contains(&"pw".to_string()));
        // The four most recent kiosk logins stay.
        for kept in ["k29", "k30", "k31", "k32"] {
            assert!(!evict.contains(&kept.to_string()), "{kept}");
        }
    }

    #[test]
    fn the_least_recently_used_login_goes_not_the_newest() {
        let mut logins = HashMap::new();
        for i in 0..11 {
            let mut e = entry(Level::Password, Channel::Web, Maker::Password, None, &at(i));
            if i == 0 {
                // The oldest login, but used a moment ago.
                e.last_used_at = Some(at(59));
            }
            logins.insert(format!("p{i:02}"), e);
        }
        assert_eq!(to_evict(&marks(&logins)), vec!["p01".to_string()]);
    }

    #[test]
    fn minted_logins_fall_with_their_root_and_never_push_it_out() {
        let mut logins = HashMap::from([(
            "root".to_string(),
            entry(Level::Password, Channel::Web, Maker::Password, None, &at(0)),
        )]);
        for i in 0..5 {
            logins.insert(
                format!("m{i}"),
                entry(
                    Level::Password,
                    Channel::Kiosk,
                    Maker::Login("root".into()),
                    Some("root"),
                    &at(i + 1),
                ),
            );
        }
        assert_eq!(
            to_evict(&marks(&logins)),
            vec!["m0".to_string(), "m1".to_string()]
        );
        logins.remove("root");
        assert_eq!(
            to_evict(&marks(&logins)).len(),
            5,
            "every minted login falls with the root"
        );
        assert!(!stands("m4", &marks(&logins)["m4"], &marks(&logins)));
    }

    #[test]
    fn logins_stored_before_makers_were_recorded_still_stand_and_group() {
        let mut legacy = entry(Level::Phone, Channel::Kiosk, Maker::Password, None, &at(0));
        legacy.by = None;
        let logins = HashMap::from([("old".to_string(), legacy)]);
        assert!(stands("old", &marks(&logins)["old"], &marks(&logins)));
        assert!(to_evict(&marks(&logins)).is_empty());
    }
}
