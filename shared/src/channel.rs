//! The channels a customer reaches the assistant on.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Channel {
    Web,
    Kiosk,
    Whatsapp,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Web, Channel::Kiosk, Channel::Whatsapp];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Kiosk => "kiosk",
            Channel::Whatsapp => "whatsapp",
        }
    }
}

impl TryFrom<String> for Channel {
    type Error = String;

    /// `website` is the old front end's name for `web`.
    fn try_from(raw: String) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "web" | "website" => Ok(Channel::Web),
            "kiosk" => Ok(Channel::Kiosk),
            "whatsapp" => Ok(Channel::Whatsapp),
            _ => Err("must be one of \"web\", \"kiosk\", \"whatsapp\"".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn website_is_an_alias_of_web() {
        assert_eq!(Channel::try_from("website".to_string()), Ok(Channel::Web));
        assert_eq!(Channel::try_from(" Kiosk ".to_string()), Ok(Channel::Kiosk));
        assert!(Channel::try_from("fax".to_string()).is_err());
    }

    #[test]
    fn serialises_to_its_canonical_name() {
        assert_eq!(serde_json::to_string(&Channel::Web).unwrap(), "\"web\"");
        let parsed: Channel = serde_json::from_str("\"website\"").unwrap();
        assert_eq!(parsed, Channel::Web);
    }
}
