//! template.yaml's operations: the policy scan's skips each give a reason, every alarm
//! reaches the operator and says what to do, every function has its alarms and its
//! concurrency parameter, and the dashboard is valid JSON showing the metrics the functions
//! publish (README -> Operate). cfn-lint cannot look inside the dashboard's `!Sub` string,
//! and CloudFormation would refuse invalid JSON only at deploy time.

use std::collections::{BTreeMap, BTreeSet};

use omnisession_testkit::Function;
use serde_json::Value as Json;
use serde_yaml_ng::Value;

use crate::helpers::*;

fn template() -> Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn resources(template: &Value) -> Vec<(String, &Value)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .map(|(id, r)| (id.as_str().unwrap().to_string(), r))
        .collect()
}

fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    resources(template)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .collect()
}

/// The argument of a short-form intrinsic (`!Ref X` → `X`), if `value` is that one.
fn intrinsic<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag.to_string().trim_start_matches('!') == name => {
            Some(&tagged.value)
        }
        _ => None,
    }
}

fn reference(value: &Value) -> Option<&str> {
    intrinsic(value, "Ref").and_then(Value::as_str)
}

/// Function logical id → its binary, the `Function` dimension of its metrics.
fn functions(template: &Value) -> BTreeMap<String, String> {
    let functions: BTreeMap<String, String> = of_type(template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, r)| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
            (id, binary.to_string())
        })
        .collect();
    let binaries: BTreeSet<&str> = functions.values().map(String::as_str).collect();
    let known: BTreeSet<&str> = Function::ALL.iter().map(|f| f.package()).collect();
    assert_eq!(binaries, known, "template.yaml's functions");
    functions
}

/// The policy scan's skips (`Metadata: checkov: skip: [{id, comment}]`) that do not say
/// why: no comment, or one too short to be a reason an operator can judge.
fn skips_without_reasons(template: &Value) -> Vec<String> {
    let mut refused = Vec::new();
    for (id, resource) in resources(template) {
        let skips = &resource["Metadata"]["checkov"]["skip"];
        if skips.is_null() {
            continue;
        }
        let Some(skips) = skips.as_sequence() else {
            refused.push(format!("{id}: checkov.skip is not a list"));
            continue;
        };
        for skip in skips {
            let check = skip["id"].as_str().unwrap_or("");
            let well_formed = check.starts_with("CKV")
                && check
                    .rsplit('_')
                    .next()
                    .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
            if !well_formed {
                refused.push(format!("{id}: a skip without a check id"));
            }
            let comment = skip["comment"].as_str().unwrap_or("").trim();
            if comment.split_whitespace().count() < 8 {
                refused.push(format!("{id}: {check} is skipped without a reason"));
            }
        }
    }
    refused
}

#[test]
fn every_skip_of_the_policy_scan_gives_its_reason() {
    let template = template();
    assert_eq!(skips_without_reasons(&template), Vec::<String>::new());
    let skipped: usize = resources(&template)
        .iter()
        .filter_map(|(_, r)| r["Metadata"]["checkov"]["skip"].as_sequence())
        .map(Vec::len)
        .sum();
    assert!(
        skipped > 0,
        "the template skips checks: this test must see them"
    );

    // And the check refuses what it should.
    let bare: Value = serde_yaml_ng::from_str(
        "Resources:\n  Logs:\n    Type: AWS::Logs::LogGroup\n    Metadata:\n      checkov:\n        skip:\n          - id: CKV_AWS_158\n          - id: CKV_AWS_66\n            comment: \"  \"\n          - comment: a reason long enough to be judged by an operator, but for no check\n",
    )
    .unwrap();
    assert_eq!(
        skips_without_reasons(&bare),
        [
            "Logs: CKV_AWS_158 is skipped without a reason",
            "Logs: CKV_AWS_66 is skipped without a reason",
            "Logs: a skip without a check id",
        ]
    );
}

