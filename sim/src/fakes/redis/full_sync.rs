//! How long a full resync and a dataset load take, and what a server shows meanwhile, as Redis 7
//! does with the configuration the operator renders (which leaves the replication defaults:
//! `repl-diskless-sync yes`, `repl-diskless-sync-delay 5`, `replica-serve-stale-data yes`,
//! `repl-diskless-load disabled`).
//!
//! A full resync goes through three phases, measured on redis-server 7.0 (`tests/redis_fidelity.rs`
//! compares them):
//! 1. waiting: the master delays the transfer to gather more replicas. The replica shows
//!    `master_link_status:down`, `master_sync_in_progress:0`, serves its old keys, and the master
//!    lists it as `state=wait_bgsave,offset=0`;
//! 2. transferring: `master_sync_in_progress:1`, the old keys still served, the master lists it as
//!    `send_bulk`;
//! 3. loading: the old keys are flushed, the master's are loaded; the replica answers `LOADING`
//!    to everything but INFO and CONFIG, and its link comes up when the load ends.
//!
//! A server that starts from its files loads them the same way before it answers. Durations
//! grow with the keys; the `slow-sync` fault slows the transfer and the load. This module
//! holds the timing and the phases; the fleet decides when a sync starts and copies the data.

use redis_operator::ports::clock::Milliseconds;

/// How long the master waits before it streams the dataset (`repl-diskless-sync-delay 5`).
pub const DISKLESS_SYNC_DELAY_MILLISECONDS: Milliseconds = 5_000;
/// Keys a transfer sends, and a load reads, per second at normal speed (on loopback, 300,000 keys
/// of 100 bytes took 230 ms to transfer and 280 ms to load). The `slow-sync` fault lowers it.
pub const NORMAL_KEYS_PER_SECOND: u64 = 1_000_000;
/// The error line of a command refused while the dataset loads.
pub const LOADING_MESSAGE: &str = "LOADING Redis is loading the dataset in memory";

/// A full resync a replica waits for or receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct FullSync {
    /// The master it syncs from.
    pub master_ip: String,
    /// That master's replication id when the sync started: a master that restarted or changed
    /// history breaks the transfer, and the replica starts over.
    pub master_history: String,
    /// When the transfer starts (after the diskless delay).
    pub transfer_starts_at: Milliseconds,
    /// When the transfer ends and the load starts.
    pub load_starts_at: Milliseconds,
}

/// Where a full resync stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SyncPhase {
    /// The master delays the transfer.
    Waiting,
    /// The dataset is on its way.
    Transferring,
    /// The transfer ended: the replica flushes its keys and loads the master's.
    Received,
}

impl FullSync {
    /// A sync from `master_ip`, at `history`, starting at `now` for a master holding `keys`,
    /// sent at `keys_per_second`.
    pub fn start(
        master_ip: &str,
        history: &str,
        now: Milliseconds,
        keys: usize,
        keys_per_second: u64,
    ) -> FullSync {
        let transfer_starts_at = now + DISKLESS_SYNC_DELAY_MILLISECONDS;
        FullSync {
            master_ip: master_ip.to_owned(),
            master_history: history.to_owned(),
            transfer_starts_at,
            load_starts_at: transfer_starts_at + duration(keys, keys_per_second),
        }
    }

    /// Its phase at `now`.
    pub fn phase(&self, now: Milliseconds) -> SyncPhase {
        if now < self.transfer_starts_at {
            SyncPhase::Waiting
        } else if now < self.load_starts_at {
            SyncPhase::Transferring
        } else {
            SyncPhase::Received
        }
    }
}

/// A dataset being loaded, from a transfer or from the server's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Loading {
    /// When it started.
    pub started_at: Milliseconds,
    /// When it ends.
    pub ends_at: Milliseconds,
}

impl Loading {
    /// Loading `keys` at `keys_per_second` from `now`; `None` when it takes no time at all.
    pub fn of(keys: usize, now: Milliseconds, keys_per_second: u64) -> Option<Loading> {
        let length = duration(keys, keys_per_second);
        (length > 0).then_some(Loading {
            started_at: now,
            ends_at: now + length,
        })
    }

    /// Whether it still runs at `now`.
    pub fn runs_at(&self, now: Milliseconds) -> bool {
        now < self.ends_at
    }

    /// Of `keys`, how many are loaded at `now` (INFO keyspace counts them as they come).
    pub fn loaded(&self, keys: usize, now: Milliseconds) -> usize {
        let length = self.ends_at.saturating_sub(self.started_at).max(1);
        let elapsed = now.saturating_sub(self.started_at).min(length);
        let keys = u64::try_from(keys).unwrap_or(u64::MAX);
        usize::try_from(u128::from(keys) * u128::from(elapsed) / u128::from(length))
            .unwrap_or(usize::MAX)
    }
}

/// Milliseconds to handle `keys` at `keys_per_second`.
fn duration(keys: usize, keys_per_second: u64) -> Milliseconds {
    let keys = u64::try_from(keys).unwrap_or(u64::MAX);
    keys.saturating_mul(1_000) / keys_per_second.max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code states its assumptions
mod tests {
    use super::*;

    #[test]
    fn a_sync_waits_the_diskless_delay_then_transfers_for_a_time_that_grows_with_the_keys() {
        let sync = FullSync::start(
            "10.0.0.1",
            "history",
            1_000,
            300_000,
            NORMAL_KEYS_PER_SECOND,
        );
        assert_eq!(sync.phase(1_000), SyncPhase::Waiting);
        assert_eq!(sync.phase(5_999), SyncPhase::Waiting);
        assert_eq!(sync.phase(6_000), SyncPhase::Transferring);
        assert_eq!(sync.phase(6_299), SyncPhase::Transferring);
        assert_eq!(sync.phase(6_300), SyncPhase::Received);
        let slow = FullSync::start("10.0.0.1", "history", 1_000, 300, 100);
        assert_eq!(slow.load_starts_at, 6_000 + 3_000);
    }

    #[test]
    fn a_load_counts_its_keys_as_they_come_and_a_small_one_takes_no_time() {
        assert_eq!(Loading::of(999, 0, NORMAL_KEYS_PER_SECOND), None);
        let loading = Loading::of(4_000, 100, 1_000).unwrap();
        assert_eq!(loading.ends_at, 4_100);
        assert!(loading.runs_at(4_099));
        assert!(!loading.runs_at(4_100));
        assert_eq!(loading.loaded(4_000, 100), 0);
        assert_eq!(loading.loaded(4_000, 2_100), 2_000);
        assert_eq!(loading.loaded(4_000, 9_000), 4_000);
    }
}
