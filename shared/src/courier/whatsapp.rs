//! The WhatsApp Cloud API client: one authentication-template message with a copy-code
//! button, `POST {GRAPH_API_BASE}/{phone_number_id}/messages`.
//!
//! The HTTP client is hyper-util's with hyper-rustls, the connector the AWS SDK already
//! links (same rustls, same aws-lc-rs provider), so this adds no TLS or crypto code to a
//! bootstrap. It is built on the first send: loading the system's root certificates costs
//! milliseconds that a function which never sends should not pay at cold start.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lambda_http::http::header::{AUTHORIZATION, CONTENT_TYPE};
use lambda_http::http::{HeaderValue, Request};
use serde_json::{Value, json};

use super::{CourierConfig, scrub};
use crate::phone::PhoneNumber;
use crate::secrets::SecretString;

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Meta's answers are small; anything bigger is not one of them.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

pub(crate) struct WhatsApp {
    url: String,
    template: String,
    lang: String,
    client: OnceLock<HttpClient>,
}

/// Why a message did not go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The recipient cannot be reached on WhatsApp: retrying will not help, SMS might.
    NotOnWhatsApp { code: i64 },
    /// No answer in time, no connection, or a 5xx: worth one more try.
    Transient(String),
    /// Meta refused the request (token, template, limits, policy): retrying the same
    /// request will not help.
    Rejected {
        status: u16,
        code: Option<i64>,
        message: String,
    },
}

impl WhatsApp {
    pub(crate) fn new(config: &CourierConfig) -> Self {
        Self {
            url: format!(
                "{}/{}/messages",
                config.graph_api_base, config.whatsapp_phone_number_id
            ),
            template: config.whatsapp_code_template.clone(),
            lang: config.whatsapp_code_template_lang.clone(),
            client: OnceLock::new(),
        }
    }

    /// One attempt, abandoned after `timeout`. Ok holds the message id Meta gave it.
    pub(crate) async fn send(
        &self,
        to: &PhoneNumber,
        code: &str,
        token: &SecretString,
        timeout: Duration,
    ) -> Result<Option<String>, Failure> {
        let body = request_body(to, code, &self.template, &self.lang).to_string();
        let mut auth = HeaderValue::try_from(format!("Bearer {}", token.expose()))
            .map_err(|_| rejected_locally("the access token is not a valid header value"))?;
        // Keeps the token out of any Debug print of the request.
        auth.set_sensitive(true);
        let request = Request::post(self.url.as_str())
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| rejected_locally(&format!("bad request: {e}")))?;

        let client = self.client.get_or_init(build_client);
        let exchange = async {
            let response = client.request(request).await.map_err(|e| {
                Failure::Transient(format!("no answer from the Graph API: {}", chain(&e)))
            })?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| Failure::Transient(format!("answer cut short: {e}")))?
                .to_bytes();
            Ok::<_, Failure>((status, body))
        };
        let (status, body) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| {
                Failure::Transient(format!(
                    "no answer from the Graph API within {} ms",
                    timeout.as_millis()
                ))
            })??;
        classify(status, &body).map_err(|failure| match failure {
            // Meta's sentence may quote what it was sent; ours never carries the code.
            Failure::Rejected {
                status,
                code: error_code,
                message,
            } => Failure::Rejected {
                status,
                code: error_code,
                message: scrub(&message, &[code, token.expose()]),
            },
            other => other,
        })
    }
}

fn rejected_locally(message: &str) -> Failure {
    Failure::Rejected {
        status: 0,
        code: None,
        message: message.into(),
    }
}

/// hyper-rustls with the aws-lc-rs provider and the system's roots, as the AWS SDK's own
/// client. Plain `http://` is allowed for the local stand-in (the configuration permits it
/// only towards this machine).
fn build_client() -> HttpClient {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let builder = match hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider.clone())
    {
        Ok(builder) => builder,
        Err(err) => {
            // Without roots every https:// send fails (and says so); http:// still works.
            tracing::warn!(error = %err, "no system root certificates: https sends will fail");
            let config = rustls::ClientConfig::builder_with_provider(provider.into())
                .with_safe_default_protocol_versions()
                .expect("aws-lc-rs supports rustls' default TLS versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    let connector = builder.https_or_http().enable_http1().build();
    Client::builder(TokioExecutor::new())
        // Meta closes idle connections; a dead pooled one costs a retry, so keep few.
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(2)
        .build(connector)
}

/// An error and its causes, one sentence (hyper's top-level error says only "client error").
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The authentication template with a copy-code button, as Meta's docs send it: the code
/// fills the body's one parameter and the button's (its type is `url` once approved).
pub(crate) fn request_body(to: &PhoneNumber, code: &str, template: &str, lang: &str) -> Value {
    let digits = to.as_str().trim_start_matches('+');
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": digits,
        "type": "template",
        "template": {
            "name": template,
            "language": {"code": lang},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": code}]},
                {"type": "button", "sub_type": "url", "index": "0",
                 "parameters": [{"type": "text", "text": code}]}
            ]
        }
    })
}

