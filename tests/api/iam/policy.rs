//! Each function's IAM grants, read from its `Policies` in template.yaml: every
//! (action, resource) pair an `Allow` statement names, with CloudFormation's `!GetAtt`,
//! `!Ref` and `!Sub` resolved to the ARNs of the tables the tests use.
//!
//! Deliberately strict: anything this reader does not understand (a SAM policy template,
//! a managed policy, a `Deny`, a `Condition`, a wildcard) is an error that fails every
//! in-process test, instead of a policy silently read as broader or narrower than AWS
//! would read it. Wildcards are refused outright: they grant more than the code uses,
//! which the drift test (`tour`) forbids anyway.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use omnisession::config::Tables;
use omnisession::store::schema;
use serde_yaml_ng::Value;

/// The account and region the resolved ARNs name (the test client's region; the
/// account is the documentation's example). Requests and policies use the same, so only
/// the resource part of an ARN ever differs.
pub const REGION: &str = "ap-south-1";
pub const ACCOUNT: &str = "123456789012";

/// One permission IAM checks: an action (`dynamodb:GetItem`) on a resource (an ARN).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    pub action: String,
    pub resource: String,
}

impl Grant {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
        }
    }
}

/// `dynamodb:BatchGetItem on table omnisession-test-sessions`, the way a failing test
/// should say it.
impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resource = &self.resource;
        match resource.split_once(":table/") {
            Some((_, rest)) => match rest.split_once("/index/") {
                Some((table, index)) => {
                    write!(f, "{} on index {index} of table {table}", self.action)
                }
                None => write!(f, "{} on table {rest}", self.action),
            },
            None => write!(f, "{} on {resource}", self.action),
        }
    }
}

/// The ARN of a DynamoDB table, named as a request names it (a name or an ARN).
pub fn table_arn(table: &str) -> String {
    if table.starts_with("arn:") {
        table.to_string()
    } else {
        format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}")
    }
}

/// The ARN of a table's secondary index.
pub fn index_arn(table: &str, index: &str) -> String {
    format!("{}/index/{index}", table_arn(table))
}

/// The ARN the tests give the Secrets Manager secret of logical id `id` (a partial ARN,
/// without AWS's random suffix: Secrets Manager and IAM accept it as the tests use it).
pub fn secret_arn(id: &str) -> String {
    format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:omnisession-test-{id}")
}

/// The resource of the one grant that is not a DynamoDB one: SMS by SNS `Publish`,
/// written as `NotResource: arn:aws:sns:*:*:*` (phone numbers have no ARN; this form
/// allows them and no topic).
pub const SMS_ONLY: &str = "SMS to phone numbers (NotResource: every SNS topic)";
const EVERY_TOPIC: &str = "arn:aws:sns:*:*:*";

/// Every function's grants, by binary name.
#[derive(Clone, Debug, Default)]
pub struct Policies {
    by_function: BTreeMap<String, BTreeSet<Grant>>,
}

impl Policies {
    /// The policies of template.yaml's functions, with the tables resolved to `tables`.
    pub fn from_template(text: &str, tables: &Tables) -> Result<Self, String> {
        let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        let resolver = Resolver::new(tables, &doc);
        let resources = doc["Resources"]
            .as_mapping()
            .ok_or("template.yaml has no Resources")?;
        let mut by_function = BTreeMap::new();
        for (id, resource) in resources {
            let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else {
                continue;
            };
            let id = id.as_str().unwrap_or("?");
            let grants = grants(&resource["Properties"]["Policies"], &resolver)
                .map_err(|e| format!("{id}'s Policies: {e}"))?;
            by_function.insert(binary.to_string(), grants);
        }
        Ok(Self { by_function })
    }

    pub fn allows(&self, function: &str, grant: &Grant) -> bool {
        self.by_function
            .get(function)
            .is_some_and(|grants| grants.contains(grant))
    }

    /// What `function` is granted; empty for a function without policies.
    pub fn of(&self, function: &str) -> BTreeSet<Grant> {
        self.by_function.get(function).cloned().unwrap_or_default()
    }

    pub fn functions(&self) -> BTreeSet<String> {
        self.by_function.keys().cloned().collect()
    }

    /// Takes a permission away, for the test that a missing one fails the call.
    pub fn revoke(&mut self, function: &str, grant: &Grant) {
        if let Some(grants) = self.by_function.get_mut(function) {
            grants.remove(grant);
        }
    }
}

