//! SMS through Amazon SNS `Publish` to a phone number (no topic), marked transactional so
//! that SNS routes it for delivery rather than price.

use std::time::Duration;

use aws_sdk_sns::Client;
use aws_sdk_sns::config::timeout::TimeoutConfig;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;

use super::{CODE_VALID_MINUTES, CourierConfig, scrub};
use crate::phone::PhoneNumber;

pub(crate) struct Sms {
    client: Client,
    sender_id: Option<String>,
}

impl Sms {
    /// The SNS client on the function's SDK settings (region, credentials), with its own
    /// endpoint: `SNS_ENDPOINT` locally, SNS's own in AWS (never the DynamoDB endpoint a
    /// local `SdkConfig` carries).
    pub(crate) fn new(config: &CourierConfig, sdk: &aws_config::SdkConfig) -> Self {
        let mut builder = aws_sdk_sns::config::Builder::from(sdk);
        builder.set_endpoint_url(config.sns_endpoint.clone());
        Self {
            client: Client::from_conf(builder.build()),
            sender_id: config.sms_sender_id.clone(),
        }
    }

    /// Publishes the text within `time`, the SDK's retries included. Ok holds SNS's
    /// message id. The error is a sentence without the code.
    pub(crate) async fn send(
        &self,
        to: &PhoneNumber,
        code: &str,
        time: Duration,
    ) -> Result<Option<String>, String> {
        let mut publish = self
            .client
            .publish()
            .phone_number(to.as_str())
            .message(text(code))
            .message_attributes("AWS.SNS.SMS.SMSType", string_attribute("Transactional")?);
        if let Some(sender) = &self.sender_id {
            publish = publish.message_attributes("AWS.SNS.SMS.SenderID", string_attribute(sender)?);
        }
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(time.min(Duration::from_secs(1)))
            .operation_attempt_timeout(time.min(Duration::from_secs(2)))
            .operation_timeout(time)
            .build();
        publish
            .customize()
            .config_override(aws_sdk_sns::config::Builder::default().timeout_config(timeouts))
            .send()
            .await
            .map(|out| out.message_id)
            .map_err(|err| scrub(&DisplayErrorContext(&err).to_string(), &[code]))
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, String> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| format!("message attribute: {e}"))
}

/// What the customer reads.
pub(crate) fn text(code: &str) -> String {
    format!("{code} is your verification code. It expires in {CODE_VALID_MINUTES} minutes.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_leads_with_the_code() {
        assert_eq!(
            text("123456"),
            "123456 is your verification code. It expires in 10 minutes."
        );
    }
}
