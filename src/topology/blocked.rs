//! Why a planner cannot progress, as data: waiting for something that happens without help, or
//! refusing a step that would lose data until a person acts.
//!
//! The planners return these values; the reconcile turns them into status text only when it
//! writes the status. This module must not decide anything itself: no I/O, no planning.

use std::fmt;

/// Why a planner cannot progress now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// Waiting for something that happens on its own (a pod starts, a replica catches up, the
    /// sentinels agree); the text says what.
    Waiting(String),
    /// Refusing a step that would lose data; nothing changes until a person acts. The text says
    /// what was refused and why.
    Refusing(String),
}

impl Blocked {
    /// The sentence for the status.
    pub fn message(&self) -> &str {
        match self {
            Blocked::Waiting(message) | Blocked::Refusing(message) => message,
        }
    }

    /// Whether a person must act before the planner progresses.
    pub fn needs_a_person(&self) -> bool {
        matches!(self, Blocked::Refusing(_))
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.message())
    }
}
