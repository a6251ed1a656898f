//! Verification codes and click-to-verify texts: what they look like, how they are drawn
//! (the CSPRNG every token comes from) and how they are kept (only an HMAC under the
//! server's `CODE_HMAC_KEY`, so a copy of the tables does not hold a usable code), and
//! the sliding limits on sending them.

use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::secrets::{SecretString, constant_time_eq};

/// How long a code may be typed back.
pub const CODE_TTL_SECS: i64 = 10 * 60;
/// Wrong tries that end a code.
pub const CODE_TRIES: u32 = 5;
/// How long a click-to-verify link waits for the customer's WhatsApp message.
pub const LINK_TTL_SECS: i64 = 10 * 60;

/// What a code is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Logs in (creating the customer of an unknown phone), or steps a login up.
    Login,
    /// Sets a new password and ends every other login.
    Reset,
    /// Sent to a new phone number: proves it, to move the account there.
    ChangePhone,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::Reset => "reset",
            Purpose::ChangePhone => "change_phone",
        }
    }

    /// Every purpose (an erasure deletes each one's code).
    pub const ALL: [Purpose; 3] = [Purpose::Login, Purpose::Reset, Purpose::ChangePhone];
}

/// A six-digit code, as drawn or as typed back. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Code(String);

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Code([redacted])")
    }
}

impl Code {
    /// A fresh code, uniform over 000000–999999.
    pub fn draw() -> Self {
        Self(format!("{:06}", rand::random_range(0..1_000_000u32)))
    }

    /// A code as a client typed it: six ASCII digits (spaces and dashes, which people
    /// type to group digits, are ignored).
    pub fn parse(raw: &str) -> Option<Self> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(Self(digits))
    }

    /// The code itself, for the message that delivers it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored: an HMAC binding the code to its phone and purpose, so that a
    /// code is worth nothing for another phone or another purpose.
    pub fn mac(&self, key: &SecretString, purpose: Purpose, phone: &str) -> String {
        mac(key, &["code", purpose.as_str(), phone, &self.0])
    }
}

/// Whether two stored MACs are the same, in constant time.
pub fn macs_match(a: &str, b: &str) -> bool {
    constant_time_eq(a.as_bytes(), b.as_bytes())
}

fn mac(key: &SecretString, parts: &[&str]) -> String {
    // Any key length is valid for HMAC, so this cannot fail (the callers refuse to work
    // without a key: `CODE_HMAC_KEY`).
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()) else {
        return String::new();
    };
    for part in parts {
        // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Characters of a click-to-verify text: no 0/O, 1/I/L, 5/S, 2/Z or U/V pairs to mistake.
const TEXT_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRTWXY346789";
/// Characters drawn: 12 of 25 is 55.7 bits.
const TEXT_CHARS: usize = 12;
/// What the customer sees in WhatsApp's box before they press send: it says what sending it
/// does, since anyone can make a link and ask a victim to send its text (the page that made
/// it then holds a login of the victim's phone).
const TEXT_PREFIX: &str = "Log me in with this number: ";

/// The one-time text a click-to-verify link prefills in the customer's WhatsApp.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkText(String);

impl fmt::Debug for LinkText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkText([redacted])")
    }
}

impl LinkText {
    pub fn draw() -> Self {
        let chars: String = (0..TEXT_CHARS)
            .map(|_| TEXT_ALPHABET[rand::random_range(0..TEXT_ALPHABET.len())] as char)
            .collect();
        Self(format!(
            "{TEXT_PREFIX}{}-{}-{}",
            &chars[..4],
            &chars[4..8],
            &chars[8..]
        ))
    }

    /// The text a WhatsApp message carries, if it is one of ours (whether or not any
    /// link waits for it): the prefix may have been edited away, case and the dashes may
    /// differ, but the twelve characters must all be there.
    pub fn recognise(message: &str) -> Option<Self> {
        let body = message.trim();
        let body = body
            .get(..TEXT_PREFIX.len())
            .filter(|head| head.eq_ignore_ascii_case(TEXT_PREFIX))
            .map_or(body, |_| &body[TEXT_PREFIX.len()..]);
        let chars: String = body
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let ours = chars.len() == TEXT_CHARS && chars.bytes().all(|b| TEXT_ALPHABET.contains(&b));
        ours.then(|| {
            Self(format!(
                "{TEXT_PREFIX}{}-{}-{}",
                &chars[..4],
                &chars[4..8],
                &chars[8..]
            ))
        })
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored and looked up: an HMAC of the text, which is also the link's id
    /// (public, and worthless without the key).
    pub fn link_id(&self, key: &SecretString) -> String {
        mac(key, &["link", &self.0])[..32].to_string()
    }
}

/// The sends of codes to one phone, epoch milliseconds, newest last: enough to apply
/// both limits with a sliding window (a fixed window lets 2 × the limit through across
/// its edge).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sends(pub Vec<i64>);

/// At most this many sends per phone in [`SHORT_WINDOW_MS`] …
pub const SENDS_SHORT: usize = 3;
pub const SHORT_WINDOW_MS: i64 = 15 * 60 * 1000;
/// … and this many in a day.
pub const SENDS_DAY: usize = 10;
pub const DAY_MS: i64 = 24 * 3600 * 1000;

impl Sends {
    /// The record with one more send at `now`, or the seconds until one is allowed.
    pub fn admit(&self, now: i64) -> Result<Sends, u64> {
        let recent: Vec<i64> = self
            .0
            .iter()
            .copied()
            .filter(|at| now - at < DAY_MS)
            .collect();
        let wait = |count: usize, window: i64| {
            let inside: Vec<i64> = recent
                .iter()
                .copied()
                .filter(|at| now - at < window)
                .collect();
            // The oldest send that must leave the window before another may go.
            (inside.len() >= count).then(|| inside[inside.len() - count] + window - now)
        };
        let waits = [wait(SENDS_SHORT, SHORT_WINDOW_MS), wait(SENDS_DAY, DAY_MS)];
        if let Some(ms) = waits.into_iter().flatten().max() {
            return Err((ms.max(0) as u64).div_ceil(1000));
        }
        let mut next = recent;
        next.push(now);
        Ok(Sends(next))
    }

