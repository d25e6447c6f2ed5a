//! Leader election on a `coordination.k8s.io/v1` Lease, so that two replicas never reconcile at
//! once.
//!
//! Every write of the Lease is a replace carrying the `resourceVersion` that was read, so two
//! replicas racing for it cannot both win: the loser gets a conflict. Expiry is judged by this
//! replica's own clock from the moment it first saw the current holder's latest renewal (not by
//! the timestamps in the Lease), so clock skew between nodes cannot hand the Lease out early.
//! A leader that cannot renew within the renew deadline steps down; the process then exits.

use crate::json_pointer::JsonPointer;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::adapters::kube::send_request;
use crate::ports::clock::{Clock, Milliseconds, rfc3339};
use crate::ports::kube::ApiError;

/// How long a Lease stays valid after its last renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long a leader keeps trying to renew before it steps down (shorter than the Lease, so it
/// stops reconciling before anyone else may start).
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often the Lease is renewed, or tried for while standing by.
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// What one attempt found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// This replica holds the Lease (acquired or renewed).
    Held,
    /// Another replica holds it, named here.
    HeldByOther(String),
}

/// The Lease one replica competes for.
pub struct LeaseLock {
    client: Client,
    namespace: String,
    name: String,
    identity: String,
    clock: Arc<dyn Clock>,
    /// The other holder's record last seen (holder and renew time) and when it was first seen.
    observed: Mutex<Option<(String, Milliseconds)>>,
}

