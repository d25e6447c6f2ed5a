//! Reading manifests: multi-document YAML into typed custom resources, each checked against its
//! CRD schema and then by semantic validation. This is what `redis-operator validate` and
//! `redis-operator render` run on files; it is pure (the caller reads the files).

use crate::json_pointer::JsonPointer;
use serde_json::Value;

use super::field_error::FieldError;
use super::schema::check;
use super::validation::{
    ValidatedCluster, ValidatedRedis, ValidatedReplication, ValidatedSentinel, validate_cluster,
    validate_redis, validate_replication, validate_sentinel,
};
use super::{
    API_GROUP, API_GROUP_VERSION, Kind, Redis, RedisCluster, RedisReplication, RedisSentinel,
    crd::open_api_schema,
};

/// A custom resource of one of the four kinds that passed every check.
#[derive(Clone, Debug, PartialEq)]
pub enum ValidatedResource {
    /// A standalone Redis.
    Redis(Box<Redis>, Box<ValidatedRedis>),
    /// A replication set.
    RedisReplication(Box<RedisReplication>, Box<ValidatedReplication>),
    /// A group of sentinels.
    RedisSentinel(Box<RedisSentinel>, Box<ValidatedSentinel>),
    /// A Redis Cluster.
    RedisCluster(Box<RedisCluster>, Box<ValidatedCluster>),
}

/// What became of one document of a manifest stream.
#[derive(Clone, Debug, PartialEq)]
pub enum DocumentOutcome {
    /// One of our kinds, valid.
    Valid(ValidatedResource),
    /// One of our kinds (or our group at another version), invalid; every error found.
    Invalid(Vec<FieldError>),
    /// Another kind (a Secret, a ConfigMap): not ours to check.
    Skipped,
    /// An empty document (a lone `---`).
    Empty,
}

/// One document of a manifest stream with its outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// Position in the stream, from 1.
    pub index: usize,
    /// `kind`, when the document has one.
    pub kind: Option<String>,
    /// `metadata.name`, when the document has one.
    pub name: Option<String>,
    /// What the checks concluded.
    pub outcome: DocumentOutcome,
}

impl Document {
    /// `Kind/name`, or what is known of it, for messages.
    pub fn label(&self) -> String {
        format!(
            "{}/{}",
            self.kind.as_deref().unwrap_or("<no kind>"),
            self.name.as_deref().unwrap_or("<no name>")
        )
    }
}

/// Splits `text` into YAML documents and checks each.
///
/// A stream that is not YAML at all yields one invalid document naming the syntax error.
pub fn read_documents(text: &str) -> Vec<Document> {
    let mut documents = Vec::new();
    for (position, deserializer) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let index = position + 1;
        let parsed: Result<Value, _> = serde::Deserialize::deserialize(deserializer);
        let document = match parsed {
            Ok(value) => check_document(index, &value),
            Err(error) => Document {
                index,
                kind: None,
                name: None,
                outcome: DocumentOutcome::Invalid(vec![FieldError::new(
                    "<document>",
                    format!("failed to parse YAML: {error}"),
                )]),
            },
        };
        let stop = matches!(&document.outcome, DocumentOutcome::Invalid(errors) if errors.first().is_some_and(|error| error.path == "<document>"));
        documents.push(document);
        // After a syntax error the parser cannot find the next document boundary reliably.
        if stop {
            break;
        }
    }
    documents
}

/// Checks one parsed document.
pub fn check_document(index: usize, value: &Value) -> Document {
    let text_at = |pointer: &str| value.at(pointer).and_then(Value::as_str).map(str::to_owned);
    let kind = text_at("/kind");
    let name = text_at("/metadata/name");
    let outcome = if value.is_null() {
        DocumentOutcome::Empty
    } else {
        classify(value, kind.as_deref())
    };
    Document {
        index,
        kind,
        name,
        outcome,
    }
}

fn classify(value: &Value, kind_name: Option<&str>) -> DocumentOutcome {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let in_our_group = api_version.split('/').next() == Some(API_GROUP);
    let Some(kind) = kind_name.and_then(Kind::from_name).filter(|_| in_our_group) else {
        return if in_our_group {
            DocumentOutcome::Invalid(vec![FieldError::new(
                "kind",
                format!("{kind_name:?} is not a kind of {API_GROUP}"),
            )])
        } else {
            DocumentOutcome::Skipped
        };
    };
    if api_version != API_GROUP_VERSION {
        return DocumentOutcome::Invalid(vec![FieldError::new(
            "apiVersion",
            format!("{api_version:?} is not served; use {API_GROUP_VERSION}"),
        )]);
    }
    match validate_value(kind, value) {
        Ok(resource) => DocumentOutcome::Valid(resource),
        Err(errors) => DocumentOutcome::Invalid(errors),
    }
}

/// Checks a document of a known kind: metadata, schema, then semantics.
pub fn validate_value(kind: Kind, value: &Value) -> Result<ValidatedResource, Vec<FieldError>> {
    let mut errors = Vec::new();
    if value
        .at("/metadata/name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        errors.push(FieldError::new("metadata.name", "is required"));
    }
    errors.extend(check(open_api_schema(kind), value, ""));
    if !errors.is_empty() {
        return Err(errors);
    }
    fn typed<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, Vec<FieldError>> {
        serde_json::from_value(value.clone())
            .map_err(|error| vec![FieldError::new("spec", format!("failed to read: {error}"))])
    }
    match kind {
        Kind::Redis => {
            let resource: Redis = typed(value)?;
            let validated = validate_redis(&resource.spec)?;
            Ok(ValidatedResource::Redis(
                Box::new(resource),
                Box::new(validated),
            ))
        }
        Kind::RedisReplication => {
            let resource: RedisReplication = typed(value)?;
            let validated = validate_replication(&resource.spec)?;
            Ok(ValidatedResource::RedisReplication(
                Box::new(resource),
                Box::new(validated),
            ))
        }
        Kind::RedisSentinel => {
            let resource: RedisSentinel = typed(value)?;
            let validated = validate_sentinel(&resource.spec)?;
            Ok(ValidatedResource::RedisSentinel(
                Box::new(resource),
                Box::new(validated),
            ))
        }
        Kind::RedisCluster => {
            let resource: RedisCluster = typed(value)?;
            let validated = validate_cluster(&resource.spec)?;
            Ok(ValidatedResource::RedisCluster(
                Box::new(resource),
                Box::new(validated),
            ))
        }
    }
}

/// The property the `spec_input` fuzz target and its proptest check: reading any bytes as
/// manifests never panics, and every rejection names a field path and says what is wrong.
///
/// Returns the number of documents read, so callers can tell the input reached the checks.
pub fn check_reading_is_total(bytes: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return 0;
    };
    let documents = read_documents(text);
    for document in &documents {
        if let DocumentOutcome::Invalid(errors) = &document.outcome {
            assert!(
                !errors.is_empty(),
                "an invalid document carries at least one error"
            );
            for error in errors {
                assert!(
                    !error.path.is_empty(),
                    "every error names a field path: {error:?}"
                );
                assert!(
                    !error.message.is_empty(),
                    "every error says what is wrong: {error:?}"
                );
            }
        }
    }
    documents.len()
}
