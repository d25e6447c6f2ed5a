//! The disruption-budget oracle's arithmetic: the operator's evictions and pod deletions taken
//! together never leave fewer ready pods under a PodDisruptionBudget than it requires — its
//! `minAvailable`, or the pods it selects less its `maxUnavailable`. Pods are counted as they
//! were before the operator acted, so several removals in one reconcile or round count together.
//!
//! The scenario engine checks a round's evictions with it (`safety`), the transition fuzzer
//! each reconcile's evictions and deletions.

use std::collections::BTreeMap;

use redis_operator::json_pointer::JsonPointer;
use serde_json::Value;

use crate::fakes::scheduler::string_map;

/// One pod as a budget sees it before the operator acted.
#[derive(Clone, Copy, Debug)]
pub struct CountedPod<'pod> {
    /// Its labels.
    pub labels: &'pod BTreeMap<String, String>,
    /// Whether it was ready.
    pub ready: bool,
    /// Whether the operator removed it (evicted or deleted).
    pub removed: bool,
}

/// A budget the removals went below.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetBreach {
    /// Pods the budget selects.
    pub selected: usize,
    /// Of those, the ready ones before the removals.
    pub ready_before: usize,
    /// Ready pods removed.
    pub removed_ready: usize,
    /// Ready pods the budget requires.
    pub required: usize,
}

impl BudgetBreach {
    /// Ready pods left.
    pub fn ready_left(&self) -> usize {
        self.ready_before.saturating_sub(self.removed_ready)
    }
}

/// How `budget` fares when the removed ones among `pods` (of its namespace) go: `None` when it
/// selects nothing, has no minimum, or still has the ready pods it requires.
pub fn budget_breach<'pod>(
    budget: &Value,
    pods: impl IntoIterator<Item = CountedPod<'pod>>,
) -> Option<BudgetBreach> {
    let selector = string_map(budget.at("/spec/selector/matchLabels"));
    if selector.is_empty() {
        return None;
    }
    let selected: Vec<CountedPod<'pod>> = pods
        .into_iter()
        .filter(|pod| {
            selector
                .iter()
                .all(|(key, value)| pod.labels.get(key) == Some(value))
        })
        .collect();
    let removed_ready = selected
        .iter()
        .filter(|pod| pod.ready && pod.removed)
        .count();
    if removed_ready == 0 {
        return None;
    }
    let number = |pointer: &str| {
        budget
            .at(pointer)
            .and_then(Value::as_u64)
            .and_then(|number| usize::try_from(number).ok())
    };
    let required = match (number("/spec/minAvailable"), number("/spec/maxUnavailable")) {
        (Some(minimum), _) => minimum,
        (None, Some(maximum)) => selected.len().saturating_sub(maximum),
        (None, None) => return None,
    };
    let breach = BudgetBreach {
        selected: selected.len(),
        ready_before: selected.iter().filter(|pod| pod.ready).count(),
        removed_ready,
        required,
    };
    (breach.ready_left() < required).then_some(breach)
}
