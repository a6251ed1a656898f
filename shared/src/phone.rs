//! Phone numbers, always held in E.164 form.

use std::fmt;

use phonenumber::Mode;
pub use phonenumber::country::Id as Region;

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
        let first = phonenumber::parse(Some(default_region), raw)
            .ok()
            .filter(phonenumber::is_valid);
        let number = match first {
            Some(n) => n,
            // `919876543210`: digits that start with a country code but lack the `+`.
            None if !raw.starts_with('+') => phonenumber::parse(None, format!("+{raw}"))
                .ok()
                .filter(phonenumber::is_valid)
                .ok_or(PhoneError::Invalid)?,
            None => return Err(PhoneError::Invalid),
        };
        Ok(Self(number.format().mode(Mode::E164).to_string()))
    }

    /// Wraps a value read back from our own tables, where only E.164 strings are stored.
    pub fn from_stored(e164: String) -> Self {
        Self(e164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
