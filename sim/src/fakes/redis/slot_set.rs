//! A set of Redis Cluster slots as a shared bitmap, with the operations gossip and the oracles
//! run every step (union, overlap, ranges) done a word at a time.

use std::sync::{Arc, OnceLock};

use redis_operator::topology::slots::SLOT_COUNT;

/// A set of slots as a bitmap shared until changed: cheap to clone, compare and intersect, as
/// the fake copies node tables on every gossip round and a server on every command. Its ranges
/// are worked out once per version of the bitmap and shared with its copies: every node's
/// CLUSTER NODES lists every master's ranges, on every reconcile.
#[derive(Clone)]
pub struct SlotSet {
    pub(super) bits: Arc<[u64; SLOT_WORDS]>,
    count: u16,
    ranges: Arc<OnceLock<Vec<(u16, u16)>>>,
}

impl PartialEq for SlotSet {
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count && self.bits == other.bits
    }
}

impl Eq for SlotSet {}

/// Slots set in a bitmap.
fn count_of(bits: &[u64; SLOT_WORDS]) -> u16 {
    u16::try_from(bits.iter().map(|word| word.count_ones()).sum::<u32>()).unwrap_or(u16::MAX)
}

/// Words of the slot bitmap.
pub const SLOT_WORDS: usize = 256;

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet {
            bits: Arc::new([0; SLOT_WORDS]),
            count: 0,
            ranges: Arc::default(),
        }
    }
}

impl std::fmt::Debug for SlotSet {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{:?}", self.ranges())
    }
}

impl SlotSet {
    /// Whether both share one bitmap, which then cannot have changed in either.
    pub(super) fn same_bitmap(&self, other: &SlotSet) -> bool {
        Arc::ptr_eq(&self.bits, &other.bits)
    }

    fn position(slot: u16) -> Option<(usize, u64)> {
        (slot < SLOT_COUNT).then(|| (usize::from(slot / 64), 1u64 << (slot % 64)))
    }

    /// Whether `slot` is in the set.
    pub fn contains(&self, slot: &u16) -> bool {
        Self::position(*slot)
            .is_some_and(|(word, bit)| self.bits.get(word).is_some_and(|value| value & bit != 0))
    }

    /// Adds a slot.
    pub fn insert(&mut self, slot: u16) {
        if self.contains(&slot) {
            return;
        }
        if let Some((word, bit)) = Self::position(slot)
            && let Some(value) = self.bits_to_change().get_mut(word)
        {
            *value |= bit;
            self.count += 1;
        }
    }

    /// Removes a slot.
    pub fn remove(&mut self, slot: &u16) {
        if !self.contains(slot) {
            return;
        }
        if let Some((word, bit)) = Self::position(*slot)
            && let Some(value) = self.bits_to_change().get_mut(word)
        {
            *value &= !bit;
            self.count -= 1;
        }
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Removes every slot.
    pub fn clear(&mut self) {
        *self = SlotSet::default();
    }

    /// Slots in ascending order; empty words are skipped whole.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.bits
            .iter()
            .zip(0u16..)
            .filter(|(bits, _)| **bits != 0)
            .flat_map(|(bits, word)| {
                (0u16..64)
                    .filter(move |bit| bits & (1u64 << bit) != 0)
                    .map(move |bit| word * 64 + bit)
            })
    }

    /// Adds every slot of `slots`.
    pub fn extend(&mut self, slots: impl IntoIterator<Item = u16>) {
        for slot in slots {
            self.insert(slot);
        }
    }

    /// Whether the two sets share a slot.
    pub fn intersects(&self, other: &SlotSet) -> bool {
        // Gossip asks this of every pair of tables every round, and mostly the answer is no:
        // one pass without a branch per word.
        !self.is_empty()
            && !other.is_empty()
            && self
                .bits
                .iter()
                .zip(other.bits.iter())
                .fold(0, |shared, (left, right)| shared | (left & right))
                != 0
    }

    /// The bitmap: bit `slot % 64` of word `slot / 64` is set for each slot in the set.
    pub fn words(&self) -> &[u64; SLOT_WORDS] {
        &self.bits
    }

    /// Adds the slots of `other`.
    pub fn union(&mut self, other: &SlotSet) {
        if other.is_empty() {
            return;
        }
        let bits = self.bits_to_change();
        for (left, right) in bits.iter_mut().zip(other.bits.iter()) {
            *left |= right;
        }
        self.count = count_of(bits);
    }

    /// Removes the slots of `other`.
    pub fn subtract(&mut self, other: &SlotSet) {
        if !self.intersects(other) {
            return;
        }
        let bits = self.bits_to_change();
        for (left, right) in bits.iter_mut().zip(other.bits.iter()) {
            *left &= !right;
        }
        self.count = count_of(bits);
    }

    /// Keeps the slots `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(u16) -> bool) {
        let dropped: Vec<u16> = self.iter().filter(|slot| !keep(*slot)).collect();
        for slot in dropped {
            self.remove(&slot);
        }
    }

    /// The bitmap, to be changed: its own copy, and its ranges forgotten.
    fn bits_to_change(&mut self) -> &mut [u64; SLOT_WORDS] {
        // Emptied in place when this set alone holds the ranges; a copy sharing them keeps them.
        match Arc::get_mut(&mut self.ranges) {
            Some(ranges) => {
                ranges.take();
            }
            None => self.ranges = Arc::default(),
        }
        Arc::make_mut(&mut self.bits)
    }

    /// Inclusive ranges, ascending.
    pub fn ranges(&self) -> Vec<(u16, u16)> {
        self.ranges.get_or_init(|| self.compute_ranges()).clone()
    }

    fn compute_ranges(&self) -> Vec<(u16, u16)> {
        let mut ranges: Vec<(u16, u16)> = Vec::new();
        for (bits, word) in self.bits.iter().zip(0u16..) {
            let first = word * 64;
            if *bits == u64::MAX {
                match ranges.last_mut() {
                    Some((_, end)) if *end + 1 == first => *end = first + 63,
                    _ => ranges.push((first, first + 63)),
                }
                continue;
            }
            if *bits == 0 {
                continue;
            }
            for bit in (0u16..64).filter(|bit| bits & (1u64 << bit) != 0) {
                let slot = first + bit;
                match ranges.last_mut() {
                    Some((_, end)) if *end + 1 == slot => *end = slot,
                    _ => ranges.push((slot, slot)),
                }
            }
        }
        ranges
    }
}