/// What an answer of the Graph API means. A 2xx is sent (Ok holds the message id when
/// the body names one); the rest is classified by Meta's error code, never panicking on
/// whatever the body holds.
pub(crate) fn classify(status: u16, body: &[u8]) -> Result<Option<String>, Failure> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        let id = json
            .as_ref()
            .and_then(|v| v.pointer("/messages/0/id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        return Ok(id);
    }
    let error = json.as_ref().and_then(|v| v.get("error"));
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_i64);
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("no Graph API error in the answer")
        .to_string();
    if status >= 500 {
        return Err(Failure::Transient(format!(
            "HTTP {status} from the Graph API (error {code:?})"
        )));
    }
    match code {
        // 131026 "Message undeliverable": not a WhatsApp number, terms not accepted, or an
        // app too old. 131030 "Recipient phone number not in allowed list": a business
        // number still in development may message only its listed testers. Either way this
        // recipient cannot get the code on WhatsApp now, and asking again will not change
        // that, while an SMS can still reach them.
        Some(c @ (131026 | 131030)) => Err(Failure::NotOnWhatsApp { code: c }),
        _ => Err(Failure::Rejected {
            status,
            code,
            message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone() -> PhoneNumber {
        PhoneNumber::from_stored("+919876543210".into())
    }

    #[test]
    fn the_body_is_an_authentication_template_with_a_copy_code_button() {
        let body = request_body(&phone(), "123456", "verification_code", "en");
        assert_eq!(
            body,
            json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "919876543210",
                "type": "template",
                "template": {
                    "name": "verification_code",
                    "language": {"code": "en"},
                    "components": [
                        {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
                        {"type": "button", "sub_type": "url", "index": "0",
                         "parameters": [{"type": "text", "text": "123456"}]}
                    ]
                }
            })
        );
    }

    #[test]
    fn success_names_the_message() {
        let ok = br#"{"messaging_product":"whatsapp","contacts":[{"input":"919876543210","wa_id":"919876543210"}],"messages":[{"id":"wamid.X"}]}"#;
        assert_eq!(classify(200, ok), Ok(Some("wamid.X".into())));
        assert_eq!(classify(200, b"not json"), Ok(None));
    }

    #[test]
    fn errors_are_classified_by_metas_code() {
        let error = |code: i64| {
            format!(
                r#"{{"error":{{"message":"(#{code}) something","type":"OAuthException","code":{code},"fbtrace_id":"A"}}}}"#
            )
        };
        assert_eq!(
            classify(400, error(131026).as_bytes()),
            Err(Failure::NotOnWhatsApp { code: 131026 })
        );
        assert_eq!(
            classify(400, error(131030).as_bytes()),
            Err(Failure::NotOnWhatsApp { code: 131030 })
        );
        assert!(matches!(
            classify(401, error(190).as_bytes()),
            Err(Failure::Rejected {
                status: 401,
                code: Some(190),
                ..
            })
        ));
        assert!(matches!(
            classify(503, error(131026).as_bytes()),
            Err(Failure::Transient(_))
        ));
        assert!(matches!(classify(500, b""), Err(Failure::Transient(_))));
    }

    #[test]
    fn any_body_is_classified_without_panicking() {
        for body in [
            &b""[..],
            b"null",
            b"[]",
            b"{\"error\":null}",
            b"{\"error\":{\"code\":\"131026\"}}",
            b"{\"error\":{\"code\":1.5e300,\"message\":7}}",
            b"\xff\xfe",
        ] {
            for status in [0, 199, 302, 400, 404, 429, 500, 599, 999] {
                let _ = classify(status, body);
            }
        }
        assert!(matches!(
            classify(400, b"{\"error\":{\"code\":\"131026\"}}"),
            Err(Failure::Rejected { code: None, .. })
        ));
    }
}
