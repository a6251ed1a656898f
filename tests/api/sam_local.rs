//! `sam local invoke <Function> --env-vars config/sam-local.json -e events/<route>.json`,
//! as the README documents it, must start every function against `make dev`'s DynamoDB
//! Local. Docker is not available here (nor in CI), so this checks what SAM would hand
//! each function: the variables the code reads, set by the env file, declared in
//! template.yaml (SAM overrides only declared variables and silently drops the rest), and
//! accepted by the functions' own configuration checks. It also checks that the README
//! explains every placeholder of the sample events.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use omnisession::config::Config;
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

use crate::helpers::*;

/// The DynamoDB Local of `make dev` (:8100), as a Docker container sees the host.
const CONTAINER_ENDPOINT: &str = "http://host.docker.internal:8100";

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every variable the functions read: those `Config::from_lookup` asks for (recorded, so
/// that a variable added to the code later is caught) and the log filter's `RUST_LOG`.
/// `answer` supplies the values, since a failed read stops the configuration early.
fn variables_the_code_reads(answer: &BTreeMap<String, String>) -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    let result = Config::from_lookup(|name| {
        asked.borrow_mut().insert(name.to_string());
        answer.get(name).cloned()
    });
    if let Err(err) = result {
        panic!("the configuration of config/sam-local.json is refused: {err}");
    }
    let mut names = asked.into_inner();
    // `omnisession::telemetry::init` reads the log level through the default variable.
    names.insert(tracing_subscriber::EnvFilter::DEFAULT_ENV.to_string());
    names
}

