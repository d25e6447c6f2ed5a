//! Rendering of the four CustomResourceDefinitions from the Rust types, and the file names they are
//! kept under in `crds/`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use std::sync::OnceLock;

use kube::CustomResourceExt;

use super::{Kind, Redis, RedisCluster, RedisReplication, RedisSentinel};

/// The CRD of one kind, as the code defines it.
pub fn custom_resource_definition(kind: Kind) -> CustomResourceDefinition {
    let mut crd = match kind {
        Kind::Redis => Redis::crd(),
        Kind::RedisReplication => RedisReplication::crd(),
        Kind::RedisSentinel => RedisSentinel::crd(),
        Kind::RedisCluster => RedisCluster::crd(),
    };
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|validation| validation.open_api_v3_schema.as_mut())
        {
            add_object_envelope(schema);
            make_embedded_metadata_optional(schema);
        }
    }
    crd
}

/// Declares `apiVersion`, `kind` and `metadata` at the root, as every Kubernetes-generated CRD
/// does, so that clients reading the schema (and strict field validation) know them.
fn add_object_envelope(schema: &mut JSONSchemaProps) {
    let field = |type_: &str, description: &str| JSONSchemaProps {
        type_: Some(type_.to_owned()),
        description: Some(description.to_owned()),
        ..JSONSchemaProps::default()
    };
    let properties = schema.properties.get_or_insert_with(Default::default);
    properties
        .entry("apiVersion".to_owned())
        .or_insert_with(|| {
            field(
                "string",
                "APIVersion defines the versioned schema of this representation of an object.",
            )
        });
    properties.entry("kind".to_owned()).or_insert_with(|| {
        field(
            "string",
            "Kind is a string value representing the REST resource this object represents.",
        )
    });
    // The API server owns the schema of `metadata`: at the root it accepts `type: object` and
    // nothing else (a description is rejected as "metadata is implicitly specified").
    properties
        .entry("metadata".to_owned())
        .or_insert_with(|| JSONSchemaProps {
            type_: Some("object".to_owned()),
            ..JSONSchemaProps::default()
        });
}

/// The file in `crds/` that holds the CRD of `kind`: `<group>_<plural>.yaml`.
pub fn file_name(kind: Kind) -> String {
    let crd = custom_resource_definition(kind);
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// The CRD of `kind` as a YAML document, exactly as it is kept in `crds/`.
pub fn render_yaml(kind: Kind) -> Result<String, serde_yaml_ng::Error> {
    serde_yaml_ng::to_string(&custom_resource_definition(kind))
}

/// All four CRDs as one multi-document YAML stream.
pub fn render_all_yaml() -> Result<String, serde_yaml_ng::Error> {
    let mut output = String::new();
    for kind in Kind::ALL {
        output.push_str("---\n");
        output.push_str(&render_yaml(kind)?);
    }
    Ok(output)
}

/// The `openAPIV3Schema` of the served version of `kind`, as JSON, for offline validation.
///
/// Generated once per kind and process: generating it walks every Kubernetes type it embeds.
pub fn open_api_schema(kind: Kind) -> &'static serde_json::Value {
    static SCHEMAS: [OnceLock<serde_json::Value>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let slot = match kind {
        Kind::Redis => &SCHEMAS[0],
        Kind::RedisReplication => &SCHEMAS[1],
        Kind::RedisSentinel => &SCHEMAS[2],
        Kind::RedisCluster => &SCHEMAS[3],
    };
    slot.get_or_init(|| generate_open_api_schema(kind))
}

fn generate_open_api_schema(kind: Kind) -> serde_json::Value {
    custom_resource_definition(kind)
        .spec
        .versions
        .into_iter()
        .find_map(|version| version.schema)
        .and_then(|validation| validation.open_api_v3_schema)
        .and_then(|schema| serde_json::to_value(schema).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// Embedded objects (the PersistentVolumeClaim templates) carry Rust types whose `metadata` is not
/// optional, which the generated schema states as required. Users never write it there and the
/// API server must not demand it, so it is made optional everywhere below the root.
fn make_embedded_metadata_optional(schema: &mut JSONSchemaProps) {
    let mut children: Vec<&mut JSONSchemaProps> = Vec::new();
    if let Some(properties) = schema.properties.as_mut() {
        children.extend(properties.values_mut());
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = schema.items.as_mut() {
        children.push(items);
    }
    if let Some(JSONSchemaPropsOrBool::Schema(values)) = schema.additional_properties.as_mut() {
        children.push(values);
    }
    for child in children {
        if let Some(required) = child.required.as_mut() {
            required.retain(|name| name != "metadata");
            if required.is_empty() {
                child.required = None;
            }
        }
        make_embedded_metadata_optional(child);
    }
}