    /// When the next send would be admitted after these (epoch ms).
    pub fn next_allowed(&self, now: i64) -> i64 {
        match self.admit(now) {
            Ok(_) => now,
            Err(secs) => now + secs as i64 * 1000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const MINUTE: i64 = 60 * 1000;

    #[test]
    fn codes_are_six_digits_and_typed_with_spaces_too() {
        for _ in 0..200 {
            let code = Code::draw();
            assert_eq!(code.expose().len(), 6);
            assert_eq!(Code::parse(code.expose()), Some(code));
        }
        assert!(Code::parse("123 456").is_some());
        assert!(Code::parse("123-456").is_some());
        for bad in ["12345", "1234567", "12345a", "١٢٣٤٥٦", ""] {
            assert!(Code::parse(bad).is_none(), "{bad}");
        }
        assert!(
            !format!("{:?}", Code::draw())
                .chars()
                .any(|c| c.is_ascii_digit())
        );
    }

    #[test]
    fn a_mac_binds_the_code_to_its_phone_and_purpose() {
        let key = SecretString::new("k".repeat(32));
        let code = Code::parse("123456").unwrap();
        let mac = code.mac(&key, Purpose::Login, "+919800000001");
        assert!(!mac.contains("123456"));
        assert_ne!(mac, code.mac(&key, Purpose::Reset, "+919800000001"));
        assert_ne!(mac, code.mac(&key, Purpose::Login, "+919800000002"));
        let other = SecretString::new("j".repeat(32));
        assert_ne!(mac, code.mac(&other, Purpose::Login, "+919800000001"));
        assert!(macs_match(
            &mac,
            &code.mac(&key, Purpose::Login, "+919800000001")
        ));
    }

    #[test]
    fn link_texts_carry_over_forty_bits_and_are_recognised_as_typed() {
        let bits = TEXT_CHARS as f64 * (TEXT_ALPHABET.len() as f64).log2();
        assert!(bits >= 40.0, "{bits}");
        let text = LinkText::draw();
        assert_eq!(LinkText::recognise(text.expose()), Some(text.clone()));
        let chars = &text.expose()[TEXT_PREFIX.len()..];
        // Without the prefix, lower case, without dashes: still ours.
        assert_eq!(
            LinkText::recognise(&chars.to_lowercase().replace('-', " ")),
            Some(text.clone())
        );
        for other in [
            "hello",
            "Log me in with this number: ABCD",
            "ABCD-EFGH-JKMN-P",
            "OOOO-1111-IIII",
        ] {
            assert_eq!(LinkText::recognise(other), None, "{other}");
        }
        let key = SecretString::new("k".repeat(32));
        assert_eq!(text.link_id(&key).len(), 32);
        assert_ne!(text.link_id(&key), LinkText::draw().link_id(&key));
    }

    #[test]
    fn three_sends_per_quarter_hour_and_ten_a_day_sliding() {
        let mut sends = Sends::default();
        for i in 0..3 {
            sends = sends.admit(NOW + i).unwrap();
        }
        // The fourth waits until the first leaves the window, not for a window's edge.
        assert_eq!(sends.admit(NOW + 2), Err(15 * 60));
        assert_eq!(sends.admit(NOW + 14 * MINUTE), Err(60));
        let mut now = NOW + 15 * MINUTE;
        let mut sent = 3;
        while sent < 10 {
            match sends.admit(now) {
                Ok(next) => {
                    sends = next;
                    sent += 1;
                }
                Err(wait) => now += wait as i64 * 1000,
            }
        }
        // Ten in the day: the eleventh waits for the first to be a day old.
        let wait = sends.admit(now).unwrap_err() as i64 * 1000;
        assert_eq!(now + wait, NOW + DAY_MS);
        assert!(sends.admit(NOW + DAY_MS).is_ok());
    }
}
