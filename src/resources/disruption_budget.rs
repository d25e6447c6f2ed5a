//! The PodDisruptionBudget of a group, from that group's own `pdb` settings.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::group::PodGroup;
use crate::api::validation::DisruptionBudget;

/// The group's PodDisruptionBudget, or `None` when its `pdb` is not enabled.
pub fn build_disruption_budget(group: &PodGroup<'_>) -> Option<PodDisruptionBudget> {
    let budget = group.disruption_budget?;
    let (min_available, max_unavailable) = match budget {
        DisruptionBudget::MinAvailable(count) => (Some(IntOrString::Int(count)), None),
        DisruptionBudget::MaxUnavailable(count) => (None, Some(IntOrString::Int(count))),
    };
    Some(PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(group.disruption_budget_name.clone()),
            namespace: Some(group.owner.namespace.clone()),
            labels: Some(group.labels()),
            annotations: Some(group.annotations()),
            owner_references: Some(vec![group.owner.reference()]),
            ..ObjectMeta::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            min_available,
            max_unavailable,
            selector: Some(LabelSelector {
                match_labels: Some(group.selector_labels()),
                match_expressions: None,
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    })
}
