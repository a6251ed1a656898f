//! A request's counts as Embedded Metric Format documents, one JSON object per line:
//!
//! ```json
//! {"_aws": {"Timestamp": 1767225600000, "CloudWatchMetrics": [{"Namespace": "omnisession",
//!   "Dimensions": [["Function"], []], "Metrics": [{"Name": "Requests", "Unit": "Count"}]}]},
//!  "Function": "auth", "Requests": 1}
//! ```
//!
//! A document's dimensions take one value each, so counts with different dimension values
//! go in documents of their own: the function's counts (`Function`; and `[]`, the whole
//! stack), a login (`Channel` and `Result`; `Result`), codes by channel (`Via`; `[]`).
//! Only counts above zero are written (every request counts `Requests`, so that rates
//! have a denominator). Dimension values are the fixed names of this module's enums: nothing a
//! client sent, nothing personal, nothing of high cardinality.

use serde_json::{Map, Value, json};

use super::{Counter, Counts, Meter};
use crate::courier::Via;

/// The metrics of the documents besides the function's counts ([`Counter`]).
pub const LOGINS: &str = "Logins";
pub const CODES_SENT: &str = "CodesSent";
pub const CODE_DELIVERY_FAILURES: &str = "CodeDeliveryFailures";

/// The dimension sets of each kind of document.
pub const FUNCTION_DIMENSIONS: &[&[&str]] = &[&["Function"], &[]];
pub const LOGIN_DIMENSIONS: &[&[&str]] = &[&["Channel", "Result"], &["Result"]];
pub const CODE_DIMENSIONS: &[&[&str]] = &[&["Via"], &[]];

/// The documents of one request's counts, as JSON lines; none when nothing was counted.
pub fn lines(meter: Meter<'_>, counts: &Counts, timestamp_ms: i64) -> Vec<String> {
    documents(meter, counts, timestamp_ms)
        .iter()
        .map(Value::to_string)
        .collect()
}

/// The documents of one request's counts.
pub fn documents(meter: Meter<'_>, counts: &Counts, timestamp_ms: i64) -> Vec<Value> {
    let document = |dimension_sets, dimensions: &[(&str, &str)], metrics: &[(&str, u32)]| {
        document(meter, timestamp_ms, dimension_sets, dimensions, metrics)
    };
    let mut documents = Vec::new();
    let function: Vec<(&str, u32)> = Counter::ALL
        .iter()
        .map(|&c| (c.name(), counts.get(c)))
        .filter(|&(_, n)| n > 0)
        .collect();
    if !function.is_empty() {
        documents.push(document(FUNCTION_DIMENSIONS, &[], &function));
    }
    if let Some((channel, result)) = counts.login_outcome() {
        documents.push(document(
            LOGIN_DIMENSIONS,
            &[("Channel", channel.as_str()), ("Result", result.as_str())],
            &[(LOGINS, 1)],
        ));
    }
    for (via, name) in [(Via::WhatsApp, "whatsapp"), (Via::Sms, "sms")] {
        let (sent, failed) = counts.codes(via);
        let metrics: Vec<(&str, u32)> = [(CODES_SENT, sent), (CODE_DELIVERY_FAILURES, failed)]
            .into_iter()
            .filter(|&(_, n)| n > 0)
            .collect();
        if !metrics.is_empty() {
            documents.push(document(CODE_DIMENSIONS, &[("Via", name)], &metrics));
        }
    }
    documents
}

