//! What each kind of WhatsApp message says, in words the agent reads. Read leniently:
//! a kind's object that is missing or malformed still gives its placeholder, so that
//! nothing the customer sent is silently dropped. Shapes are those of Meta's Cloud API
//! "messages webhook reference" pages (one per type: interactive, button, image, video,
//! document, audio, sticker, location, contacts, order, unsupported, edit, revoke).

use serde::Deserialize;
use serde_json::{Map, Value};

/// What a message of a given kind asks of us.
#[derive(Debug, PartialEq)]
pub(super) enum Read {
    /// Words to file as a new chat message.
    Chat(String),
    /// The customer changed their message `original` to these words. Meta: `type:
    /// "edit"`, `edit: {original_message_id, message: {type, <type>: {...}}}`.
    Edit { original: String, words: String },
    /// The customer deleted their message `original`. Meta: `type: "revoke"`, `revoke:
    /// {original_message_id}`.
    Delete { original: String },
    /// Not something the customer said (a reaction, a system notice), or a revision that
    /// names no message.
    Ignored,
}

/// Kinds that are not something the customer said: acknowledged and ignored. A
/// reaction is an emoji on a message, not a turn of the conversation.
const NOT_CHAT: [&str; 4] = ["reaction", "system", "ephemeral", "request_welcome"];

/// Reads a message of type `kind` whose fields (beside `id`, `from`, `timestamp`,
/// `type`) are `fields`. `text` is read by the caller (strictly: it is the one kind we
/// rely on), except inside an edit.
pub(super) fn read(kind: &str, fields: &Map<String, Value>) -> Read {
    if NOT_CHAT.contains(&kind) {
        return Read::Ignored;
    }
    match kind {
        "edit" => edit(fields),
        "revoke" => match original_id(fields.get("revoke"), fields) {
            Some(original) => Read::Delete { original },
            None => Read::Ignored,
        },
        _ => Read::Chat(words(kind, fields)),
    }
}

/// The words of a message that is not an edit or a deletion.
pub(super) fn words(kind: &str, fields: &Map<String, Value>) -> String {
    let body = fields.get(kind);
    match kind {
        "text" => object::<Text>(body)
            .body
            .unwrap_or_else(|| "[empty message]".into()),
        "interactive" => interactive(body),
        // A quick-reply button of a template: its text is what the customer tapped.
        "button" => {
            let button = object::<Button>(body);
            non_blank(button.text)
                .or(non_blank(button.payload))
                .unwrap_or_else(|| "[button reply]".into())
        }
        "image" | "video" | "sticker" | "audio" | "document" => media(kind, body),
        "location" => location(body),
        "contacts" => contacts(body),
        "order" => super::order::read(body).0,
        "unsupported" => "[unsupported message]".into(),
        "unknown" => "[unknown message]".into(),
        other if is_plain_word(other) => format!("[{other} message]"),
        _ => "[unknown message]".into(),
    }
}

/// An edit: the new message inside it, rendered like any other. Lenient about where
/// the original's id is (`edit.original_message_id`, else `context.id`) and about the
/// new message (`edit.message`, else `edit` itself holding `type` and its object).
fn edit(fields: &Map<String, Value>) -> Read {
    let edit = fields.get("edit");
    let Some(original) = original_id(edit, fields) else {
        return Read::Ignored;
    };
    let inner = edit
        .and_then(|e| e.get("message"))
        .or(edit)
        .and_then(Value::as_object);
    let words = inner
        .and_then(|m| {
            let kind = m.get("type").and_then(Value::as_str)?;
            // An edit of an edit is not a thing WhatsApp sends; never recurse.
            (kind != "edit" && kind != "revoke").then(|| words(kind, m))
        })
        .unwrap_or_else(|| "[edited message]".into());
    Read::Edit { original, words }
}

fn original_id(object: Option<&Value>, fields: &Map<String, Value>) -> Option<String> {
    object
        .and_then(|o| o.get("original_message_id"))
        .or_else(|| fields.get("context").and_then(|c| c.get("id")))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.len() <= 256)
        .map(str::to_string)
}

#[derive(Default, Deserialize)]
struct Text {
    #[serde(default)]
    body: Option<String>,
}

#[derive(Default, Deserialize)]
struct Button {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    payload: Option<String>,
}