/// The value template.yaml gives environment variable `name` in the function built as
/// `binary` (its own, else the `Globals`'), resolved as for the policies; `None` when
/// it sets none.
pub fn function_env(
    text: &str,
    tables: &Tables,
    binary: &str,
    name: &str,
) -> Result<Option<String>, String> {
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let resolver = Resolver::new(tables, &doc);
    let resources = doc["Resources"]
        .as_mapping()
        .ok_or("template.yaml has no Resources")?;
    let function = resources
        .values()
        .find(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
        .ok_or_else(|| format!("no function is built as {binary}"))?;
    let own = &function["Properties"]["Environment"]["Variables"][name];
    let global = &doc["Globals"]["Function"]["Environment"]["Variables"][name];
    match (own, global) {
        (Value::Null, Value::Null) => Ok(None),
        (Value::Null, value) | (value, _) => resolver.resolve(value).map(Some),
    }
}

/// The (action, resource) pairs of a function's `Policies`.
fn grants(policies: &Value, resolver: &Resolver) -> Result<BTreeSet<Grant>, String> {
    let mut grants = BTreeSet::new();
    let documents = match policies {
        Value::Null => return Ok(grants),
        Value::Sequence(documents) => documents,
        other => return Err(format!("expected a list of policies, found {other:?}")),
    };
    for document in documents {
        let statements = match &document["Statement"] {
            Value::Sequence(statements) => statements.clone(),
            statement @ Value::Mapping(_) => vec![statement.clone()],
            _ => {
                return Err(format!(
                    "{document:?} is not a policy document (Version + Statement); SAM policy \
                     templates and managed policies are not read here, so write it out"
                ));
            }
        };
        for statement in &statements {
            statement_grants(statement, resolver, &mut grants)?;
        }
    }
    Ok(grants)
}

fn statement_grants(
    statement: &Value,
    resolver: &Resolver,
    grants: &mut BTreeSet<Grant>,
) -> Result<(), String> {
    let map = statement
        .as_mapping()
        .ok_or_else(|| format!("statement {statement:?} is not a mapping"))?;
    if statement["NotResource"].as_str() == Some(EVERY_TOPIC)
        && statement["Action"].as_str() == Some("sns:Publish")
        && statement["Effect"].as_str() == Some("Allow")
        && map.len() == 3
    {
        grants.insert(Grant::new("sns:Publish", SMS_ONLY));
        return Ok(());
    }
    for (key, _) in map {
        match key.as_str() {
            Some("Effect" | "Action" | "Resource" | "Sid") => {}
            other => return Err(format!("statement key {other:?} is not supported")),
        }
    }
    if statement["Effect"].as_str() != Some("Allow") {
        return Err(format!(
            "only Allow statements are supported: {statement:?}"
        ));
    }
    let actions = strings(&statement["Action"], |v| {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("action {v:?} is not a string"))
    })?;
    let resources = strings(&statement["Resource"], |v| resolver.resolve(v))?;
    for name in actions.iter().chain(&resources) {
        if name.contains(['*', '?']) {
            return Err(format!(
                "{name:?} is a wildcard; name each action and resource the code uses"
            ));
        }
    }
    for action in &actions {
        for resource in &resources {
            grants.insert(Grant::new(action, resource));
        }
    }
    Ok(())
}

/// A statement's `Action` or `Resource`: one value or a list of them.
fn strings(
    value: &Value,
    read: impl Fn(&Value) -> Result<String, String>,
) -> Result<Vec<String>, String> {
    match value {
        Value::Sequence(values) => values.iter().map(read).collect(),
        Value::Null => Err("a statement without Action or Resource".into()),
        value => Ok(vec![read(value)?]),
    }
}

/// What CloudFormation would substitute: `Ref` and `GetAtt .Arn` of the logical ids the
/// tests know, and the pseudo parameters.
struct Resolver {
    refs: HashMap<String, String>,
    arns: HashMap<String, String>,
}

impl Resolver {
    /// The four tables, and every secret of `doc` (named by [`secret_arn`]). A new
    /// resource a function is granted (a topic) is added here with the name and ARN the
    /// tests give it.
    fn new(tables: &Tables, doc: &Value) -> Self {
        let mut refs = HashMap::from([
            ("AWS::Region".to_string(), REGION.to_string()),
            ("AWS::AccountId".to_string(), ACCOUNT.to_string()),
            ("AWS::Partition".to_string(), "aws".to_string()),
        ]);
        let mut arns = HashMap::new();
        for (id, name) in [
            (schema::CUSTOMERS_RESOURCE, &tables.customers),
            (schema::SESSIONS_RESOURCE, &tables.sessions),
            (schema::MESSAGES_RESOURCE, &tables.messages),
            (schema::KIOSKS_RESOURCE, &tables.kiosks),
        ] {
            refs.insert(id.to_string(), name.clone());
            arns.insert(id.to_string(), table_arn(name));
        }
        // `Ref` of a secret is its ARN.
        for (id, resource) in doc["Resources"].as_mapping().into_iter().flatten() {
            if let (Some(id), Some("AWS::SecretsManager::Secret")) =
                (id.as_str(), resource["Type"].as_str())
            {
                refs.insert(id.to_string(), secret_arn(id));
            }
        }
        Self { refs, arns }
    }