/// Function logical id → the environment variables template.yaml declares for it
/// (Globals plus its own).
fn declared_variables() -> BTreeMap<String, BTreeSet<String>> {
    let template: Yaml = serde_yaml_ng::from_str(&read("template.yaml")).unwrap();
    let names = |vars: &Yaml| -> BTreeSet<String> {
        vars.as_mapping()
            .map(|m| m.keys().map(|k| k.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let globals = names(&template["Globals"]["Function"]["Environment"]["Variables"]);
    let functions: BTreeMap<String, BTreeSet<String>> = template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(id, r)| {
            let own = names(&r["Properties"]["Environment"]["Variables"]);
            (
                id.as_str().unwrap().to_string(),
                globals.union(&own).cloned().collect(),
            )
        })
        .collect();
    assert!(!functions.is_empty(), "no functions in template.yaml");
    functions
}

/// What `--env-vars config/sam-local.json` sets for `function`, as SAM reads the file: the
/// `Parameters` object for every function, then the function's own object on top.
fn env_file_for(file: &Value, function: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for scope in ["Parameters", function] {
        if let Some(object) = file.get(scope) {
            for (name, value) in object.as_object().expect("an object of variables") {
                let value = value
                    .as_str()
                    .unwrap_or_else(|| panic!("config/sam-local.json: {name} must be a string"));
                vars.insert(name.clone(), value.to_string());
            }
        }
    }
    vars
}

/// config/dev.env as `name → value`.
fn dev_env() -> BTreeMap<String, String> {
    read("config/dev.env")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn the_env_file_starts_every_function_against_make_devs_dynamodb_local() {
    let file: Value =
        serde_json::from_str(&read("config/sam-local.json")).expect("config/sam-local.json");
    let declared = declared_variables();
    // SAM ignores an object named after no function: a typo would go unnoticed.
    for scope in file
        .as_object()
        .expect("config/sam-local.json is an object")
        .keys()
    {
        assert!(
            scope == "Parameters" || declared.contains_key(scope),
            "config/sam-local.json: {scope:?} is neither `Parameters` nor a function of template.yaml"
        );
    }
    let dev = dev_env();

    for (function, declared) in &declared {
        let env = env_file_for(&file, function);
        let read_by_code = variables_the_code_reads(&env);
        // A variable the code reads but the template does not give the function is one
        // whose absence the configuration accepts (it was read without a value above):
        // the courier's, which only the verify function has.
        for name in read_by_code.intersection(declared) {
            assert!(
                env.get(name).is_some_and(|v| !v.trim().is_empty()),
                "config/sam-local.json sets no value of {name} for {function}"
            );
        }
        for name in read_by_code.difference(declared) {
            assert!(
                !env.contains_key(name),
                "template.yaml does not declare {name} for {function}, so SAM would not pass it"
            );
        }
        for name in env.keys() {
            assert!(
                declared.contains(name),
                "config/sam-local.json sets {name}, which template.yaml does not declare for {function}: SAM drops it"
            );
        }

        assert_eq!(
            env["DYNAMODB_ENDPOINT"], CONTAINER_ENDPOINT,
            "{function}: a container reaches make dev's DynamoDB Local through the host"
        );
        // The development values of config/dev.env, so that the sample events (signed with
        // the dev app secret, carrying the dev keys) and `make dev` agree with the container.
        // The endpoints differ only in the host: the container's view of this machine.
        for (name, value) in &env {
            if let Some(dev_value) = dev.get(name) {
                let local = dev_value.replace("127.0.0.1", "host.docker.internal");
                assert!(
                    *value == *dev_value || *value == local,
                    "{function}: {name} differs from config/dev.env ({value} vs {dev_value})"
                );
            }
        }

        let config = Config::from_lookup(|name| env.get(name).cloned()).unwrap();
        assert!(
            config.local_dev,
            "{function}: OMNISESSION_LOCAL_DEV must be on"
        );
        config
            .require_real_secrets()
            .unwrap_or_else(|e| panic!("{function} would refuse to start: {e}"));
        // The secrets come from make dev's stand-in of Secrets Manager, as a deployed
        // function's come from AWS's: the secret it creates from config/dev.env.
        assert_eq!(
            env.get("SECRETS").map(String::as_str),
            Some("omnisession-dev"),
            "{function}: SECRETS must name the stand-in's secret"
        );
        assert_eq!(
            env["SECRETS_MANAGER_ENDPOINT"], "http://host.docker.internal:8102",
            "{function}: make dev's stand-in, as a container sees it"
        );
        assert_eq!(config.tables.customers, "omnisession-dev-customers");
        assert_eq!(config.tables.sessions, "omnisession-dev-sessions");
        assert_eq!(config.tables.messages, "omnisession-dev-messages");
        // Where make dev registers the kiosk whose key the sample events carry.
        assert_eq!(config.tables.kiosks, "omnisession-dev-kiosks");
    }

    assert!(
        read("scripts/standin.sh")
            .contains("--secrets-from config/dev.env --secret-name omnisession-dev"),
        "make dev's stand-in must hold secret omnisession-dev made from config/dev.env"
    );
    let readme = read("README.md");
    assert!(
        readme.contains("--env-vars config/sam-local.json"),
        "README.md must show `sam local invoke` with --env-vars config/sam-local.json"
    );
}

/// `REPLACE_WITH_…` placeholders in `text`.
fn placeholders(text: &str) -> BTreeSet<String> {
    const PREFIX: &str = "REPLACE_WITH_";
    text.match_indices(PREFIX)
        .map(|(at, _)| {
            let name: String = text[at + PREFIX.len()..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            format!("{PREFIX}{name}")
        })
        .collect()
}

#[test]
fn the_readme_explains_every_placeholder_of_the_sample_events() {
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(repo_root().join("events")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            for placeholder in placeholders(&std::fs::read_to_string(&path).unwrap()) {
                used.entry(placeholder).or_default().push(name.clone());
            }
        }
    }
    assert!(
        used.contains_key("REPLACE_WITH_SESSION_TOKEN"),
        "the token events carry a placeholder: {used:?}"
    );
    // Explained means: named in the README's `sed` that fills it in.
    let readme = read("README.md");
    let seds: String = readme
        .lines()
        .filter(|l| l.contains("sed "))
        .collect::<Vec<_>>()
        .join("\n");
    for (placeholder, events) in &used {
        assert!(
            seds.contains(placeholder.as_str()),
            "README.md has no `sed` that fills {placeholder} (used by {events:?})"
        );
    }
}
