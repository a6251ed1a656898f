//! Meta's webhook payload, read strictly where we rely on it (message ids, senders,
//! timestamps) and leniently elsewhere (unknown fields and change kinds are ignored).

use chrono::{DateTime, Utc};
use omnisession::codes::LinkText;
use omnisession::error::ApiError;
use omnisession::model::{MessageText, limits, rfc3339};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Delivery {
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    field: String,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize)]
struct MessagesValue {
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<RawMessage>,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: Option<String>,
    /// The business-scoped user id (BSUID), and its parent where Meta sends one.
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    parent_user_id: Option<String>,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Deserialize)]
struct RawMessage {
    id: String,
    /// The sender's phone digits; absent when WhatsApp withholds the phone and sends a
    /// business-scoped user id instead.
    #[serde(default)]
    from: Option<String>,
    /// The sender's business-scoped user id: always there since 2026.
    #[serde(default)]
    from_user_id: Option<String>,
    #[serde(default)]
    from_parent_user_id: Option<String>,
    timestamp: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<Text>,
}

#[derive(Deserialize)]
struct Text {
    body: String,
}

/// One inbound message, ready to file.
#[derive(Debug)]
pub struct Inbound {
    pub id: String,
    /// `None` when WhatsApp withheld the phone number.
    pub from: Option<String>,
    /// The sender's WhatsApp user id (BSUID) and its parent, where the delivery has them.
    pub user_id: Option<String>,
    pub parent_user_id: Option<String>,
    pub name: Option<String>,
    pub username: Option<String>,
    pub at: String,
    pub content: MessageText,
    /// A text that reads as a click-to-verify text.
    pub link: Option<LinkMessage>,
}

/// A text that reads as a click-to-verify text.
#[derive(Debug)]
pub struct LinkMessage {
    pub text: LinkText,
    /// Whether it came with the prefilled words before the characters. Without them it
    /// may be an ordinary message that happens to read as one ("perfect match").
    pub prefixed: bool,
}

impl LinkMessage {
    fn recognise(body: &str) -> Option<Self> {
        let text = LinkText::recognise(body)?;
        // `recognise` takes twelve characters, after the prefix if there is one: more
        // than twelve non-separators means the prefix was there.
        let chars = body
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .count();
        Some(Self {
            text,
            prefixed: chars > 12,
        })
    }
}

/// What a delivery holds: the messages to file and how many items were skipped.
#[derive(Debug, Default)]
pub struct Parsed {
    pub messages: Vec<Inbound>,
    pub ignored: usize,
}

/// Message types that are not something the customer said (reactions, system notices):
/// acknowledged and ignored.
const NOT_CHAT: [&str; 6] = [
    "reaction",
    "system",
    "unsupported",
    "unknown",
    "ephemeral",
    "request_welcome",
];

/// Reads the whole delivery before anything is stored, so that a malformed one is a 400
/// with nothing half-written.
pub fn parse(body: &[u8]) -> Result<Parsed, ApiError> {
    let delivery: Delivery = {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::Invalid(format!("request body is not valid JSON: {e}")))?;
        serde_path_to_error::deserialize(value)
            .map_err(|e| ApiError::Invalid(format!("{}: {}", e.path(), e.inner())))?
    };
    let mut parsed = Parsed::default();
    for (i, entry) in delivery.entry.into_iter().enumerate() {
        for (j, change) in entry.changes.into_iter().enumerate() {
            if change.field != "messages" {
                parsed.ignored += 1;
                continue;
            }
            let value: MessagesValue =
                serde_path_to_error::deserialize(change.value).map_err(|e| {
                    ApiError::Invalid(format!(
                        "entry[{i}].changes[{j}].value.{}: {}",
                        e.path(),
                        e.inner()
                    ))
                })?;
            for (k, raw) in value.messages.into_iter().enumerate() {
                let at = |what: &str| {
                    ApiError::Invalid(format!(
                        "entry[{i}].changes[{j}].value.messages[{k}].{what}"
                    ))
                };
                if raw.id.is_empty() || raw.id.len() > 256 {
                    return Err(at("id must be 1 to 256 characters"));
                }
                let seconds: i64 = raw
                    .timestamp
                    .parse()
                    .map_err(|_| at("timestamp must be epoch seconds"))?;
                let when = DateTime::<Utc>::from_timestamp(seconds, 0)
                    .ok_or_else(|| at("timestamp is out of range"))?;
                if NOT_CHAT.contains(&raw.kind.as_str()) {
                    parsed.ignored += 1;
                    continue;
                }
                let mut link = None;
                let content = match (raw.kind.as_str(), raw.text) {
                    ("text", Some(text)) => {
                        link = LinkMessage::recognise(&text.body);
                        chat_text(&text.body)
                    }
                    ("text", None) => return Err(at("text is required for a text message")),
                    (kind, _) => format!("[{kind}]"),
                };
                let content =
                    MessageText::try_from(content).map_err(|e| at(&format!("content {e}")))?;
                // The sender's contact, by phone or by user id; a lone contact that names
                // neither is taken as theirs.
                let from = raw.from.filter(|f| !f.is_empty());
                let from_user = raw.from_user_id.filter(|u| !u.is_empty());
                let contact = value
                    .contacts
                    .iter()
                    .find(|c| {
                        (c.wa_id.is_some() && c.wa_id == from)
                            || (c.user_id.is_some() && c.user_id == from_user)
                    })
                    .or_else(|| match value.contacts.as_slice() {
                        [only] if only.wa_id.is_none() && only.user_id.is_none() => Some(only),
                        _ => None,
                    });
                let profile = contact.and_then(|c| c.profile.as_ref());
                parsed.messages.push(Inbound {
                    id: raw.id,
                    user_id: from_user.or_else(|| contact.and_then(|c| c.user_id.clone())),
                    parent_user_id: raw
                        .from_parent_user_id
                        .or_else(|| contact.and_then(|c| c.parent_user_id.clone())),
                    // A contact that pairs this user id with a phone gives the phone too.
                    from: from.or_else(|| contact.and_then(|c| c.wa_id.clone())),
                    name: profile.and_then(|p| p.name.clone()),
                    username: profile.and_then(|p| p.username.clone()),
                    at: rfc3339(when),
                    content,
                    link,
                });
            }
        }
    }
    Ok(parsed)
}

