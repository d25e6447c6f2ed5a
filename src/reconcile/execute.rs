//! Execution: runs the plan's requests through the ports, in order, and stops at the first
//! failure. It decides nothing: what a failure means is the driver's and the next plan's concern.

use super::{Context, Request};
use crate::ports::kube::{ApiError, ObjectRef};
use crate::ports::redis::{RedisCommand, RedisEndpoint, RedisError, RedisReply};

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecutionError {
    /// The Kubernetes API refused or failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A Redis command failed.
    #[error(transparent)]
    Redis(#[from] RedisError),
    /// A request named no object.
    #[error("failed to apply an object without apiVersion, kind and name: {0}")]
    Unnamed(String),
}

/// What ran.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExecutionReport {
    /// Requests that succeeded, in order.
    pub completed: Vec<Request>,
    /// The request that failed, and why; nothing after it ran.
    pub failure: Option<(Request, ExecutionError)>,
}

/// Runs `requests` in order until one fails. The requests stay where the plan put them: a
/// migration batch holds thousands, and the report hands back the same vector.
pub async fn execute(context: &Context, mut requests: Vec<Request>) -> ExecutionReport {
    for index in 0..requests.len() {
        if let Err(error) = run(context, &requests[index]).await {
            let failed = requests.swap_remove(index);
            requests.truncate(index);
            return ExecutionReport {
                completed: requests,
                failure: Some((failed, error)),
            };
        }
    }
    ExecutionReport {
        completed: requests,
        failure: None,
    }
}

async fn run(context: &Context, request: &Request) -> Result<(), ExecutionError> {
    let kube = context.kube.as_ref();
    match request {
        Request::Apply(object) => {
            if ObjectRef::of(object).is_none() {
                return Err(ExecutionError::Unnamed(object.to_string()));
            }
            kube.apply(object).await?;
        }
        Request::ApplyStatus {
            object,
            status,
            resource_version,
        } => {
            kube.apply_status(object, status, resource_version.as_deref())
                .await?;
        }
        Request::RemoveFinalizer { object, finalizer } => {
            kube.remove_finalizer(object, finalizer).await?
        }
        Request::Delete {
            object,
            propagation,
        } => kube.delete(object, *propagation).await?,
        Request::Evict(pod) => kube.evict(pod).await?,
        Request::Event(event) => kube.publish_event(event).await?,
        Request::Redis { endpoint, command } => {
            context.redis.execute(endpoint, command).await?;
        }
        Request::MoveSlotKeys {
            source,
            target,
            slot,
        } => move_slot_keys(context, source, target, *slot).await?,
    }
    Ok(())
}

/// Keys fetched and migrated per round trip.
const KEYS_PER_MIGRATE: u32 = 100;
/// Milliseconds MIGRATE may take per batch.
const MIGRATE_TIMEOUT_MILLISECONDS: u64 = 5000;
/// Rounds after which a slot that never empties is reported rather than looped on forever.
const MAXIMUM_MIGRATE_ROUNDS: usize = 100_000;

async fn move_slot_keys(
    context: &Context,
    source: &RedisEndpoint,
    target: &RedisEndpoint,
    slot: u16,
) -> Result<(), ExecutionError> {
    for _ in 0..MAXIMUM_MIGRATE_ROUNDS {
        let reply = context
            .redis
            .execute(
                source,
                &RedisCommand::ClusterGetKeysInSlot {
                    slot,
                    count: KEYS_PER_MIGRATE,
                },
            )
            .await?;
        // Keys are bytes: a key that is not UTF-8, decoded and re-encoded, would name another key
        // (MIGRATE answers NOKEY and the slot never empties).
        let keys: Vec<Vec<u8>> = match reply {
            RedisReply::Array(items) => items
                .iter()
                .filter_map(|item| item.as_bytes().map(<[u8]>::to_vec))
                .collect(),
            _ => Vec::new(),
        };
        if keys.is_empty() {
            return Ok(());
        }
        context
            .redis
            .execute(
                source,
                &RedisCommand::Migrate {
                    host: target.host.clone(),
                    port: target.port,
                    keys,
                    timeout_milliseconds: MIGRATE_TIMEOUT_MILLISECONDS,
                    replace: true,
                },
            )
            .await?;
    }
    Err(ExecutionError::Redis(RedisError::Rejected {
        endpoint: source.to_string(),
        command: "MIGRATE".to_owned(),
        message: format!("failed to empty slot {slot} after {MAXIMUM_MIGRATE_ROUNDS} rounds"),
    }))
}