#[test]
fn every_alarm_notifies_the_topic_and_says_what_to_do() {
    let template = template();
    let alarms = of_type(&template, "AWS::CloudWatch::Alarm");
    assert!(!alarms.is_empty());
    assert!(
        !of_type(&template, "AWS::SNS::Topic").is_empty()
            && template["Resources"]["AlarmTopic"]["Type"] == "AWS::SNS::Topic"
    );
    for (id, alarm) in &alarms {
        let p = &alarm["Properties"];
        for actions in ["AlarmActions", "OKActions"] {
            let targets: Vec<Option<&str>> = p[actions]
                .as_sequence()
                .unwrap_or_else(|| panic!("{id} has no {actions}"))
                .iter()
                .map(reference)
                .collect();
            assert_eq!(targets, [Some("AlarmTopic")], "{id}'s {actions}");
        }
        // Quiet when nothing is published: most of these metrics exist only when
        // something happened.
        assert_eq!(p["TreatMissingData"], "notBreaching", "{id}");
        let description = match &p["AlarmDescription"] {
            Value::String(text) => text.clone(),
            other => intrinsic(other, "Sub")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("{id} has no AlarmDescription"))
                .to_string(),
        };
        assert!(
            description.split_whitespace().count() >= 25,
            "{id}: its description must say what it means and what to do"
        );
    }

    // What each alarm watches: (namespace, metric, FunctionName dimension's Ref).
    // (`as_str` reads through a tag: `!Sub "omnisession/${AWS::StackName}"` is that text.)
    let ours = template["Globals"]["Function"]["Environment"]["Variables"]["METRICS_NAMESPACE"]
        .as_str()
        .expect("METRICS_NAMESPACE")
        .to_string();
    let watched: BTreeSet<(String, String, Option<String>)> = alarms
        .iter()
        .flat_map(|(_, alarm)| {
            let p = &alarm["Properties"];
            let stats: Vec<&Value> = match p["Metrics"].as_sequence() {
                Some(metrics) => metrics
                    .iter()
                    .map(|m| &m["MetricStat"]["Metric"])
                    .filter(|m| !m.is_null())
                    .collect(),
                None => vec![p],
            };
            stats.into_iter().map(|m| {
                let namespace = match m["Namespace"].as_str() {
                    Some(namespace) if namespace == ours => "ours".to_string(),
                    Some(aws) if aws.starts_with("AWS/") => aws.to_string(),
                    other => panic!("an alarm reads namespace {other:?}"),
                };
                let function = m["Dimensions"]
                    .as_sequence()
                    .and_then(|d| d.first())
                    .filter(|d| d["Name"] == "FunctionName")
                    .and_then(|d| reference(&d["Value"]))
                    .map(str::to_string);
                let metric = m["MetricName"].as_str().unwrap().to_string();
                (namespace, metric, function)
            })
        })
        .collect();
    let watches = |namespace: &str, metric: &str, function: Option<&str>| {
        watched.contains(&(
            namespace.to_string(),
            metric.to_string(),
            function.map(str::to_string),
        ))
    };
    for metric in ["DynamoDbThrottles", "Lockouts", "CodeDeliveryFailures"] {
        assert!(
            watches("ours", metric, None),
            "no stack-wide {metric} alarm"
        );
    }
    assert!(watches("AWS/ApiGateway", "5xx", None) && watches("AWS/ApiGateway", "Count", None));
    for id in functions(&template).keys() {
        for metric in ["Errors", "Throttles"] {
            assert!(
                watches("AWS/Lambda", metric, Some(id)),
                "no {metric} alarm for {id}"
            );
        }
    }

    // The e-mail subscription exists only when an address is given.
    let subscription = &template["Resources"]["AlarmEmailSubscription"];
    assert_eq!(subscription["Condition"], "AlarmEmailGiven");
    assert_eq!(
        reference(&subscription["Properties"]["Endpoint"]),
        Some("AlarmEmail")
    );
    assert_eq!(template["Parameters"]["AlarmEmail"]["Default"], "");
}

#[test]
fn every_function_reserves_concurrency_by_a_parameter_that_can_reserve_none() {
    let template = template();
    for id in functions(&template).keys() {
        let reserved =
            &template["Resources"][id.as_str()]["Properties"]["ReservedConcurrentExecutions"];
        let branches = intrinsic(reserved, "If")
            .and_then(Value::as_sequence)
            .unwrap_or_else(|| panic!("{id}: ReservedConcurrentExecutions is not an !If"));
        let [condition, Value::Tagged(_), Value::Tagged(_)] = branches.as_slice() else {
            panic!("{id}: !If [condition, !Ref parameter, !Ref AWS::NoValue]");
        };
        let parameter = reference(&branches[1]).unwrap();
        assert_eq!(reference(&branches[2]), Some("AWS::NoValue"), "{id}");

        // The condition is "the parameter is not -1".
        let condition = &template["Conditions"][condition.as_str().unwrap()];
        let equals = intrinsic(condition, "Not")
            .and_then(|not| not.as_sequence()?.first())
            .and_then(|inner| intrinsic(inner, "Equals"))
            .and_then(Value::as_sequence)
            .unwrap_or_else(|| panic!("{id}'s condition is !Not [!Equals [...]]"));
        assert_eq!(reference(&equals[0]), Some(parameter), "{id}");
        assert_eq!(equals[1], "-1", "{id}: -1 reserves none");

        let declared = &template["Parameters"][parameter];
        assert_eq!(declared["Type"], "Number", "{parameter}");
        assert_eq!(declared["MinValue"].as_i64(), Some(-1), "{parameter}");
        assert!(
            declared["Default"].as_i64().is_some_and(|d| d >= 1),
            "{parameter}"
        );
    }
    assert_eq!(
        reference(&template["Globals"]["Function"]["Tracing"]),
        Some("Tracing")
    );
}