/// One document: the `_aws` metadata naming each metric (unit `Count`) and the dimension
/// sets, then the dimension values and the metric values as members of the root.
/// `Function` is always there: a dimension of the function's counts, a plain property
/// (for CloudWatch Logs Insights) of the others.
fn document(
    meter: Meter<'_>,
    timestamp_ms: i64,
    dimension_sets: &[&[&str]],
    dimensions: &[(&str, &str)],
    metrics: &[(&str, u32)],
) -> Value {
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": meter.namespace,
                "Dimensions": dimension_sets,
                "Metrics": definitions,
            }],
        }),
    );
    root.insert("Function".into(), meter.function.into());
    for (key, value) in dimensions {
        root.insert((*key).into(), (*value).into());
    }
    for (name, value) in metrics {
        root.insert((*name).into(), (*value).into());
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Channel;
    use crate::metrics::LoginResult;

    const METER: Meter<'static> = Meter {
        namespace: "omnisession/test",
        function: "auth",
    };
    const NOW: i64 = 1_767_225_600_000;

    /// Checks a document against the EMF specification and returns (dimension sets,
    /// metric names).
    fn check(doc: &Value) -> (Vec<Vec<String>>, Vec<String>) {
        let root = doc.as_object().expect("a JSON object");
        let aws = root["_aws"].as_object().expect("_aws is an object");
        assert_eq!(aws["Timestamp"], NOW, "Timestamp in epoch milliseconds");
        let directives = aws["CloudWatchMetrics"].as_array().expect("an array");
        assert_eq!(directives.len(), 1);
        let directive = directives[0].as_object().unwrap();
        assert_eq!(directive["Namespace"], "omnisession/test");
        let sets: Vec<Vec<String>> = directive["Dimensions"]
            .as_array()
            .expect("Dimensions is an array of dimension sets")
            .iter()
            .map(|set| {
                set.as_array()
                    .expect("a dimension set is an array")
                    .iter()
                    .map(|key| key.as_str().expect("a dimension key").to_string())
                    .collect()
            })
            .collect();
        for key in sets.iter().flatten() {
            assert!(
                root[key].is_string(),
                "dimension {key} has a string value at the root: {doc}"
            );
        }
        let names: Vec<String> = directive["Metrics"]
            .as_array()
            .expect("Metrics is an array")
            .iter()
            .map(|m| {
                assert_eq!(m["Unit"], "Count");
                m["Name"].as_str().expect("a metric name").to_string()
            })
            .collect();
        assert!(!names.is_empty());
        for name in &names {
            assert!(
                root[name].as_u64().is_some_and(|n| n > 0),
                "metric {name} has a value at the root: {doc}"
            );
        }
        (sets, names)
    }

    fn parsed(counts: &Counts) -> Vec<Value> {
        lines(METER, counts, NOW)
            .iter()
            .map(|line| {
                assert!(!line.contains('\n'), "one line per document");
                serde_json::from_str(line).expect("valid JSON")
            })
            .collect()
    }

    #[test]
    fn a_plain_request_is_one_document_of_the_function_and_the_stack() {
        let mut counts = Counts::default();
        counts.answered(200, false);
        let docs = parsed(&counts);
        assert_eq!(docs.len(), 1, "{docs:?}");
        let (sets, names) = check(&docs[0]);
        assert_eq!(sets, vec![vec!["Function".to_string()], vec![]]);
        assert_eq!(names, ["Requests"], "no zero-valued metrics");
        assert_eq!(docs[0]["Function"], "auth");
        assert_eq!(docs[0]["Requests"], 1);
    }

    #[test]
    fn every_count_is_written_with_its_dimensions() {
        let mut counts = Counts::default();
        counts.attempting_login(Channel::Web);
        counts.answered(429, true);
        for counter in Counter::ALL {
            counts.add(counter, 2);
        }
        counts.code(Via::WhatsApp, false);
        counts.code(Via::Sms, true);
        let docs = parsed(&counts);
        assert_eq!(docs.len(), 4, "{docs:?}");

        let (sets, names) = check(&docs[0]);
        assert_eq!(sets, vec![vec!["Function".to_string()], vec![]]);
        let all: Vec<&str> = Counter::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names, all);
        assert_eq!(docs[0]["Requests"], 3);
        assert_eq!(docs[0]["Lockouts"], 3);
        assert_eq!(docs[0]["Responses4xx"], 3);

        let (sets, names) = check(&docs[1]);
        assert_eq!(
            sets,
            vec![
                vec!["Channel".to_string(), "Result".to_string()],
                vec!["Result".to_string()]
            ]
        );
        assert_eq!(names, ["Logins"]);
        assert_eq!(
            (&docs[1]["Channel"], &docs[1]["Result"], &docs[1]["Logins"]),
            (&json!("web"), &json!("locked"), &json!(1))
        );

        for (doc, via, metric) in [
            (&docs[2], "whatsapp", "CodeDeliveryFailures"),
            (&docs[3], "sms", "CodesSent"),
        ] {
            let (sets, names) = check(doc);
            assert_eq!(sets, vec![vec!["Via".to_string()], vec![]]);
            assert_eq!(names, [metric]);
            assert_eq!(doc["Via"], via);
            assert_eq!(doc["Function"], "auth", "the function as a property");
        }
    }

    #[test]
    fn a_login_result_names_its_channel_and_result() {
        let mut counts = Counts::default();
        counts.login(Channel::Kiosk, LoginResult::Success);
        let docs = parsed(&counts);
        assert_eq!(docs.len(), 1, "nothing of the function was counted");
        check(&docs[0]);
        assert_eq!(docs[0]["Channel"], "kiosk");
        assert_eq!(docs[0]["Result"], "success");
    }

    #[test]
    fn nothing_counted_writes_nothing() {
        assert!(lines(METER, &Counts::default(), NOW).is_empty());
    }

    #[test]
    fn work_outside_a_request_writes_only_what_it_counted() {
        let mut counts = Counts::default();
        counts.add(Counter::SecretRefreshFailures, 1);
        let docs = parsed(&counts);
        assert_eq!(docs.len(), 1);
        let (_, names) = check(&docs[0]);
        assert_eq!(names, ["SecretRefreshFailures"], "no Requests: 0");
    }

    #[test]
    fn the_namespace_is_escaped_as_json() {
        let meter = Meter {
            namespace: "omni \"session\"",
            function: "qr",
        };
        let mut counts = Counts::default();
        counts.answered(500, false);
        let line = &lines(meter, &counts, NOW)[0];
        let doc: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "omni \"session\""
        );
        assert_eq!(doc["Responses5xx"], 1);
    }
}
