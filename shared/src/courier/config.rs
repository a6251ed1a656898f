//! The courier's settings, read from environment variables like [`crate::config::Config`]
//! but on their own: only the function that sends codes reads them.

use crate::config::{ConfigError, Settings};

/// Where Meta's Graph API lives, with the API version the request shapes follow.
pub const DEFAULT_GRAPH_API_BASE: &str = "https://graph.facebook.com/v21.0";

#[derive(Clone, Debug)]
pub struct CourierConfig {
    /// `GRAPH_API_BASE`, without a trailing `/`.
    pub graph_api_base: String,
    /// `WHATSAPP_PHONE_NUMBER_ID`: the business number that sends (digits).
    pub whatsapp_phone_number_id: String,
    /// `WHATSAPP_CODE_TEMPLATE`: an approved authentication template with a copy-code
    /// button.
    pub whatsapp_code_template: String,
    /// `WHATSAPP_CODE_TEMPLATE_LANG`: the language the template was approved in.
    pub whatsapp_code_template_lang: String,
    /// `SMS_ENABLED=1`: codes may go by SMS (Amazon SNS), asked for or as a fallback.
    pub sms_enabled: bool,
    /// `SNS_ENDPOINT`: set locally to reach the stand-in; unset in AWS.
    pub sns_endpoint: Option<String>,
    /// `SMS_SENDER_ID`: the alphanumeric sender shown where the country allows one.
    pub sms_sender_id: Option<String>,
}

impl CourierConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so tests need not touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let settings = Settings(&lookup);
        let get = |name: &str| settings.get(name);
        let required = |name: &'static str| settings.required(name);
        let invalid = |name: &'static str, reason: &str| ConfigError::Invalid {
            name,
            reason: reason.into(),
        };

        let graph_api_base = get("GRAPH_API_BASE")
            .unwrap_or_else(|| DEFAULT_GRAPH_API_BASE.into())
            .trim_end_matches('/')
            .to_string();
        // The access token travels in a header: over plain HTTP only to this machine
        // (the local stand-in), never across a network.
        if !(graph_api_base.starts_with("https://") || is_loopback_http(&graph_api_base)) {
            return Err(invalid(
                "GRAPH_API_BASE",
                "expected an https:// URL (http:// only for 127.0.0.1, localhost or host.docker.internal)",
            ));
        }

        let whatsapp_phone_number_id = required("WHATSAPP_PHONE_NUMBER_ID")?;
        if !whatsapp_phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "WHATSAPP_PHONE_NUMBER_ID",
                "expected the number's id from WhatsApp Manager (digits)",
            ));
        }

        let sms_enabled = settings.switch("SMS_ENABLED")?;
        let sms_sender_id = get("SMS_SENDER_ID");
        // SNS's rule for alphanumeric sender ids; a bad one fails every SMS, so say it now.
        if let Some(id) = &sms_sender_id
            && !(id.len() <= 11
                && id.bytes().all(|b| b.is_ascii_alphanumeric())
                && id.bytes().any(|b| b.is_ascii_alphabetic()))
        {
            return Err(invalid(
                "SMS_SENDER_ID",
                "expected 1 to 11 letters and digits, at least one a letter",
            ));
        }

        Ok(Self {
            graph_api_base,
            whatsapp_phone_number_id,
            whatsapp_code_template: get("WHATSAPP_CODE_TEMPLATE")
                .unwrap_or_else(|| "verification_code".into()),
            whatsapp_code_template_lang: get("WHATSAPP_CODE_TEMPLATE_LANG")
                .unwrap_or_else(|| "en".into()),
            sms_enabled,
            sns_endpoint: get("SNS_ENDPOINT"),
            sms_sender_id,
        })
    }
}

fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host_port = rest.split('/').next().unwrap_or_default();
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host_port,
    };
    // `host.docker.internal`: the developer's machine as `sam local invoke`'s container
    // sees it (config/sam-local.json).
    matches!(
        host,
        "127.0.0.1" | "localhost" | "[::1]" | "host.docker.internal"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<CourierConfig, ConfigError> {
        let mut map: HashMap<String, String> = [
            ("WHATSAPP_PHONE_NUMBER_ID", "100000000000001"),
            ("WHATSAPP_ACCESS_TOKEN", "dev-whatsapp-access-token-0001"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            map.insert(k.to_string(), v.to_string());
        }
        CourierConfig::from_lookup(move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_send_by_whatsapp_only_to_meta() {
        let cfg = config(&[]).unwrap();
        assert_eq!(cfg.graph_api_base, DEFAULT_GRAPH_API_BASE);
        assert_eq!(cfg.whatsapp_code_template, "verification_code");
        assert_eq!(cfg.whatsapp_code_template_lang, "en");
        assert!(!cfg.sms_enabled);
        assert_eq!(cfg.sns_endpoint, None);
        assert_eq!(cfg.sms_sender_id, None);
        assert!(!format!("{cfg:?}").contains("dev-whatsapp-access-token"));
    }

    #[test]
    fn the_number_id_is_required() {
        let err = config(&[("WHATSAPP_PHONE_NUMBER_ID", " ")]).unwrap_err();
        assert!(
            matches!(err, ConfigError::Missing("WHATSAPP_PHONE_NUMBER_ID")),
            "{err}"
        );
        assert!(config(&[("WHATSAPP_PHONE_NUMBER_ID", "12ab")]).is_err());
    }

    #[test]
    fn the_token_goes_over_plain_http_only_to_this_machine() {
        for ok in [
            "https://graph.facebook.com/v21.0/",
            "http://127.0.0.1:8102/v21.0",
            "http://localhost:8102/v21.0",
        ] {
            let cfg = config(&[("GRAPH_API_BASE", ok)]).unwrap();
            assert!(!cfg.graph_api_base.ends_with('/'));
        }
        for bad in [
            "http://graph.facebook.com/v21.0",
            "http://127.0.0.1.example.com/v21.0",
            "ftp://127.0.0.1/",
        ] {
            assert!(config(&[("GRAPH_API_BASE", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn switches_and_sender_ids_are_checked() {
        assert!(config(&[("SMS_ENABLED", "1")]).unwrap().sms_enabled);
        assert!(config(&[("SMS_ENABLED", "yes")]).is_err());
        assert!(config(&[("SMS_SENDER_ID", "OMNI")]).is_ok());
        for bad in ["OMNISESSION1", "12345", "OMNI SHOP"] {
            assert!(config(&[("SMS_SENDER_ID", bad)]).is_err(), "{bad}");
        }
    }
}
