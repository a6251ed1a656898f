//! Meta's webhook payload, read strictly where we rely on it (message ids, senders,
//! timestamps, a text's body) and leniently elsewhere (unknown fields and change kinds
//! are ignored; a malformed kind's object still gives its placeholder). How each kind
//! of message reads is in [`kinds`]; catalog orders in [`order`].

mod kinds;
mod order;

use chrono::{DateTime, Utc};
use omnisession::codes::LinkText;
use omnisession::error::ApiError;
use omnisession::model::{MessageText, limits, rfc3339};
use omnisession::service::whatsapp::Action;
use serde::Deserialize;
use serde_json::{Map, Value};

use kinds::Read;

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
    /// Everything else: the kind's own object (`image`, `order`…), `context`, `origin`.
    #[serde(flatten)]
    fields: Map<String, Value>,
}

#[derive(Deserialize)]
struct Text {
    body: String,
}

/// What the content of a revision says when the customer deleted their message: the
/// turn stays (the agent's answer to it still reads in order), the words do not.
pub const DELETED: &str = "[deleted by the customer]";

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
    /// The words to file: a new message's, an edit's new words, or [`DELETED`].
    pub content: MessageText,
    /// What filing does: a new message (with a catalog order's items for the cart), or
    /// an edit or deletion of an earlier one.
    pub action: Action,
    /// A text that reads as a click-to-verify text.
    pub link: Option<LinkMessage>,
    /// The contact cards of a `contacts` message (empty for other kinds), for linking
    /// identities: parsed here, not acted on.
    pub shared_contacts: Vec<SharedContact>,
    /// Whether Meta marks the message as the answer to the business's request for the
    /// customer's contact details (see [`answers_contact_request`]).
    pub answers_contact_request: bool,
}

/// One contact card the customer shared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharedContact {
    /// The WhatsApp id of the card's first phone that has one (set by WhatsApp when the
    /// number is on WhatsApp).
    pub wa_id: Option<String>,
    /// The card's phone numbers as the customer's address book wrote them
    /// (`phones[].phone`: not normalised, maybe without a country code).
    pub phones: Vec<String>,
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
                let mut link = None;
                let (words, action) = match (raw.kind.as_str(), raw.text) {
                    ("text", Some(text)) => {
                        link = LinkMessage::recognise(&text.body);
                        (text.body, Action::New { order: Vec::new() })
                    }
                    ("text", None) => return Err(at("text is required for a text message")),
                    ("order", _) => {
                        let (words, order) = order::read(raw.fields.get("order"));
                        (words, Action::New { order })
                    }
                    (kind, _) => match kinds::read(kind, &raw.fields) {
                        Read::Chat(words) => (words, Action::New { order: Vec::new() }),
                        Read::Edit { original, words } => (words, Action::Edit { original }),
                        Read::Delete { original } => (DELETED.into(), Action::Delete { original }),
                        Read::Ignored => {
                            parsed.ignored += 1;
                            continue;
                        }
                    },
                };
                let content = MessageText::try_from(chat_text(&words))
                    .map_err(|e| at(&format!("content {e}")))?;
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
                    action,
                    link,
                    shared_contacts: shared_contacts(&raw.kind, &raw.fields),
                    answers_contact_request: answers_contact_request(&raw.fields),
                });
            }
        }
    }
    Ok(parsed)
}

/// The contact cards of a `contacts` message.
fn shared_contacts(kind: &str, fields: &Map<String, Value>) -> Vec<SharedContact> {
    if kind != "contacts" {
        return Vec::new();
    }
    kinds::cards(fields.get("contacts"))
        .into_iter()
        .map(|card| SharedContact {
            wa_id: card
                .phones
                .iter()
                .filter_map(|p| p.wa_id.clone())
                .find(|w| !w.trim().is_empty()),
            phones: card
                .phones
                .into_iter()
                .filter_map(|p| p.phone)
                .filter(|p| !p.trim().is_empty())
                .collect(),
        })
        .collect()
}