impl LeaseLock {
    /// The Lease `namespace/name`, competed for as `identity`.
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        clock: Arc<dyn Clock>,
    ) -> LeaseLock {
        LeaseLock {
            client,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            identity: identity.to_owned(),
            clock,
            observed: Mutex::new(None),
        }
    }

    /// This replica's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    fn collection(&self) -> String {
        format!(
            "/apis/coordination.k8s.io/v1/namespaces/{}/leases",
            self.namespace
        )
    }

    fn described(&self) -> String {
        format!("Lease {}/{}", self.namespace, self.name)
    }

    async fn send(
        &self,
        request: Result<http::Request<Vec<u8>>, http::Error>,
        action: &str,
    ) -> Result<Value, ApiError> {
        send_request(&self.client, request, &self.described(), action).await
    }

    fn json_request(
        method: http::Method,
        path: String,
        body: &Value,
    ) -> Result<http::Request<Vec<u8>>, http::Error> {
        http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_string().into_bytes())
    }

    /// Micro-time as Leases carry it.
    fn micro_time(time: Milliseconds) -> String {
        let seconds = rfc3339(time);
        format!(
            "{}.{:06}Z",
            seconds.trim_end_matches('Z'),
            (time % 1000) * 1000
        )
    }

    /// One attempt to acquire or renew the Lease.
    pub async fn try_acquire_or_renew(&self) -> Result<LeaseOutcome, ApiError> {
        let now = self.clock.now();
        let path = format!("{}/{}", self.collection(), self.name);
        let current = match self
            .send(http::Request::get(&path).body(Vec::new()), "read")
            .await
        {
            Ok(lease) => lease,
            Err(ApiError::NotFound { .. }) => {
                let lease = json!({
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": { "name": self.name, "namespace": self.namespace },
                    "spec": self.spec(now, now, 0),
                });
                return match self
                    .send(
                        Self::json_request(http::Method::POST, self.collection(), &lease),
                        "create",
                    )
                    .await
                {
                    Ok(_) => Ok(LeaseOutcome::Held),
                    Err(ApiError::Conflict { .. }) => Ok(LeaseOutcome::HeldByOther(String::new())),
                    Err(error) => Err(error),
                };
            }
            Err(error) => return Err(error),
        };
        let spec = current.get("spec").cloned().unwrap_or(Value::Null);
        let holder = spec
            .get("holderIdentity")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let transitions = spec
            .get("leaseTransitions")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let acquired = spec
            .get("acquireTime")
            .and_then(Value::as_str)
            .and_then(crate::ports::clock::parse_rfc3339);
        let next_spec = if holder == self.identity {
            self.spec(acquired.unwrap_or(now), now, transitions)
        } else {
            if !holder.is_empty() && !self.expired(&holder, &spec, now) {
                return Ok(LeaseOutcome::HeldByOther(holder));
            }
            self.spec(now, now, transitions + 1)
        };
        let mut replacement = current.clone();
        replacement["spec"] = next_spec;
        match self
            .send(
                Self::json_request(http::Method::PUT, path, &replacement),
                "replace",
            )
            .await
        {
            Ok(_) => Ok(LeaseOutcome::Held),
            Err(ApiError::Conflict { .. }) => Ok(LeaseOutcome::HeldByOther(holder)),
            Err(error) => Err(error),
        }
    }

    /// Whether `holder`'s record has gone unrenewed for longer than its duration, by this
    /// replica's clock since the record was first seen.
    fn expired(&self, holder: &str, spec: &Value, now: Milliseconds) -> bool {
        let record = format!(
            "{holder}@{}",
            spec.get("renewTime")
                .and_then(Value::as_str)
                .unwrap_or_default()
        );
        let duration_seconds = spec
            .get("leaseDurationSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(LEASE_DURATION.as_secs());
        let mut observed = self
            .observed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match observed.as_ref() {
            Some((seen, since)) if *seen == record => {
                now.saturating_sub(*since) > duration_seconds * 1000
            }
            _ => {
                *observed = Some((record, now));
                false
            }
        }
    }

    fn spec(&self, acquired: Milliseconds, renewed: Milliseconds, transitions: i64) -> Value {
        json!({
            "holderIdentity": self.identity,
            "leaseDurationSeconds": LEASE_DURATION.as_secs(),
            "acquireTime": Self::micro_time(acquired),
            "renewTime": Self::micro_time(renewed),
            "leaseTransitions": transitions,
        })
    }

    /// Gives the Lease up if this replica holds it, so a standby takes over at once instead of
    /// after the Lease expires.
    pub async fn release(&self) -> Result<(), ApiError> {
        let path = format!("{}/{}", self.collection(), self.name);
        let mut current = self
            .send(http::Request::get(&path).body(Vec::new()), "read")
            .await?;
        if current.at("/spec/holderIdentity").and_then(Value::as_str) != Some(&self.identity) {
            return Ok(());
        }
        current["spec"]["holderIdentity"] = Value::from("");
        current["spec"]["leaseDurationSeconds"] = Value::from(1);
        current["spec"]["renewTime"] = Value::from(Self::micro_time(self.clock.now()));
        self.send(
            Self::json_request(http::Method::PUT, path, &current),
            "release",
        )
        .await
        .map(|_| ())
    }

    /// Tries every [`RETRY_PERIOD`] until this replica holds the Lease.
    pub async fn acquire(&self) {
        let mut last_holder = None;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(LeaseOutcome::Held) => {
                    info!(identity = %self.identity, lease = %self.described(), "acquired the leader lease");
                    return;
                }
                Ok(LeaseOutcome::HeldByOther(holder)) => {
                    if last_holder.as_ref() != Some(&holder) {
                        info!(%holder, lease = %self.described(), "standing by: another replica leads");
                        last_holder = Some(holder);
                    }
                }
                Err(error) => warn!(%error, "failed to acquire the leader lease"),
            }
            tokio::time::sleep(RETRY_PERIOD).await;
        }
    }

    /// Renews every [`RETRY_PERIOD`]; returns when the Lease is lost (another replica holds it,
    /// or no renewal succeeded within [`RENEW_DEADLINE`]).
    pub async fn hold(&self) -> LeaseLoss {
        let mut last_renewal = self.clock.now();
        loop {
            tokio::time::sleep(RETRY_PERIOD).await;
            // An attempt that hangs must not keep a leader leading past its deadline.
            let attempt = tokio::time::timeout(RETRY_PERIOD, self.try_acquire_or_renew())
                .await
                .unwrap_or_else(|_| {
                    Err(ApiError::Transient {
                        object: self.described(),
                        action: "renew".to_owned(),
                        message: format!("no answer within {} seconds", RETRY_PERIOD.as_secs()),
                    })
                });
            match attempt {
                Ok(LeaseOutcome::Held) => last_renewal = self.clock.now(),
                Ok(LeaseOutcome::HeldByOther(holder)) => return LeaseLoss::TakenBy(holder),
                Err(error) => {
                    warn!(%error, "failed to renew the leader lease");
                    let since = self.clock.now().saturating_sub(last_renewal);
                    if u128::from(since) >= RENEW_DEADLINE.as_millis() {
                        return LeaseLoss::RenewDeadline(error.to_string());
                    }
                }
            }
        }
    }
}

/// Why a leader stepped down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseLoss {
    /// Another replica holds the Lease.
    TakenBy(String),
    /// Renewals kept failing until the renew deadline; the last error.
    RenewDeadline(String),
}

impl std::fmt::Display for LeaseLoss {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeaseLoss::TakenBy(holder) => write!(formatter, "the lease is held by {holder:?}"),
            LeaseLoss::RenewDeadline(error) => write!(
                formatter,
                "failed to renew the lease within {} seconds: {error}",
                RENEW_DEADLINE.as_secs()
            ),
        }
    }
}
