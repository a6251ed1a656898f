//! Creates the DynamoDB tables from template.yaml's own definitions, so the local stack
//! and the tests use exactly the keys, index and TTL that AWS gets.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use omnisession::config::Tables;
use omnisession::store::schema;
use serde_yaml_ng::Value;

/// One `AWS::DynamoDB::Table` resource of the template, reduced to what CreateTable needs.
#[derive(Clone, Debug, PartialEq)]
pub struct TableDef {
    pub logical_id: String,
    /// (attribute, type) pairs.
    pub attributes: Vec<(String, String)>,
    /// (attribute, HASH|RANGE) pairs.
    pub keys: Vec<(String, String)>,
    pub indexes: Vec<IndexDef>,
    pub ttl_attribute: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct IndexDef {
    pub name: String,
    pub keys: Vec<(String, String)>,
    pub projection: String,
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("template.yaml: {0}")]
    Template(String),
    #[error("DynamoDB: {0}")]
    Dynamo(String),
    #[error(
        "table {0} exists but differs from template.yaml; recreate it (omnisession-admin create-tables --recreate)"
    )]
    Drifted(String),
}

fn text(v: &Value, what: &str) -> Result<String, TableError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| TableError::Template(format!("{what} must be a string")))
}

fn pairs(v: &Value, a: &str, b: &str) -> Result<Vec<(String, String)>, TableError> {
    v.as_sequence()
        .ok_or_else(|| TableError::Template(format!("expected a list of {a}/{b}")))?
        .iter()
        .map(|item| Ok((text(&item[a], a)?, text(&item[b], b)?)))
        .collect()
}

/// The configured table name of each template table, by logical id.
pub fn configured_names(tables: &Tables) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            schema::CUSTOMERS_RESOURCE.to_string(),
            tables.customers.clone(),
        ),
        (
            schema::SESSIONS_RESOURCE.to_string(),
            tables.sessions.clone(),
        ),
        (
            schema::MESSAGES_RESOURCE.to_string(),
            tables.messages.clone(),
        ),
        (schema::KIOSKS_RESOURCE.to_string(), tables.kiosks.clone()),
    ])
}

/// Every table of the template, by logical id, in template order.
pub fn table_definitions(template: &str) -> Result<Vec<TableDef>, TableError> {
    let doc: Value =
        serde_yaml_ng::from_str(template).map_err(|e| TableError::Template(e.to_string()))?;
    let resources = doc["Resources"]
        .as_mapping()
        .ok_or_else(|| TableError::Template("no Resources section".into()))?;
    let mut tables = Vec::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::DynamoDB::Table") {
            continue;
        }
        let props = &resource["Properties"];
        let mut indexes = Vec::new();
        if let Some(gsis) = props["GlobalSecondaryIndexes"].as_sequence() {
            for gsi in gsis {
                indexes.push(IndexDef {
                    name: text(&gsi["IndexName"], "IndexName")?,
                    keys: pairs(&gsi["KeySchema"], "AttributeName", "KeyType")?,
                    projection: text(&gsi["Projection"]["ProjectionType"], "ProjectionType")?,
                    non_key_attributes: gsi["Projection"]["NonKeyAttributes"]
                        .as_sequence()
                        .map(|s| {
                            s.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
        }
        let ttl = &props["TimeToLiveSpecification"];
        tables.push(TableDef {
            logical_id: text(id, "resource id")?,
            attributes: pairs(
                &props["AttributeDefinitions"],
                "AttributeName",
                "AttributeType",
            )?,
            keys: pairs(&props["KeySchema"], "AttributeName", "KeyType")?,
            indexes,
            ttl_attribute: (ttl["Enabled"].as_bool() == Some(true))
                .then(|| text(&ttl["AttributeName"], "TTL AttributeName"))
                .transpose()?,
        });
    }
    Ok(tables)
}

fn dynamo(e: impl std::fmt::Display) -> TableError {
    TableError::Dynamo(e.to_string())
}

fn key_schema(keys: &[(String, String)]) -> Result<Vec<KeySchemaElement>, TableError> {
    keys.iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::from(kind.as_str()))
                .build()
                .map_err(dynamo)
        })
        .collect()
}

/// Creates each table under the name `names` gives its logical id. An existing table is
/// kept when it matches the template, replaced with `recreate`, and an error otherwise.
pub async fn create_tables(
    client: &Client,
    defs: &[TableDef],
    names: &BTreeMap<String, String>,
    recreate: bool,
) -> Result<Vec<String>, TableError> {
    let mut report = Vec::new();
    for def in defs {
        let Some(name) = names.get(&def.logical_id) else {
            continue;
        };
        let existing = client.describe_table().table_name(name).send().await;
        if let Ok(described) = existing {
            let matches = described.table().is_some_and(|t| {
                let keys: Vec<(String, String)> = t
                    .key_schema()
                    .iter()
                    .map(|k| {
                        (
                            k.attribute_name().to_string(),
                            k.key_type().as_str().to_string(),
                        )
                    })
                    .collect();
                let indexes: Vec<String> = t
                    .global_secondary_indexes()
                    .iter()
                    .filter_map(|i| i.index_name().map(str::to_string))
                    .collect();
                keys == def.keys
                    && indexes
                        == def
                            .indexes
                            .iter()
                            .map(|i| i.name.clone())
                            .collect::<Vec<_>>()
            });
            if matches && !recreate {
                report.push(format!("{name}: exists, matches template.yaml"));
                continue;
            }
            if !recreate {
                return Err(TableError::Drifted(name.clone()));
            }
            client
                .delete_table()
                .table_name(name)
                .send()
                .await
                .map_err(dynamo)?;
        }
        let mut create = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key_schema(&def.keys)?));
        for (attr, kind) in &def.attributes {
            create = create.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attr)
                    .attribute_type(ScalarAttributeType::from(kind.as_str()))
                    .build()
                    .map_err(dynamo)?,
            );
        }
        for index in &def.indexes {
            let projection = Projection::builder()
                .projection_type(ProjectionType::from(index.projection.as_str()))
                .set_non_key_attributes(
                    (!index.non_key_attributes.is_empty())
                        .then(|| index.non_key_attributes.clone()),
                )
                .build();
            create = create.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(key_schema(&index.keys)?))
                    .projection(projection)
                    .build()
                    .map_err(dynamo)?,
            );
        }
        match create.send().await {
            Ok(_) => {}
            // Another process (a parallel test) created it meanwhile; it sets the TTL too.
            Err(e)
                if !recreate
                    && e.as_service_error()
                        .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                report.push(format!("{name}: created meanwhile by another process"));
                continue;
            }
            Err(e) => return Err(dynamo(aws_sdk_dynamodb::error::DisplayErrorContext(e))),
        }
        if let Some(attr) = &def.ttl_attribute {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(attr)
                        .enabled(true)
                        .build()
                        .map_err(dynamo)?,
                )
                .send()
                .await
                .map_err(dynamo)?;
        }
        report.push(format!(
            "{name}: created from template.yaml ({})",
            def.logical_id
        ));
    }
    Ok(report)
}
