//! Liveness and readiness as the health endpoints report them.
//!
//! Readiness means "this replica does what it should right now": without leader election, once
//! the watch caches have synced; with it, a standby is ready (waiting for the Lease is its job)
//! and a leader is ready once its caches have synced. Nothing here performs I/O.

use std::sync::Mutex;

/// What part this replica plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Leader election is off: this replica always reconciles.
    Alone,
    /// Waiting to acquire the Lease.
    Standby,
    /// Holds the Lease and reconciles.
    Leader,
}

#[derive(Debug)]
struct State {
    role: Role,
    synced: bool,
}

/// The replica's health, shared between the controller and the health endpoint.
#[derive(Debug)]
pub struct Health {
    state: Mutex<State>,
}

impl Health {
    /// A replica that has not synced yet, in `role`.
    pub fn new(role: Role) -> Health {
        Health {
            state: Mutex::new(State {
                role,
                synced: false,
            }),
        }
    }

    fn with<T>(&self, read: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        read(&mut state)
    }

    /// Marks the watch caches as synced.
    pub fn set_synced(&self) {
        self.with(|state| state.synced = true);
    }

    /// Changes the role.
    pub fn set_role(&self, role: Role) {
        self.with(|state| state.role = role);
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.with(|state| state.role)
    }

    /// Whether the replica is ready, and the one-line explanation the endpoint returns.
    pub fn readiness(&self) -> (bool, &'static str) {
        self.with(|state| match (state.role, state.synced) {
            (Role::Standby, _) => (true, "standby: waiting to acquire the leader lease"),
            (Role::Leader, true) => (true, "leader: caches synced"),
            (Role::Leader, false) => (false, "leader: waiting for the caches to sync"),
            (Role::Alone, true) => (true, "caches synced"),
            (Role::Alone, false) => (false, "waiting for the caches to sync"),
        })
    }
}