    /// A resource: a literal, or a short-form (`!GetAtt`, serde_yaml_ng's tagged value)
    /// or long-form (`Fn::GetAtt`) intrinsic function.
    fn resolve(&self, value: &Value) -> Result<String, String> {
        match value {
            Value::String(literal) => Ok(literal.clone()),
            Value::Tagged(tagged) => self.intrinsic(&tagged.tag.to_string(), &tagged.value),
            Value::Mapping(map) if map.len() == 1 => {
                let (name, arg) = map.iter().next().ok_or("an empty mapping")?;
                let name = name.as_str().ok_or("a non-string key")?;
                self.intrinsic(name, arg)
            }
            other => Err(format!("cannot resolve {other:?}")),
        }
    }

    fn intrinsic(&self, name: &str, arg: &Value) -> Result<String, String> {
        let function = name.trim_start_matches('!').trim_start_matches("Fn::");
        match (function, arg) {
            ("Ref", Value::String(id)) => self.reference(id),
            ("GetAtt", Value::String(path)) => self.attribute(path),
            ("GetAtt", Value::Sequence(parts)) => {
                let parts: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
                self.attribute(&parts.join("."))
            }
            ("Sub", Value::String(template)) => self.substitute(template),
            _ => Err(format!("cannot resolve {name} {arg:?}")),
        }
    }

    fn reference(&self, id: &str) -> Result<String, String> {
        self.refs
            .get(id)
            .cloned()
            .ok_or_else(|| format!("Ref {id}: unknown to the IAM test"))
    }

    fn attribute(&self, path: &str) -> Result<String, String> {
        match path.split_once('.') {
            Some((id, "Arn")) => self
                .arns
                .get(id)
                .cloned()
                .ok_or_else(|| format!("GetAtt {path}: unknown to the IAM test")),
            _ => Err(format!("GetAtt {path}: only .Arn is supported")),
        }
    }

    /// `!Sub "${SessionsTable.Arn}/index/phone-index"`.
    fn substitute(&self, template: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| format!("Sub {template:?}: unclosed ${{"))?;
            let name = &rest[start + 2..start + end];
            out.push_str(&match name.contains('.') {
                true => self.attribute(name)?,
                false => self.reference(name)?,
            });
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> Tables {
        Tables {
            customers: "c".into(),
            sessions: "s".into(),
            messages: "m".into(),
            kiosks: "k".into(),
        }
    }

    fn function(policies: &str) -> Result<BTreeSet<Grant>, String> {
        let template = format!(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata:\n      \
             BuildProperties:\n        Binary: f\n    Properties:\n      Policies:\n{policies}"
        );
        Ok(Policies::from_template(&template, &tables())?.of("f"))
    }

    #[test]
    fn iam_reads_short_and_long_forms_of_getatt_sub_and_ref() {
        let grants = function(
            r#"        - Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:PutItem]
              Resource: !GetAtt CustomersTable.Arn
            - Effect: Allow
              Action: dynamodb:Query
              Resource:
                - !Sub "${SessionsTable.Arn}/index/phone-index"
                - { "Fn::GetAtt": [MessagesTable, Arn] }
                - !Sub "arn:aws:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${MessagesTable}"
"#,
        )
        .unwrap();
        let expected: BTreeSet<Grant> = [
            Grant::new("dynamodb:GetItem", table_arn("c")),
            Grant::new("dynamodb:PutItem", table_arn("c")),
            Grant::new("dynamodb:Query", index_arn("s", "phone-index")),
            Grant::new("dynamodb:Query", table_arn("m")),
        ]
        .into();
        assert_eq!(grants, expected);
        assert_eq!(
            Grant::new("dynamodb:Query", index_arn("s", "phone-index")).to_string(),
            "dynamodb:Query on index phone-index of table s"
        );
    }

    #[test]
    fn iam_refuses_what_it_cannot_read_exactly() {
        for (policies, complaint) in [
            (
                "        - DynamoDBCrudPolicy: { TableName: !Ref SessionsTable }\n",
                "policy document",
            ),
            (
                "        - Statement: [{Effect: Allow, Action: dynamodb:*, Resource: !GetAtt SessionsTable.Arn}]\n",
                "wildcard",
            ),
            (
                "        - Statement: [{Effect: Deny, Action: dynamodb:GetItem, Resource: !GetAtt SessionsTable.Arn}]\n",
                "Allow",
            ),
            (
                "        - Statement: [{Effect: Allow, Action: dynamodb:GetItem, Resource: !GetAtt Elsewhere.Arn}]\n",
                "unknown",
            ),
        ] {
            let err = function(policies).unwrap_err();
            assert!(err.contains(complaint), "{err}");
        }
    }
}