/// The dashboard's body with `!Sub`'s `${…}` filled as CloudFormation would: each must name
/// a resource (`${Id}`, `${Id.Arn}`) or a pseudo parameter.
fn dashboard(template: &Value) -> Json {
    let dashboards = of_type(template, "AWS::CloudWatch::Dashboard");
    let [(_, dashboard)] = dashboards.as_slice() else {
        panic!("one dashboard");
    };
    let body = intrinsic(&dashboard["Properties"]["DashboardBody"], "Sub")
        .and_then(Value::as_str)
        .expect("DashboardBody: !Sub |");
    let mut filled = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        filled.push_str(&rest[..start]);
        let end = start + rest[start..].find('}').expect("an unclosed ${");
        let name = &rest[start + 2..end];
        let value = match name {
            "AWS::Region" => "ap-south-1".to_string(),
            "AWS::StackName" => "omnisession".to_string(),
            _ => {
                let (id, attribute) = name.split_once('.').unwrap_or((name, ""));
                assert!(
                    !template["Resources"][id].is_null() && matches!(attribute, "" | "Arn"),
                    "the dashboard names ${{{name}}}, which the template does not have"
                );
                format!("<{name}>")
            }
        };
        filled.push_str(&value);
        rest = &rest[end + 1..];
    }
    filled.push_str(rest);
    serde_json::from_str(&filled).unwrap_or_else(|e| panic!("the dashboard is not JSON: {e}"))
}

#[test]
fn the_dashboard_shows_every_metric_the_functions_publish_and_every_alarm() {
    let template = template();
    let body = dashboard(&template);
    let widgets = body["widgets"].as_array().expect("widgets");
    let namespace = "omnisession/omnisession";

    // Every metric line of every graph as (namespace, name, dimensions).
    let mut shown: BTreeSet<(String, String, Vec<String>)> = BTreeSet::new();
    let mut alarms: BTreeSet<String> = BTreeSet::new();
    for widget in widgets {
        let properties = &widget["properties"];
        match widget["type"].as_str() {
            Some("metric") => {
                assert_eq!(properties["region"], "ap-south-1");
                for line in properties["metrics"].as_array().expect("metrics") {
                    let parts: Vec<String> = line
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect();
                    assert!(parts.len() >= 2 && parts.len().is_multiple_of(2), "{line}");
                    shown.insert((parts[0].clone(), parts[1].clone(), parts[2..].to_vec()));
                }
            }
            Some("alarm") => {
                for arn in properties["alarms"].as_array().unwrap() {
                    alarms.insert(arn.as_str().unwrap().to_string());
                }
            }
            Some("text") => {}
            other => panic!("a widget of type {other:?}"),
        }
    }
    let has = |ns: &str, metric: &str, dimensions: &[&str]| {
        shown.contains(&(
            ns.to_string(),
            metric.to_string(),
            dimensions.iter().map(|d| d.to_string()).collect(),
        ))
    };

    // The metrics contract (README -> Operate): per function, and stack-wide.
    let functions = functions(&template);
    for metric in [
        "Requests",
        "Responses4xx",
        "Responses5xx",
        "DynamoDbThrottles",
    ] {
        for binary in functions.values() {
            assert!(
                has(namespace, metric, &["Function", binary]),
                "{metric} of {binary}"
            );
        }
    }
    for metric in [
        "DynamoDbRetries",
        "IdempotentReplays",
        "Lockouts",
        "Merges",
        "SecretRefreshFailures",
    ] {
        assert!(has(namespace, metric, &[]), "{metric}");
    }
    for channel in ["web", "kiosk", "whatsapp"] {
        for result in ["success", "failure", "locked"] {
            assert!(has(
                namespace,
                "Logins",
                &["Channel", channel, "Result", result]
            ));
        }
    }
    for metric in ["CodesSent", "CodeDeliveryFailures"] {
        for via in ["whatsapp", "sms"] {
            assert!(has(namespace, metric, &["Via", via]), "{metric} by {via}");
        }
    }
    // AWS's own.
    for metric in ["Count", "4xx", "5xx", "Latency", "IntegrationLatency"] {
        assert!(
            has("AWS/ApiGateway", metric, &["ApiId", "<HttpApi>"]),
            "{metric}"
        );
    }
    for id in functions.keys() {
        for metric in ["Duration", "Errors", "Throttles", "ConcurrentExecutions"] {
            let function = format!("<{id}>");
            assert!(
                has("AWS/Lambda", metric, &["FunctionName", &function]),
                "{metric} of {id}"
            );
        }
    }

    let every_alarm: BTreeSet<String> = of_type(&template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(id, _)| format!("<{id}.Arn>"))
        .collect();
    assert_eq!(alarms, every_alarm, "the dashboard's alarm widget");
}
