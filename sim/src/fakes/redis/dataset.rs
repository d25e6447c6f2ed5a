//! A fake Redis server's dataset: Redis's 16 databases of keys holding strings, hashes, lists or
//! sets, grouped by slot (CRC16 with hash tags, as Redis Cluster computes it), with the history
//! replicas follow — recent changes a follower replays, and a whole copy (a full resync) when it
//! follows another history or is too far behind.
//!
//! Data only: it knows nothing of servers, connections, replication links or time, and answers
//! no command (`client_commands` does).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redis_operator::topology::slots::SLOT_COUNT;

/// How many databases a server has: Redis's default (`databases 16`).
pub const DATABASES: usize = 16;

/// The value a key holds. Each kind is shared: a replayed change, a copy or a MIGRATE copies a
/// pointer; a command changing a hash, list or set copies that one value first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string.
    String(Arc<str>),
    /// A hash: fields and their values, by field.
    Hash(Arc<BTreeMap<Arc<str>, Arc<str>>>),
    /// A list, head first.
    List(Arc<VecDeque<Arc<str>>>),
    /// A set of members.
    Set(Arc<BTreeSet<Arc<str>>>),
}

impl Value {
    /// The name `TYPE` answers for it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
        }
    }

    /// The string it holds, if it is one.
    pub fn as_string(&self) -> Option<&Arc<str>> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    /// The hash it holds, if it is one.
    pub fn as_hash(&self) -> Option<&Arc<BTreeMap<Arc<str>, Arc<str>>>> {
        match self {
            Value::Hash(hash) => Some(hash),
            _ => None,
        }
    }

    /// The list it holds, if it is one.
    pub fn as_list(&self) -> Option<&Arc<VecDeque<Arc<str>>>> {
        match self {
            Value::List(list) => Some(list),
            _ => None,
        }
    }

    /// The set it holds, if it is one.
    pub fn as_set(&self) -> Option<&Arc<BTreeSet<Arc<str>>>> {
        match self {
            Value::Set(set) => Some(set),
            _ => None,
        }
    }
}

/// The slot of a key, as Redis Cluster computes it (CRC16/XMODEM of the key or its hash tag).
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = match key.find('{') {
        Some(open) => match key[open + 1..].find('}') {
            Some(length) if length > 0 => &bytes[open + 1..open + 1 + length],
            _ => bytes,
        },
        None => bytes,
    };
    let mut crc: u16 = 0;
    for byte in hashed {
        crc = (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ *byte)];
    }
    crc % SLOT_COUNT
}

/// CRC16-CCITT (XMODEM, polynomial 0x1021) of every byte value, as Redis's `crc16.c` tabulates
/// it: one lookup per byte of a key instead of eight shifts.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut index = 0;
    while index < 256 {
        let mut crc = (index as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[index] = crc;
        index += 1;
    }
    table
};

/// A dataset: keys in Redis's 16 databases, grouped by database and slot, so slot queries read
/// one group and a key is found by its database and slot first, comparing small integers rather
/// than keys.
///
/// Replicas follow their master's dataset by replaying its recent changes, as Redis replicas
/// apply the replication stream: each dataset belongs to a lineage (a history of changes) and
/// knows how far along it is. A dataset that changes on its own (a client write, MIGRATE) starts
/// a lineage of its own unless it already owns one, so a follower replays changes only from a
/// dataset whose history is its own history continued, and copies the whole dataset otherwise
/// (a full resync). Keys and values are shared: a replayed change or a copy copies pointers, not
/// text. The map is shared until changed, so a copy of a server (the oracles take them) or a full
/// resync costs nothing until the next change. Both carry every database. The default dataset is
/// empty and owns no lineage.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    /// Keys and values by database and slot; a slot without keys has no entry.
    by_slot: Arc<BTreeMap<(u8, u16), SlotKeys>>,
    /// Number of keys in each database.
    lengths: [usize; DATABASES],
    /// The history this dataset is part of; 0 for none.
    lineage: u64,
    /// Changes of the lineage this dataset holds.
    version: u64,
    /// Whether this dataset's own changes make its lineage (it did not copy or follow it).
    owns_lineage: bool,
    /// Its latest changes, each with the version it made, oldest first: what followers replay.
    changes: Arc<VecDeque<(u64, Change)>>,
}