#[derive(Default, Deserialize)]
struct Interactive {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    button_reply: Option<Reply>,
    #[serde(default)]
    list_reply: Option<Reply>,
}

#[derive(Default, Deserialize)]
struct Reply {
    #[serde(default)]
    title: Option<String>,
}

/// A reply button or list row the customer picked: its title is their answer.
fn interactive(body: Option<&Value>) -> String {
    let interactive = object::<Interactive>(body);
    let title = interactive
        .button_reply
        .or(interactive.list_reply)
        .and_then(|r| non_blank(r.title));
    match (title, interactive.kind.as_deref()) {
        (Some(title), _) => title,
        // A WhatsApp Flow's answer (`nfm_reply`) is a form, not words.
        (None, Some("nfm_reply")) => "[form reply]".into(),
        (None, _) => "[interactive reply]".into(),
    }
}

#[derive(Default, Deserialize)]
struct Media {
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    voice: Option<bool>,
}

/// `[image]`, with the caption after it; a document also names its file.
fn media(kind: &str, body: Option<&Value>) -> String {
    let media = object::<Media>(body);
    let mut text = match (kind, media.voice, non_blank(media.filename)) {
        ("audio", Some(true), _) => "[voice message]".to_string(),
        ("document", _, Some(name)) => format!("[document: {name}]"),
        _ => format!("[{kind}]"),
    };
    if let Some(caption) = non_blank(media.caption) {
        text.push(' ');
        text.push_str(&caption);
    }
    text
}

#[derive(Default, Deserialize)]
struct Location {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

/// `[location] name, address (latitude, longitude)`, with what the customer shared.
fn location(body: Option<&Value>) -> String {
    let location = object::<Location>(body);
    let mut text = "[location]".to_string();
    let place: Vec<String> = [location.name, location.address]
        .into_iter()
        .filter_map(non_blank)
        .collect();
    if !place.is_empty() {
        text.push(' ');
        text.push_str(&place.join(", "));
    }
    if let (Some(lat), Some(long)) = (location.latitude, location.longitude) {
        text.push_str(&format!(" ({lat}, {long})"));
    }
    text
}

#[derive(Default, Deserialize)]
pub(super) struct Card {
    #[serde(default)]
    name: Option<CardName>,
    #[serde(default)]
    pub(super) phones: Vec<CardPhone>,
}

#[derive(Default, Deserialize)]
struct CardName {
    #[serde(default)]
    formatted_name: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
}

#[derive(Default, Deserialize)]
pub(super) struct CardPhone {
    #[serde(default)]
    pub(super) phone: Option<String>,
    #[serde(default)]
    pub(super) wa_id: Option<String>,
}

/// The contact cards of a `contacts` message (Meta: `contacts: [{name:
/// {formatted_name, …}, phones: [{phone, wa_id, type}], …}]`); a malformed card counts
/// as an empty one.
pub(super) fn cards(body: Option<&Value>) -> Vec<Card> {
    body.and_then(Value::as_array)
        .map(|cards| {
            cards
                .iter()
                .map(|c| serde_json::from_value(c.clone()).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

/// One line per shared contact: `[contact] Name +91…, +91…`.
fn contacts(body: Option<&Value>) -> String {
    let lines: Vec<String> = cards(body)
        .into_iter()
        .map(|card| {
            let mut line = "[contact]".to_string();
            let name = card
                .name
                .and_then(|n| non_blank(n.formatted_name).or(non_blank(n.first_name)));
            let phones: Vec<String> = card
                .phones
                .into_iter()
                .filter_map(|p| non_blank(p.phone).or(p.wa_id.map(|w| format!("+{w}"))))
                .collect();
            for part in name.into_iter().chain([phones.join(", ")]) {
                if !part.is_empty() {
                    line.push(' ');
                    line.push_str(&part);
                }
            }
            line
        })
        .collect();
    if lines.is_empty() {
        "[contact]".into()
    } else {
        lines.join("\n")
    }
}

/// A kind's object read leniently: missing or malformed reads as empty.
fn object<T: Default + serde::de::DeserializeOwned>(body: Option<&Value>) -> T {
    body.and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

fn non_blank(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

/// A type name safe to show in a placeholder (Meta's are short snake_case words).
fn is_plain_word(kind: &str) -> bool {
    (1..=32).contains(&kind.len())
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}
