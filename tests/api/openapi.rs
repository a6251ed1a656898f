//! openapi.yaml describes exactly the routes the code serves, each with its security and
//! the shared error body, so the published contract cannot drift from the functions.

use std::collections::BTreeSet;

use omnisession_testkit::Function;
use serde_yaml_ng::Value;

use crate::helpers::repo_root;

fn spec() -> Value {
    let text = std::fs::read_to_string(repo_root().join("openapi.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

/// (method, path) of every route in the functions' route tables.
fn code_routes() -> BTreeSet<(String, String)> {
    Function::all_routes()
        .map(|(_, r)| (r.method.to_string(), r.path.to_string()))
        .collect()
}

#[test]
fn openapi_describes_exactly_the_routes_in_the_code() {
    let spec = spec();
    assert_eq!(spec["openapi"].as_str(), Some("3.1.0"));
    let mut described = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if ["get", "post", "put", "patch", "delete"].contains(&method) {
                described.insert((method.to_uppercase(), path.as_str().unwrap().to_string()));
            }
        }
    }
    assert_eq!(described, code_routes());
}

#[test]
fn every_operation_declares_its_security_and_the_error_body() {
    let spec = spec();
    let schemes = spec["components"]["securitySchemes"].as_mapping().unwrap();
    for name in [
        "sessionToken",
        "bearer",
        "kioskKey",
        "serviceKey",
        "hubSignature",
    ] {
        assert!(schemes.contains_key(name), "security scheme {name}");
    }
    let error = &spec["components"]["schemas"]["Error"]["required"];
    assert_eq!(
        error,
        &serde_yaml_ng::from_str::<Value>("[detail, error_type]").unwrap()
    );
    for (method, path) in code_routes() {
        let op = &spec["paths"][path.as_str()][method.to_lowercase().as_str()];
        assert!(op["security"].is_sequence(), "{method} {path}: security");
        let responses = op["responses"].as_mapping().unwrap();
        assert!(responses.contains_key("500"), "{method} {path}: 500");
        assert!(
            responses
                .keys()
                .any(|k| k.as_str().is_some_and(|s| s.starts_with('4'))),
            "{method} {path}: a 4xx"
        );
    }
}