/// The keys of one slot of one database and their values.
type SlotKeys = BTreeMap<Arc<str>, Value>;

/// One change of a dataset, as its followers replay it.
#[derive(Clone, Debug)]
enum Change {
    /// A key's new value, with its database and slot (hashed once, where the change was made).
    Set {
        database: u8,
        slot: u16,
        key: Arc<str>,
        value: Value,
    },
    /// A key removed, with its database and slot.
    Remove {
        database: u8,
        slot: u16,
        key: Arc<str>,
    },
    /// Every key of one database removed (FLUSHDB), or of all of them (FLUSHALL).
    Flush(Option<u8>),
}

/// How many changes a dataset keeps for its followers; one further behind copies the whole
/// dataset, as a Redis replica beyond the backlog does.
const CHANGES_KEPT: usize = 16_384;

/// The last lineage handed out. Lineages are only compared with each other, never shown, so
/// where the numbering starts changes nothing a run prints.
static LAST_LINEAGE: AtomicU64 = AtomicU64::new(0);

impl PartialEq for Dataset {
    /// Two datasets are equal when they hold the same keys and values, whatever their history.
    fn eq(&self, other: &Self) -> bool {
        self.lengths == other.lengths && self.by_slot == other.by_slot
    }
}

impl Eq for Dataset {}

impl Dataset {
    /// An empty dataset starting a lineage of its own.
    pub fn new() -> Dataset {
        Dataset {
            lineage: LAST_LINEAGE.fetch_add(1, Ordering::Relaxed) + 1,
            owns_lineage: true,
            ..Dataset::default()
        }
    }

    /// Stores a string key in database 0 (what clients write).
    pub fn insert(&mut self, key: &str, value: &str) {
        self.set(0, key, Value::String(Arc::from(value)));
    }

    /// Stores a key of any kind in `database`, replacing what it held.
    pub fn set(&mut self, database: u8, key: &str, value: Value) {
        let key: Arc<str> = Arc::from(key);
        self.own_lineage();
        let slot = key_slot(&key);
        self.apply(Change::Set {
            database,
            slot,
            key,
            value,
        });
    }

