//! `redis-sim apply`: applies manifests to a fresh simulated cluster with the default nodes and
//! pod start latency, runs the operator until every CR is Ready and a reconcile changes nothing,
//! checks the oracles, and reports the timeline. It is the scenario with the manifests as its
//! resources and a single `converge` step, run from seed 0.
//!
//! Everything here is deterministic: the same manifests give the same timeline, byte for byte.

use std::path::Path;

use crate::engine::run::run;
use crate::engine::scenario::{Action, Scenario, Step};

/// Simulated seconds after which `apply` gives up on convergence.
pub const DEFAULT_TIME_LIMIT_SECONDS: u64 = 1800;

/// What a run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The timeline and summary, one line each.
    pub lines: Vec<String>,
    /// Whether every CR converged and every oracle held.
    pub success: bool,
}

/// The scenario `apply` runs for `documents` (file name and text of each manifest file).
pub fn apply_scenario(documents: &[(String, String)], time_limit_seconds: u64) -> Scenario {
    // An empty scenario gives the default cluster: six nodes in three zones, pods starting in
    // two to four seconds.
    let mut scenario = Scenario::parse("apply", Path::new("."), "name: apply\nsteps: []\n")
        .unwrap_or_else(|_| Scenario {
            name: "apply".to_owned(),
            description: String::new(),
            nodes: crate::engine::world::default_nodes(),
            settings: crate::engine::world::WorldSettings::default(),
            resources: Vec::new(),
            steps: Vec::new(),
        });
    scenario.resources = documents.to_vec();
    scenario.steps = vec![Step {
        index: 0,
        action: Action::Converge(time_limit_seconds),
        jitter: 0,
    }];
    scenario
}

/// Applies `documents` (text of YAML files) to a fresh world and runs until convergence or
/// `time_limit_seconds` of simulated time.
pub async fn apply(documents: &[(String, String)], time_limit_seconds: u64) -> Report {
    let report = run(&apply_scenario(documents, time_limit_seconds), 0).await;
    Report {
        lines: report.text().lines().map(str::to_owned).collect(),
        success: report.success(),
    }
}