/// Whether the message answers our request for the customer's contact details. Meta's
/// pages we found do not show the field in full: the request is the
/// `REQUEST_CONTACT_INFO` button, and providers relaying the answer describe it as a
/// `contacts` message whose card has `origin` `contact_request`. So this reads leniently:
/// an `origin` on the message or on any of its cards, a string or an object with a
/// `type`, naming either (any case).
fn answers_contact_request(fields: &Map<String, Value>) -> bool {
    let says = |origin: Option<&Value>| {
        origin
            .and_then(|o| o.as_str().or_else(|| o.get("type").and_then(Value::as_str)))
            .is_some_and(|o| {
                o.eq_ignore_ascii_case("request_contact_info")
                    || o.eq_ignore_ascii_case("contact_request")
            })
    };
    says(fields.get("origin"))
        || fields
            .get("contacts")
            .and_then(Value::as_array)
            .is_some_and(|cards| cards.iter().any(|c| says(c.get("origin"))))
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

    /// A delivery of `messages` (JSON objects, without the envelope's repetition).
    fn one_delivery(messages: &str) -> Parsed {
        let body = format!(
            r#"{{"entry":[{{"changes":[{{"field":"messages","value":{{"contacts":[{{"profile":{{"name":"Asha"}},"wa_id":"919876543210"}}],"messages":[{messages}]}}}}]}}]}}"#
        );
        parse(body.as_bytes()).unwrap()
    }

    fn words(message: &Inbound) -> String {
        String::from(message.content.clone())
    }

    #[test]
    fn replies_media_places_and_unknown_kinds_read_as_words() {
        let parsed = one_delivery(
            r#"{"id":"a","from":"919876543210","timestamp":"1","type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"y","title":"Yes"}}},
               {"id":"b","from":"919876543210","timestamp":"1","type":"interactive","interactive":{"type":"list_reply","list_reply":{"id":"r","title":"Red","description":"d"}}},
               {"id":"c","from":"919876543210","timestamp":"1","type":"button","button":{"payload":"P","text":"Talk to us"}},
               {"id":"d","from":"919876543210","timestamp":"1","type":"video","video":{"caption":"look","mime_type":"video/mp4","id":"1"}},
               {"id":"e","from":"919876543210","timestamp":"1","type":"location","location":{"latitude":12.5,"longitude":77.25}},
               {"id":"f","from":"919876543210","timestamp":"1","type":"unsupported","errors":[{"code":131051,"title":"Message type unknown"}]},
               {"id":"g","from":"919876543210","timestamp":"1","type":"unknown"},
               {"id":"h","from":"919876543210","timestamp":"1","type":"Weird Type!"},
               {"id":"i","from":"919876543210","timestamp":"1","type":"image","image":"not an object"},
               {"id":"j","from":"919876543210","timestamp":"1","type":"ephemeral"}"#,
        );
        let all: Vec<String> = parsed.messages.iter().map(words).collect();
        assert_eq!(
            all,
            [
                "Yes",
                "Red",
                "Talk to us",
                "[video] look",
                "[location] (12.5, 77.25)",
                "[unsupported message]",
                "[unknown message]",
                "[unknown message]",
                "[image]",
            ]
        );
        assert_eq!(parsed.ignored, 1);
        assert!(
            parsed
                .messages
                .iter()
                .all(|m| m.action == Action::New { order: vec![] })
        );
    }

    #[test]
    fn shared_contacts_are_exposed_and_a_contact_request_answer_is_told() {
        let parsed = one_delivery(
            r#"{"id":"a","from":"919876543210","timestamp":"1","type":"contacts","contacts":[
                 {"name":{"formatted_name":"Ravi K","first_name":"Ravi"},"phones":[{"phone":"+91 98765 00000","type":"CELL"},{"phone":"+91 98765 11111","wa_id":"919876511111","type":"WORK"}]},
                 {"name":{"formatted_name":"No Phone"}}]},
               {"id":"b","from":"919876543210","timestamp":"1","type":"contacts","contacts":[
                 {"name":{"formatted_name":"Asha"},"phones":[{"phone":"+919876543210","wa_id":"919876543210"}],"origin":"REQUEST_CONTACT_INFO"}]}"#,
        );
        let [shared, answer] = parsed.messages.as_slice() else {
            panic!("two messages")
        };
        assert_eq!(
            words(shared),
            "[contact] Ravi K +91 98765 00000, +91 98765 11111\n[contact] No Phone"
        );
        assert_eq!(
            shared.shared_contacts,
            [
                SharedContact {
                    wa_id: Some("919876511111".into()),
                    phones: vec!["+91 98765 00000".into(), "+91 98765 11111".into()],
                },
                SharedContact::default(),
            ]
        );
        assert!(!shared.answers_contact_request);
        assert!(answer.answers_contact_request);
        assert_eq!(
            answer.shared_contacts[0].wa_id.as_deref(),
            Some("919876543210")
        );
    }

    #[test]
    fn edits_and_deletions_name_their_original() {
        let parsed = one_delivery(
            r#"{"id":"a","from":"919876543210","timestamp":"1","type":"edit","edit":{"original_message_id":"wamid.O","message":{"context":{"id":"x"},"type":"text","text":{"body":"new words"}}}},
               {"id":"b","from":"919876543210","timestamp":"1","type":"revoke","revoke":{"original_message_id":"wamid.O"}},
               {"id":"c","from":"919876543210","timestamp":"1","type":"edit","context":{"id":"wamid.P"},"edit":{"type":"image","image":{"caption":"c"}}},
               {"id":"d","from":"919876543210","timestamp":"1","type":"revoke","revoke":{}}"#,
        );
        let got: Vec<(String, Action)> = parsed
            .messages
            .iter()
            .map(|m| (words(m), m.action.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "new words".into(),
                    Action::Edit {
                        original: "wamid.O".into()
                    }
                ),
                (
                    DELETED.into(),
                    Action::Delete {
                        original: "wamid.O".into()
                    }
                ),
                (
                    "[image] c".into(),
                    Action::Edit {
                        original: "wamid.P".into()
                    }
                ),
            ]
        );
        assert_eq!(parsed.ignored, 1, "a revoke naming no message");
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
