//! Builders of the Kubernetes objects each kind owns, and the names, labels and ports they use.
//!
//! Builders are pure: a validated spec in, objects out; no client, no `.await`.

pub mod names;
