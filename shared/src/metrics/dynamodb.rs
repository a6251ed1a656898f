//! DynamoDB throttles and retries, counted by an SDK interceptor on the store's client
//! (`Store::connect` installs it). Its hooks run inside the request's own task, so they
//! count into the request's accumulator.
//!
//! Per call it adds one to a counter and, per attempt, one to another: retries are the
//! attempts beyond the calls. A throttle is recognised from the attempt's response, whose
//! body is only read for a 400 (what DynamoDB answers a throttled call with).

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use serde::Deserialize;

use super::{Counter, count, count_dynamodb_attempt, count_dynamodb_call};

/// The interceptor: add it to a DynamoDB client's configuration.
#[derive(Clone, Copy, Debug, Default)]
pub struct DynamoDbCalls;

impl Intercept for DynamoDbCalls {
    fn name(&self) -> &'static str {
        "omnisession metrics"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        count_dynamodb_call();
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        count_dynamodb_attempt();
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let throttled = context.response().is_some_and(|response| {
            response.status().as_u16() == 400 && response.body().bytes().is_some_and(throttled)
        });
        if throttled {
            count(Counter::DynamoDbThrottles);
        }
        Ok(())
    }
}

/// The members of a DynamoDB error body that tell a throttle (awsJson1_0: the error's
/// shape id in `__type`; a cancelled transaction's reasons, one per item).
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "__type", default)]
    kind: String,
    #[serde(rename = "CancellationReasons", default)]
    reasons: Vec<Reason>,
}

#[derive(Deserialize)]
struct Reason {
    #[serde(rename = "Code", default)]
    code: Option<String>,
}

/// Whether an error body refuses the call for throughput: a throttling error, or a
/// transaction cancelled because one of its items was throttled.
fn throttled(body: &[u8]) -> bool {
    let Ok(error) = serde_json::from_slice::<ErrorBody>(body) else {
        return false;
    };
    match error.kind.rsplit('#').next().unwrap_or_default() {
        "ThrottlingException"
        | "ProvisionedThroughputExceededException"
        | "RequestLimitExceeded" => true,
        "TransactionCanceledException" => error.reasons.iter().any(|r| {
            matches!(
                r.code.as_deref(),
                Some("ThrottlingError" | "ProvisionedThroughputExceeded")
            )
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_are_told_from_other_errors() {
        for kind in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
        ] {
            let body = format!(
                r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{kind}","message":"slow down"}}"#
            );
            assert!(throttled(body.as_bytes()), "{kind}");
        }
        let cancelled = |codes: &[&str]| {
            let reasons: Vec<String> = codes
                .iter()
                .map(|c| format!(r#"{{"Code":"{c}","Item":{{"pk":{{"S":"ThrottlingError"}}}}}}"#))
                .collect();
            format!(
                r#"{{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"m","CancellationReasons":[{}]}}"#,
                reasons.join(",")
            )
        };
        assert!(throttled(
            cancelled(&["None", "ThrottlingError"]).as_bytes()
        ));
        // A condition that failed is not a throttle, whatever the item holds.
        assert!(!throttled(
            cancelled(&["ConditionalCheckFailed", "None"]).as_bytes()
        ));
        assert!(!throttled(
            br#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"ThrottlingException"}"#
        ));
        assert!(!throttled(b"not json"));
        assert!(!throttled(b""));
    }
}