    /// Removes a key of database 0; returns whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        self.remove_from(0, key)
    }

    /// Removes a key of `database`; returns whether it was there.
    pub fn remove_from(&mut self, database: u8, key: &str) -> bool {
        let slot = key_slot(key);
        let Some((key, _)) = self
            .by_slot
            .get(&(database, slot))
            .and_then(|keys| keys.get_key_value(key))
        else {
            return false;
        };
        let key = Arc::clone(key);
        self.own_lineage();
        self.apply(Change::Remove {
            database,
            slot,
            key,
        });
        true
    }

    /// Removes every key of `database` (FLUSHDB), or of every database when `None` (FLUSHALL).
    pub fn flush(&mut self, database: Option<u8>) {
        self.own_lineage();
        self.apply(Change::Flush(database));
    }

    /// Catches up with `master`: replays the changes it has and this dataset lacks when this
    /// dataset is an earlier point of the same history, copies it whole otherwise. Returns
    /// whether it copied it whole (dropping what it held).
    pub fn follow(&mut self, master: &Dataset) -> bool {
        let same_history =
            self.lineage == master.lineage && master.lineage != 0 && self.version <= master.version;
        let replayable = same_history
            && (self.version == master.version
                || master
                    .changes
                    .front()
                    .is_some_and(|(first, _)| *first <= self.version + 1));
        if !replayable {
            self.by_slot = master.by_slot.clone();
            self.lengths = master.lengths;
            self.lineage = master.lineage;
            self.version = master.version;
            self.owns_lineage = false;
            self.changes = Arc::default();
            return true;
        }
        // Kept changes have consecutive versions, so the first one missing is found by position.
        let first_kept = master.changes.front().map_or(0, |(version, _)| *version);
        let skipped = usize::try_from((self.version + 1).saturating_sub(first_kept)).unwrap_or(0);
        for (_, change) in master.changes.range(skipped.min(master.changes.len())..) {
            self.apply(change.clone());
        }
        false
    }

    /// Whether following `master` would change nothing: both are at the same point of one
    /// history.
    pub(super) fn holds_all_of(&self, master: &Dataset) -> bool {
        master.lineage != 0 && self.lineage == master.lineage && self.version == master.version
    }

    /// Starts a lineage of its own before a change of its own, unless it has one.
    fn own_lineage(&mut self) {
        if !self.owns_lineage {
            self.lineage = LAST_LINEAGE.fetch_add(1, Ordering::Relaxed) + 1;
            self.owns_lineage = true;
            self.changes = Arc::default();
        }
    }

    /// Applies `change` as the next version and keeps it for followers.
    fn apply(&mut self, change: Change) {
        match &change {
            Change::Set {
                database,
                slot,
                key,
                value,
            } => {
                let replaced = Arc::make_mut(&mut self.by_slot)
                    .entry((*database, *slot))
                    .or_default()
                    .insert(Arc::clone(key), value.clone());
                if replaced.is_none() {
                    self.lengths[usize::from(*database)] += 1;
                }
            }
            Change::Remove {
                database,
                slot,
                key,
            } => {
                let by_slot = Arc::make_mut(&mut self.by_slot);
                if let Some(keys) = by_slot.get_mut(&(*database, *slot)) {
                    if keys.remove(key).is_some() {
                        self.lengths[usize::from(*database)] -= 1;
                    }
                    if keys.is_empty() {
                        by_slot.remove(&(*database, *slot));
                    }
                }
            }
            Change::Flush(None) => {
                self.by_slot = Arc::default();
                self.lengths = [0; DATABASES];
            }
            Change::Flush(Some(database)) => {
                if self.lengths[usize::from(*database)] > 0 {
                    Arc::make_mut(&mut self.by_slot).retain(|(held, _), _| held != database);
                    self.lengths[usize::from(*database)] = 0;
                }
            }
        }
        self.version += 1;
        let changes = Arc::make_mut(&mut self.changes);
        if changes.len() == CHANGES_KEPT {
            changes.pop_front();
        }
        changes.push_back((self.version, change));
    }

    /// The value of a key of `database`, of any kind.
    pub fn value(&self, database: u8, key: &str) -> Option<&Value> {
        self.by_slot.get(&(database, key_slot(key)))?.get(key)
    }

    /// A string key's value in database 0, shared; `None` for a key of another kind.
    pub(super) fn shared_value(&self, key: &str) -> Option<&Arc<str>> {
        self.value_in_slot(key_slot(key), key)
    }

    /// The string value of a key of database 0 known to hash to `slot`.
    pub(super) fn value_in_slot(&self, slot: u16, key: &str) -> Option<&Arc<str>> {
        self.by_slot.get(&(0, slot))?.get(key)?.as_string()
    }

    /// A string key's value in database 0; `None` for a key of another kind.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.shared_value(key).map(AsRef::as_ref)
    }

    /// Whether the key exists in database 0, of any kind.
    pub fn contains_key(&self, key: &str) -> bool {
        self.value(0, key).is_some()
    }

    /// Number of keys, in every database.
    pub fn len(&self) -> usize {
        self.lengths.iter().sum()
    }

    /// Number of keys of one database (what DBSIZE counts).
    pub fn database_len(&self, database: u8) -> usize {
        self.lengths
            .get(usize::from(database))
            .copied()
            .unwrap_or(0)
    }

    /// Whether there are no keys, in any database.
    pub fn is_empty(&self) -> bool {
        self.lengths.iter().all(|length| *length == 0)
    }

    /// Keys of database 0 (the only one Redis Cluster has) hashing to `slot`, of every kind, in
    /// order.
    pub fn keys_in_slot(&self, slot: u16) -> impl Iterator<Item = &str> {
        self.by_slot
            .get(&(0, slot))
            .into_iter()
            .flat_map(|keys| keys.keys().map(AsRef::as_ref))
    }

    /// Every string key of database 0 and its value, by slot and then by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_slot
            .range((0, 0)..(1, 0))
            .flat_map(|(_, keys)| keys.iter())
            .filter_map(|(key, value)| Some((key.as_ref(), value.as_string()?.as_ref())))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use super::{Dataset, Value, key_slot};

    fn keys(dataset: &Dataset) -> Vec<(String, String)> {
        dataset
            .iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect()
    }

    #[test]
    fn a_follower_replays_what_it_lacks_and_copies_a_foreign_history() {
        let mut master = Dataset::new();
        master.insert("a", "1");
        let mut replica = Dataset::default();
        replica.follow(&master);
        assert_eq!(keys(&replica), keys(&master));
        master.insert("b", "2");
        master.remove("a");
        replica.follow(&master);
        assert_eq!(keys(&replica), vec![("b".to_owned(), "2".to_owned())]);
        assert_eq!(replica.keys_in_slot(key_slot("a")).count(), 0);
        // A chained replica follows the replica.
        let mut chained = Dataset::default();
        chained.follow(&replica);
        master.insert("c", "3");
        replica.follow(&master);
        chained.follow(&replica);
        assert_eq!(keys(&chained), keys(&master));
    }

    #[test]
    fn a_promoted_replica_starts_its_own_history() {
        let mut old_master = Dataset::new();
        old_master.insert("a", "1");
        let mut promoted = Dataset::default();
        promoted.follow(&old_master);
        // Written after the replica's last sync: lost when the old master follows the new one.
        old_master.insert("late", "x");
        promoted.insert("b", "2");
        old_master.follow(&promoted);
        assert_eq!(keys(&old_master), keys(&promoted));
        assert!(old_master.get("late").is_none());
        // Ahead of the master it follows within one history: copied back, not replayed.
        let mut ahead = Dataset::default();
        ahead.follow(&promoted);
        promoted.insert("c", "3");
        let mut behind = Dataset::default();
        behind.follow(&promoted);
        promoted.remove("c");
        behind.follow(&ahead);
        assert_eq!(keys(&behind), keys(&ahead));
    }

    #[test]
    fn a_follower_beyond_the_kept_changes_copies_the_whole_dataset() {
        let mut master = Dataset::new();
        let mut replica = Dataset::default();
        replica.follow(&master);
        for index in 0..super::CHANGES_KEPT + 10 {
            master.insert(&format!("key-{index}"), "v");
        }
        replica.follow(&master);
        assert_eq!(keys(&replica), keys(&master));
        assert_eq!(replica.len(), super::CHANGES_KEPT + 10);
    }

    #[test]
    fn every_database_and_kind_of_value_is_replayed_copied_and_flushed() {
        let members: BTreeSet<Arc<str>> = [Arc::from("a"), Arc::from("b")].into();
        let set = Value::Set(Arc::new(members));
        let mut master = Dataset::new();
        master.insert("plain", "0");
        master.set(3, "plain", Value::String(Arc::from("3")));
        let mut replayed = Dataset::default();
        replayed.follow(&master);
        master.set(3, "members", set.clone());
        assert!(!replayed.follow(&master), "replayed, not copied");
        let mut copied = Dataset::default();
        assert!(copied.follow(&master), "a fresh follower copies");
        for follower in [&replayed, &copied] {
            assert_eq!(follower.value(3, "members"), Some(&set));
            assert_eq!(follower.get("plain"), Some("0"));
            assert_eq!(follower.database_len(0), 1);
            assert_eq!(follower.database_len(3), 2);
            assert_eq!(follower.len(), 3);
        }
        // Database 0 alone is what slots, string reads and iteration see.
        assert_eq!(master.keys_in_slot(key_slot("members")).count(), 0);
        assert_eq!(keys(&master), vec![("plain".to_owned(), "0".to_owned())]);
        master.set(0, "plain", set);
        assert_eq!(master.get("plain"), None, "a set is no string");
        assert!(master.contains_key("plain"));
        master.flush(Some(3));
        replayed.follow(&master);
        assert_eq!((replayed.database_len(3), replayed.len()), (0, 1));
        master.flush(None);
        replayed.follow(&master);
        assert!(replayed.is_empty() && master.is_empty());
        assert_eq!(replayed, master);
    }

    #[test]
    fn key_slots_match_redis() {
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("bar"), 5061);
        assert_eq!(
            key_slot("{user1000}.following"),
            key_slot("{user1000}.followers")
        );
        assert_eq!(key_slot("{}x"), key_slot("{}x"));
        assert_eq!(key_slot("123456789"), 12739);
    }
}
