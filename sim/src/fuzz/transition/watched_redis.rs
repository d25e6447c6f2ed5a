//! The Redis port the fuzzer's operator runs against: the world's own (crashes included), with
//! every writing command judged by the destructive-command oracle against the fleet's state
//! just before it runs, and what it saw kept for the report.

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use redis_operator::ports::redis::{
    RedisAdmin, RedisCommand, RedisEndpoint, RedisError, RedisReply,
};

use super::TIMELINE_LIMIT;
use crate::fakes::redis::FakeRedis;
use crate::oracles::destructive_commands::discards_keys;

/// Shared, lockable list of what the watching Redis port saw.
#[derive(Clone, Default)]
pub(super) struct Findings {
    pub(super) inner: Arc<Mutex<FindingsInner>>,
}

#[derive(Default)]
pub(super) struct FindingsInner {
    pub(super) timeline: std::collections::VecDeque<String>,
    pub(super) destructive: Vec<String>,
    pub(super) rejected: Vec<String>,
    pub(super) writes: usize,
}

impl Findings {
    pub(super) fn note(&self, entry: String) {
        let mut findings = self.lock();
        if findings.timeline.len() >= TIMELINE_LIMIT {
            findings.timeline.pop_front();
        }
        findings.timeline.push_back(entry);
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, FindingsInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The Redis port the operator runs against in a scenario: the world's own (crashes included),
/// with every write judged against the fake fleet's state just before it runs.
pub(super) struct WatchedRedis {
    pub(super) inner: Arc<dyn RedisAdmin>,
    pub(super) fleet: FakeRedis,
    pub(super) findings: Findings,
}

#[async_trait]
impl RedisAdmin for WatchedRedis {
    async fn execute(
        &self,
        endpoint: &RedisEndpoint,
        command: &RedisCommand,
    ) -> Result<RedisReply, RedisError> {
        let judgement = if command.is_write() {
            discards_keys(&self.fleet, endpoint, command)
        } else {
            None
        };
        let result = self.inner.execute(endpoint, command).await;
        let mut findings = self.findings.lock();
        match &result {
            Ok(_) if command.is_write() => {
                findings.writes += 1;
                if findings.timeline.len() >= TIMELINE_LIMIT {
                    findings.timeline.pop_front();
                }
                findings
                    .timeline
                    .push_back(format!("  redis {} <- {command:?}", endpoint.pod));
                if let Some(finding) = judgement {
                    findings.destructive.push(finding);
                }
            }
            Err(RedisError::Rejected { message, .. }) => {
                findings.rejected.push(format!(
                    "{} to {}: {message}",
                    command.name(),
                    endpoint.pod
                ));
            }
            _ => {}
        }
        result
    }
}