/// WhatsApp allows 4096 characters, which can be more than our 4096-byte message limit:
/// a longer text is cut at a character boundary and visibly marked, never silently.
/// Control characters other than newlines and tabs become spaces.
fn chat_text(body: &str) -> String {
    let mut text: String = body
        .chars()
        .map(|c| {
            if c.is_control() && !matches!(c, '\n' | '\t') {
                ' '
            } else {
                c
            }
        })
        .collect();
    if text.trim().is_empty() {
        return "[empty message]".into();
    }
    const MARK: &str = " […]";
    if text.len() > limits::MESSAGE_BYTES {
        let mut end = limits::MESSAGE_BYTES - MARK.len();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(MARK);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_visibly_and_control_characters_dropped() {
        let long = chat_text(&"é".repeat(4000));
        assert!(long.len() <= limits::MESSAGE_BYTES);
        assert!(long.ends_with(" […]"));
        assert_eq!(chat_text("a\u{0}b\nc"), "a b\nc");
        assert_eq!(chat_text("  "), "[empty message]");
    }

    #[test]
    fn media_becomes_a_placeholder_and_reactions_are_ignored() {
        let body = br#"{"entry":[{"changes":[{"field":"messages","value":{"messages":[
            {"id":"a","from":"919876543210","timestamp":"1795780800","type":"image","image":{"id":"x"}},
            {"id":"b","from":"919876543210","timestamp":"1795780800","type":"reaction","reaction":{}}
        ]}}]}]}"#;
        let parsed = parse(body).unwrap();
        assert_eq!(parsed.messages.len(), 1);
        assert_eq!(String::from(parsed.messages[0].content.clone()), "[image]");
        assert_eq!(parsed.messages[0].at, "2026-11-27T12:00:00.000Z");
        assert_eq!(parsed.ignored, 1);
    }

    #[test]
    fn link_texts_are_told_with_and_without_their_prefix() {
        let text = LinkText::draw();
        let full = LinkMessage::recognise(text.expose()).unwrap();
        assert!(full.prefixed);
        assert_eq!(full.text, text);
        let bare = LinkMessage::recognise("perfect match").unwrap();
        assert!(!bare.prefixed);
        assert!(LinkMessage::recognise("hello there").is_none());
    }

    #[test]
    fn a_malformed_message_names_its_place() {
        let body = br#"{"entry":[{"changes":[{"field":"messages","value":{"messages":[{"from":"1","timestamp":"1","type":"text"}]}}]}]}"#;
        let err = parse(body).unwrap_err().to_string();
        assert!(
            err.contains("entry[0].changes[0].value.messages[0]"),
            "{err}"
        );
        assert!(
            parse(b"{\"object\":\"x\"}")
                .unwrap_err()
                .to_string()
                .contains("entry")
        );
    }
}
