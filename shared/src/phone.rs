//! Phone numbers, always held in E.164 form.
//!
//! libphonenumber's rules come from the `phonenumber` crate, whose metadata for every region
//! loads on first use: about 50 ms (it deserialises ~250 regions and syntax-checks each of
//! their regular expressions), which would land on the first event after a Lambda cold
//! start. Numbers of the default region are read first with that region's metadata alone
//! (bundled for the regions in [`one_region_database`]; [`warm_up`] loads it during init);
//! only what that cannot read (another country, invalid input) loads the whole
//! database and is read exactly as before, so every result is the same as with the whole
//! metadata (see the tests).

use std::fmt;
use std::sync::LazyLock;

pub use phonenumber::country::Id as Region;
use phonenumber::metadata::{DATABASE, Database};

/// India's `<territory>` of libphonenumber's metadata, the same as the crate's (a test
/// compares them).
static IN_ONLY: LazyLock<Option<Database>> =
    LazyLock::new(|| Database::parse(include_str!("phone/IN.xml")).ok());

/// The metadata of `region` alone, when it is bundled. Only a region that is the sole
/// region of its country code may be here: validity is then decided by its metadata alone,
/// exactly as with the whole database.
fn one_region_database(region: Region) -> Option<&'static Database> {
    match region {
        Region::IN => IN_ONLY.as_ref(),
        _ => None,
    }
}

/// Loads the default region's own metadata and reads its example mobile number once, which
/// compiles the regular expressions a number of the region needs (they compile lazily), so
/// that the first customer's number does not pay for them: a function calls it while it
/// starts. Without it the first [`PhoneNumber::parse`] does that work.
pub fn warm_up(default_region: Region) {
    let Some(database) = one_region_database(default_region) else {
        return;
    };
    let example = database
        .by_id(default_region.as_ref())
        .and_then(|meta| meta.descriptors().mobile())
        .and_then(|mobile| mobile.example());
    if let Some(example) = example {
        let _ = normalise(database, example, default_region);
    }
}

/// A [`warm_up`] running on a thread of its own.
pub struct Warming(std::sync::mpsc::Receiver<()>);

/// Starts [`warm_up`] on a thread of its own.
pub fn warm_up_in_background(default_region: Region) -> Warming {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        warm_up(default_region);
        let _ = done.send(());
    });
    Warming(finished)
}

impl Warming {
    /// Waits for the warm-up to finish, but not past `deadline`.
    pub fn wait_until(self, deadline: std::time::Instant) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let _ = self.0.recv_timeout(left);
    }
}

/// A valid phone number in E.164 form (`+919876543210`). Once a value has this type it
/// is valid: `9876543210`, `+91 98765 43210` and `919876543210` all become one value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhoneError {
    #[error("is empty")]
    Empty,
    #[error("is too long to be a phone number")]
    TooLong,
    #[error("is not a valid phone number")]
    Invalid,
}

