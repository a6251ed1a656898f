//! Code, template.yaml and the local stack must agree: tables, keys, index, TTL, routes.

use std::collections::BTreeSet;

use omnisession::routes::Route;
use omnisession::store::schema;
use omnisession_admin::tables::{self, TableDef};
use omnisession_testkit::Function;
use serde_yaml_ng::Value;

use crate::helpers::*;

fn template() -> String {
    std::fs::read_to_string(repo_root().join("template.yaml")).unwrap()
}

fn table<'a>(defs: &'a [TableDef], id: &str) -> &'a TableDef {
    defs.iter()
        .find(|d| d.logical_id == id)
        .unwrap_or_else(|| panic!("{id} missing from template.yaml"))
}

#[test]
fn the_template_declares_the_keys_index_and_ttl_the_code_uses() {
    let defs = tables::table_definitions(&template()).unwrap();
    let pk = (schema::PARTITION_KEY.to_string(), "HASH".to_string());
    let customers = table(&defs, schema::CUSTOMERS_RESOURCE);
    assert_eq!(customers.keys, std::slice::from_ref(&pk));

    let sessions = table(&defs, schema::SESSIONS_RESOURCE);
    assert_eq!(sessions.keys, std::slice::from_ref(&pk));
    assert_eq!(
        sessions.ttl_attribute.as_deref(),
        Some(schema::TTL_ATTRIBUTE)
    );
    let index = sessions
        .indexes
        .iter()
        .find(|i| i.name == schema::PHONE_INDEX)
        .expect("phone index");
    let keys: Vec<&str> = index.keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, schema::PHONE_INDEX_KEYS);
    for attr in schema::PHONE_INDEX_PROJECTS {
        assert!(
            index.non_key_attributes.iter().any(|a| a == attr),
            "phone index must project {attr}"
        );
    }

    let messages = table(&defs, schema::MESSAGES_RESOURCE);
    assert_eq!(
        messages.keys,
        [pk, (schema::SORT_KEY.to_string(), "RANGE".to_string())]
    );
    assert_eq!(
        messages.ttl_attribute.as_deref(),
        Some(schema::TTL_ATTRIBUTE)
    );

    // Kiosks never expire: a registered kiosk stays until it is revoked.
    let kiosks = table(&defs, schema::KIOSKS_RESOURCE);
    assert_eq!(
        kiosks.keys,
        [(schema::KIOSK_KEY.to_string(), "HASH".to_string())]
    );
    assert_eq!(kiosks.ttl_attribute, None);
}

#[tokio::test]
async fn the_local_tables_match_the_template() {
    let config = test_config();
    let defs = tables::table_definitions(&template()).unwrap();
    let report = tables::create_tables(&client(&config), &defs, &table_names(&config), false)
        .await
        .expect("local tables differ from template.yaml");
    assert_eq!(report.len(), 4);
    assert!(
        report
            .iter()
            .all(|line| line.contains("matches template.yaml")),
        "{report:?}"
    );
}

/// (method, path) of every HttpApi event in template.yaml, by function binary.
fn template_routes(binary: &str) -> BTreeSet<(String, String)> {
    let doc: Value = serde_yaml_ng::from_str(&template()).unwrap();
    let mut routes = BTreeSet::new();
    for (_, resource) in doc["Resources"].as_mapping().unwrap() {
        if resource["Metadata"]["BuildProperties"]["Binary"].as_str() != Some(binary) {
            continue;
        }
        for (_, event) in resource["Properties"]["Events"].as_mapping().unwrap() {
            let p = &event["Properties"];
            routes.insert((
                p["Method"].as_str().unwrap().to_string(),
                p["Path"].as_str().unwrap().to_string(),
            ));
        }
    }
    routes
}

/// (method, path) of the local router in the root Cargo.toml, by function.
fn router_routes(function: &str) -> BTreeSet<(String, String)> {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let mut routes = BTreeSet::new();
    let mut in_router = false;
    for line in manifest.lines() {
        if line.starts_with('[') {
            in_router = line.trim() == "[workspace.metadata.lambda.watch.router]";
            continue;
        }
        if !in_router || !line.contains(&format!("function = \"{function}\"")) {
            continue;
        }
        let path = line.split('"').nth(1).unwrap().to_string();
        for method in line.split("method = \"").skip(1) {
            routes.insert((method.split('"').next().unwrap().to_string(), path.clone()));
        }
    }
    routes
}

/// (method, path) of a function's route table.
fn code_routes(routes: &[Route]) -> BTreeSet<(String, String)> {
    routes
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect()
}

#[test]
fn every_route_in_the_code_is_in_the_template_and_the_local_router() {
    for function in Function::ALL {
        let binary = function.package();
        let code = code_routes(function.routes());
        assert_eq!(
            template_routes(binary),
            code,
            "template.yaml vs {binary}'s code"
        );
        assert_eq!(
            router_routes(binary),
            code,
            "Cargo.toml router vs {binary}'s code"
        );
    }
}
