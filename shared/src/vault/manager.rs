//! Reading secret sets from AWS Secrets Manager: `GetSecretValue` of each id, whose
//! `SecretString` is a JSON object of names (`values::NAMES`) to a string (comma-separated
//! for several values) or an array of strings.

use std::collections::HashMap;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata};
use serde_json::Value;

use super::values::{self, NAMES};

/// Why a read failed. Names the secret and the entry, never a value.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Unreachable, throttled or refused (permissions): worth retrying later.
    #[error("Secrets Manager could not give {id}: {reason}")]
    Unavailable { id: String, reason: String },
    #[error("secret {id} has no value yet: put one (README → Operate → Secrets)")]
    Empty { id: String },
    #[error("secret {id} is not a JSON object of names to strings or arrays of strings: {reason}")]
    NotJson { id: String, reason: String },
    #[error("{name} is in both {first} and {second}; keep each secret in one place")]
    Twice {
        name: String,
        first: String,
        second: String,
    },
}

#[derive(Clone, Debug)]
pub struct Manager {
    client: Client,
    ids: Vec<String>,
}

/// A read's values by name, and the secret each came from.
pub type Entries = HashMap<String, (Vec<String>, String)>;

impl Manager {
    pub fn new(client: Client, ids: Vec<String>) -> Self {
        Self { client, ids }
    }

    /// Every secret's entries, merged (a name in two secrets is an error). The secrets are
    /// read at the same time: a cold start waits for one round trip, not one per secret.
    pub async fn read(&self) -> Result<Entries, ReadError> {
        let texts =
            futures::future::try_join_all(self.ids.iter().map(|id| self.secret_string(id))).await?;
        let mut entries = Entries::new();
        for (id, text) in self.ids.iter().zip(texts) {
            for (name, values) in parse(id, &text)? {
                if !NAMES.contains(&name.as_str()) {
                    tracing::warn!(secret = %id, entry = %name, "unknown secret entry ignored");
                    continue;
                }
                if let Some((_, first)) = entries.get(&name) {
                    return Err(ReadError::Twice {
                        name,
                        first: first.clone(),
                        second: id.clone(),
                    });
                }
                entries.insert(name, (values, id.clone()));
            }
        }
        Ok(entries)
    }

    async fn secret_string(&self, id: &str) -> Result<String, ReadError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|err| match err.code() {
                // A secret made by the stack holds no version until one is put.
                Some("ResourceNotFoundException")
                    if err.message().is_some_and(|m| m.contains("AWSCURRENT")) =>
                {
                    ReadError::Empty { id: id.to_string() }
                }
                _ => ReadError::Unavailable {
                    id: id.to_string(),
                    reason: DisplayErrorContext(&err).to_string(),
                },
            })?;
        output
            .secret_string()
            .map(str::to_string)
            .ok_or_else(|| ReadError::Empty { id: id.to_string() })
    }
}

/// A secret's JSON object as names and values.
fn parse(id: &str, text: &str) -> Result<Vec<(String, Vec<String>)>, ReadError> {
    let not_json = |reason: String| ReadError::NotJson {
        id: id.to_string(),
        reason,
    };
    // serde_json's messages name a line and column, never the text around them.
    let object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(not_json("the top level is not an object".into())),
        Err(err) => {
            return Err(not_json(format!(
                "line {} column {}",
                err.line(),
                err.column()
            )));
        }
    };
    object
        .into_iter()
        .map(|(name, value)| {
            let values = match &value {
                Value::String(text) => values::split(text),
                Value::Array(items) => items
                    .iter()
                    .map(|item| item.as_str().map(|s| s.trim().to_string()))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| not_json(format!("{name} holds a non-string")))?
                    .into_iter()
                    .filter(|v| !v.is_empty())
                    .collect(),
                _ => return Err(not_json(format!("{name} is neither a string nor an array"))),
            };
            Ok((name, values))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_split_on_commas_and_arrays_keep_their_order() {
        let parsed = parse(
            "s",
            r#"{"SERVICE_KEYS": "a-key, b-key", "CODE_HMAC_KEY": ["new", " old "]}"#,
        )
        .unwrap();
        let map: HashMap<_, _> = parsed.into_iter().collect();
        assert_eq!(map["SERVICE_KEYS"], ["a-key", "b-key"]);
        assert_eq!(map["CODE_HMAC_KEY"], ["new", "old"]);
    }

    #[test]
    fn a_malformed_secret_is_named_without_showing_its_text() {
        for text in [
            r#"{"SERVICE_KEYS": "hunter2-secret"#,
            r#"["hunter2-secret"]"#,
            r#"{"SERVICE_KEYS": 7}"#,
            r#"{"SERVICE_KEYS": ["hunter2-secret", 7]}"#,
        ] {
            let err = parse("arn:secret", text).unwrap_err().to_string();
            assert!(err.contains("arn:secret"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }
}