impl PhoneNumber {
    /// Parses what a customer typed. Numbers without a `+` are read in `default_region`;
    /// a leading country code without `+` (`919876543210`) is recognised too.
    pub fn parse(raw: &str, default_region: Region) -> Result<Self, PhoneError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(PhoneError::Empty);
        }
        if raw.len() > 32 {
            return Err(PhoneError::TooLong);
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            return Err(PhoneError::Invalid);
        }
        // A number the default region's metadata reads as valid reads the same with every
        // region's; anything else is read again with all of them.
        if let Some(e164) = one_region_database(default_region)
            .and_then(|database| normalise(database, raw, default_region))
        {
            return Ok(Self(e164));
        }
        normalise(&DATABASE, raw, default_region)
            .map(Self)
            .ok_or(PhoneError::Invalid)
    }

    /// Wraps a value read back from our own tables, where only E.164 strings are stored.
    pub fn from_stored(e164: String) -> Self {
        Self(e164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of a customer known only by their WhatsApp user id (a username, no phone
    /// yet): `u:<BSUID>`. It stands where a phone number would (the customer record, the
    /// session's lock and index entry) until the phone is known and the customer merged.
    pub fn of_whatsapp_user(user: &WhatsappUserId) -> Self {
        Self(format!("{USER_PREFIX}{}", user.as_str()))
    }

    /// The WhatsApp user id, for the key of a customer known only by it.
    pub fn whatsapp_user(&self) -> Option<&str> {
        self.0.strip_prefix(USER_PREFIX)
    }

    /// Whether this is a phone number (not a WhatsApp user's key).
    pub fn is_phone(&self) -> bool {
        self.whatsapp_user().is_none()
    }
}

const USER_PREFIX: &str = "u:";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("is not a WhatsApp user id (1 to 160 letters, digits, '.', '_' or '-')")]
pub struct InvalidUserId;

/// A WhatsApp business-scoped user id (BSUID): what a delivery carries for a customer
/// who uses a username (`contacts[].user_id`, `messages[].from_user_id`), e.g.
/// `IN.13491208655302741918`; the phone number only when Meta's rules allow.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WhatsappUserId(String);

impl WhatsappUserId {
    /// 1–160 letters, digits, `.`, `_` or `-`: Meta's ids are a region, a dot and up to
    /// 128 letters and digits (`US.ENT.…` for a parent id), with a little room to grow.
    pub fn parse(raw: &str) -> Result<Self, InvalidUserId> {
        let raw = raw.trim();
        let valid = (1..=160).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        valid.then(|| Self(raw.to_string())).ok_or(InvalidUserId)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `raw` (already trimmed and checked for its characters) in E.164 form, when it is a valid
/// number read in `default_region` with `database`.
fn normalise(database: &Database, raw: &str, default_region: Region) -> Option<String> {
    let valid = |number: &phonenumber::PhoneNumber| phonenumber::is_valid_with(database, number);
    let first = phonenumber::parse_with(database, Some(default_region), raw)
        .ok()
        .filter(valid);
    let number = match first {
        Some(n) => n,
        // `919876543210`: digits that start with a country code but lack the `+`.
        None if !raw.starts_with('+') => phonenumber::parse_with(database, None, format!("+{raw}"))
            .ok()
            .filter(valid)?,
        None => return None,
    };
    Some(e164(&number))
}

/// `+<country code><national number>`, as `phonenumber`'s E.164 format writes it (a test
/// holds them equal). Written here because the crate's formatter loads every region's
/// metadata (tens of ms on first use), whichever database it is given.
fn e164(number: &phonenumber::PhoneNumber) -> String {
    format!("+{}{}", number.code().value(), number.national())
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::Mode;
    use phonenumber::country::Id::{IN, US};

    #[test]
    fn the_same_indian_number_written_three_ways_is_one_value() {
        let a = PhoneNumber::parse("9876543210", IN).unwrap();
        let b = PhoneNumber::parse("+91 98765 43210", IN).unwrap();
        let c = PhoneNumber::parse("919876543210", IN).unwrap();
        assert_eq!(a.as_str(), "+919876543210");
        assert_eq!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn the_default_region_reads_national_numbers() {
        let us = PhoneNumber::parse("(201) 555-0123", US).unwrap();
        assert_eq!(us.as_str(), "+12015550123");
    }

    #[test]
    fn garbage_is_rejected_with_a_reason() {
        assert_eq!(PhoneNumber::parse("  ", IN), Err(PhoneError::Empty));
        assert_eq!(PhoneNumber::parse("12345", IN), Err(PhoneError::Invalid));
        assert_eq!(
            PhoneNumber::parse("98765abc10", IN),
            Err(PhoneError::Invalid)
        );
        assert_eq!(
            PhoneNumber::parse(&"9".repeat(40), IN),
            Err(PhoneError::TooLong)
        );
    }

    #[test]
    fn the_bundled_india_metadata_is_the_crates() {
        let bundled = IN_ONLY.as_ref().expect("phone/IN.xml loads");
        assert_eq!(bundled.iter().count(), 1);
        // Debug shows every field, each regular expression by its source.
        assert_eq!(
            format!("{:?}", bundled.by_id("IN")),
            format!("{:?}", DATABASE.by_id("IN")),
            "shared/src/phone/IN.xml differs from the phonenumber crate's metadata for IN: \
             copy the <territory id=\"IN\"> element again from its PhoneNumberMetadata.xml"
        );
    }

    #[test]
    fn only_bundled_regions_have_a_one_region_database() {
        assert!(one_region_database(IN).is_some());
        assert!(one_region_database(US).is_none());
        // Warming a bundled region or another one is harmless.
        warm_up(IN);
        warm_up(US);
        assert_eq!(
            PhoneNumber::parse("9876543210", IN).map(|n| n.0).as_deref(),
            Ok("+919876543210")
        );
    }

    #[test]
    fn the_common_case_needs_only_the_default_regions_metadata() {
        let india = one_region_database(IN).unwrap();
        for raw in [
            "9876543210",
            "+91 98765 43210",
            "919876543210",
            "09876543210",
        ] {
            assert_eq!(
                normalise(india, raw, IN).as_deref(),
                Some("+919876543210"),
                "{raw}"
            );
        }
        // Another country's number is not read with India's metadata alone...
        assert_eq!(normalise(india, "+1 201 555 0123", IN), None);
        assert_eq!(normalise(india, "+44 20 7946 0958", IN), None);
        // ...but through the whole metadata, as before.
        let parse = |raw| PhoneNumber::parse(raw, IN).map(|n| n.0);
        assert_eq!(parse("+1 201 555 0123").as_deref(), Ok("+12015550123"));
        assert_eq!(parse("+44 20 7946 0958").as_deref(), Ok("+442079460958"));
        assert_eq!(parse("0044 20 7946 0958").as_deref(), Ok("+442079460958"));
        assert_eq!(parse("442079460958").as_deref(), Ok("+442079460958"));
        assert_eq!(parse("+91 12345"), Err(PhoneError::Invalid));
        assert_eq!(parse("+999 123456789"), Err(PhoneError::Invalid));
    }

    #[test]
    fn e164_is_written_as_the_crates_formatter_writes_it() {
        for raw in [
            "+91 98765 43210",
            "+91 11 2345 6789",
            "+91 1800 123 4567",
            "+39 06 1234 5678",
            "+39 333 123 4567",
            "+44 20 7946 0958",
            "+1 201 555 0123",
            "+7 912 345 6789",
            "+225 07 1234 5678",
            "+61 4 1234 5678",
        ] {
            let number = phonenumber::parse(None, raw).expect(raw);
            let crates = phonenumber::format(&number).mode(Mode::E164).to_string();
            assert_eq!(e164(&number), crates, "{raw}");
        }
    }

    /// The whole metadata's answer, as `parse` gave it before the one-region path.
    fn with_every_region(raw: &str, region: Region) -> Option<String> {
        normalise(&DATABASE, raw.trim(), region)
    }

    #[test]
    fn the_one_region_path_answers_as_the_whole_metadata() {
        let india = one_region_database(IN).unwrap();
        let mut written = vec![
            "9876543210",
            "+91 98765 43210",
            "919876543210",
            "09876543210",
            "0091 98765 43210",
            "+91-98765-43210",
            "(0)98765 43210",
            "011 2345 6789",
            "+91 11 2345 6789",
            "1800 123 4567",
            "91 1800 123 4567",
            "22 2345 6789",
            "5123456789",
            "+1 201 555 0123",
            "12015550123",
            "2015550123",
            "+44 20 7946 0958",
            "0044 20 7946 0958",
            "+7 912 345 6789",
            "+999 123456789",
            "0000000000",
            "91",
            "+91",
            "12345",
            "+91 12345",
            "9999999999999",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        // Digits after the prefixes people type, from a fixed xorshift sequence.
        let prefixes = [
            "", "+", "0", "00", "91", "+91", "0091", "+91 0", "1", "+1", "44", "+44", "7", "+7",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let indian = ["", "0", "91", "+91", "+91 ", "0091"];
        for i in 0..1500 {
            // Half written like an Indian mobile number, half any digits after any prefix.
            let (prefix, first, len) = if i % 2 == 0 {
                (indian[(next() % 6) as usize], 6 + next() % 4, 10)
            } else {
                let prefix = prefixes[(next() % prefixes.len() as u64) as usize];
                (prefix, next() % 10, 6 + next() % 8)
            };
            let mut raw = format!("{prefix}{first}");
            for _ in 1..len {
                raw.push(char::from(b'0' + (next() % 10) as u8));
            }
            written.push(raw);
        }
        let mut read_by_one_region = 0;
        for raw in &written {
            let before = with_every_region(raw, IN);
            let fast = normalise(india, raw, IN);
            if fast.is_some() {
                read_by_one_region += 1;
                assert_eq!(
                    fast, before,
                    "{raw}: India's metadata alone reads it otherwise"
                );
            }
            assert_eq!(
                PhoneNumber::parse(raw, IN).ok().map(|n| n.0),
                before,
                "{raw}"
            );
        }
        // The comparison is not empty: most valid Indian numbers never need the whole set.
        assert!(read_by_one_region > 400, "{read_by_one_region}");
    }
}
