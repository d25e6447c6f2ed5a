//! Redis Cluster slot arithmetic and rebalance planning.
//!
//! What it does: splits the 16384 hash slots into even ranges, converts between slot sets and
//! inclusive ranges, finds unowned and multiply-owned slots, computes each target master's slot
//! quota and plans the smallest set of single-slot moves that takes a cluster from its current
//! layout (owner → slots) to a layout where every target master owns exactly its quota.
//!
//! What it must not do: no I/O, no async, no clock, no randomness and no talking to Redis or
//! Kubernetes; callers execute the planned moves elsewhere. It never panics, and its output is
//! deterministic: maps and sets are ordered, and every tie is broken by node id.
//!
//! The plan assumes each slot has at most one owner. Slots with several owners (see
//! [`multiply_owned_slots`]) must be resolved first: with them the planner still terminates
//! without panicking, but the resulting layout is not guaranteed to be balanced.

use std::collections::{BTreeMap, BTreeSet};

/// Number of hash slots in a Redis Cluster; slots are numbered `0..SLOT_COUNT`.
pub const SLOT_COUNT: u16 = 16384;

/// Identifier of a Redis Cluster node (its node id, or any stable name the caller uses).
pub type NodeId = String;

/// One slot changing owner: `slot` goes from master `from` to master `to`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SlotMove {
    /// The hash slot that moves.
    pub slot: u16,
    /// The master that owns the slot before the move.
    pub from: NodeId,
    /// The master that owns the slot after the move.
    pub to: NodeId,
}

/// Inclusive ranges splitting `0..=16383` into `masters` contiguous ranges whose sizes differ by
/// at most one, the larger ranges first. Empty for zero masters; with more masters than slots
/// there is one single-slot range per slot (the remaining masters get nothing).
pub fn even_ranges(masters: usize) -> Vec<(u16, u16)> {
    let total = usize::from(SLOT_COUNT);
    let parts = masters.min(total);
    if parts == 0 {
        return Vec::new();
    }
    let base = total / parts;
    let larger = total % parts;
    let mut ranges = Vec::with_capacity(parts);
    let mut start = 0_usize;
    for index in 0..parts {
        // `base` is at least one because `parts <= total`, so `size - 1` cannot underflow.
        let size = if index < larger { base + 1 } else { base };
        let end = start + size - 1;
        if let (Ok(first), Ok(last)) = (u16::try_from(start), u16::try_from(end)) {
            ranges.push((first, last));
        }
        start = end + 1;
    }
    ranges
}

/// The maximal inclusive ranges of consecutive slots in `slots`, in ascending order.
pub fn ranges_of(slots: &BTreeSet<u16>) -> Vec<(u16, u16)> {
    ranges_of_ascending(slots.iter().copied())
}

/// The maximal inclusive ranges of consecutive slots from an ascending sequence of slots.
fn ranges_of_ascending(slots: impl Iterator<Item = u16>) -> Vec<(u16, u16)> {
    let mut ranges: Vec<(u16, u16)> = Vec::new();
    for slot in slots {
        match ranges.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(slot) => *end = slot,
            _ => ranges.push((slot, slot)),
        }
    }
    ranges
}

/// The slots covered by inclusive `ranges`. Reversed ranges (start after end) are ignored, and
/// slots beyond the last slot (`SLOT_COUNT - 1`) are left out.
pub fn slots_of(ranges: &[(u16, u16)]) -> BTreeSet<u16> {
    let last_slot = SLOT_COUNT - 1;
    ranges
        .iter()
        .filter(|(start, end)| start <= end && *start <= last_slot)
        .flat_map(|&(start, end)| start..=end.min(last_slot))
        .collect()
}

/// The slot quota of each target master.
///
/// The slots owned in `current` (counted once each; normally all 16384) are divided as evenly as
/// possible over `targets`, so quotas differ by at most one. The larger quotas go to the targets
/// that already own the most slots (ties broken by node id), which is what makes the number of
/// moved slots minimal. Empty when `targets` is empty.
pub fn target_counts<Slots: SlotSet>(
    current: &BTreeMap<NodeId, Slots>,
    targets: &BTreeSet<NodeId>,
) -> BTreeMap<NodeId, u32> {
    if targets.is_empty() {
        return BTreeMap::new();
    }
    let total = owned_slots(current).count();
    quotas(total, targets, |node| owned_count(current, node))
        .into_iter()
        .map(|(node, _, quota)| (node.clone(), quota))
        .collect()
}

/// Each target with the slots it owns (`owned`) and its quota of `total` slots, as
/// [`target_counts`] divides them: the most slots owned first, equal counts in node-id order,
/// the first `total % targets` of them taking one slot more.
fn quotas(
    total: u32,
    targets: &BTreeSet<NodeId>,
    owned: impl Fn(&NodeId) -> u32,
) -> Vec<(&NodeId, u32, u32)> {
    let parts = u32::try_from(targets.len()).unwrap_or(u32::MAX).max(1);
    let base = total / parts;
    let larger = total % parts;
    let mut order: Vec<(u32, &NodeId)> = targets.iter().map(|node| (owned(node), node)).collect();
    order.sort_by(|left, right| right.0.cmp(&left.0).then_with(|| left.1.cmp(right.1)));
    order
        .into_iter()
        .enumerate()
        .map(|(rank, (owned, node))| {
            let gets_larger = u32::try_from(rank).is_ok_and(|rank| rank < larger);
            (node, owned, base + u32::from(gets_larger))
        })
        .collect()
}

/// The moves that take `current` to a layout where every target master owns exactly its quota
/// (see [`target_counts`]).
///
/// Masters in `current` but not in `targets` are departing and give away every slot; targets
/// missing from `current` start empty. The number of moves is minimal (it equals
/// [`minimum_moves`]): a staying master gives away only its surplus over its quota and a receiver
/// takes only its deficit, so no master both gives and receives and no slot moves twice.
///
/// Order of work, all deterministic:
/// 1. The departing masters' slots are spread as evenly as the receivers' deficits allow
///    (water-filling): every receiver takes the same share, give or take one slot, except
///    receivers whose whole deficit is smaller than that share, which take exactly their deficit.
///    The extra single slots go to receivers in node-id order.
/// 2. The staying masters' surpluses then fill the remaining deficits.
///
/// Donors are visited in node-id order and give away their highest-numbered slots first, so the
/// slots a staying master keeps stay contiguous; receivers are filled in node-id order. Slots
/// owned by no one are not moved (see [`unowned_slots`]). No moves when `targets` is empty.
pub fn plan_rebalance<Slots: SlotSet>(
    current: &BTreeMap<NodeId, Slots>,
    targets: &BTreeSet<NodeId>,
) -> Vec<SlotMove> {
    plan_rebalance_batch(current, targets, usize::MAX).moves
}

/// The first moves of a [`plan_rebalance`] plan and the length of the whole plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RebalanceBatch {
    /// The plan's first moves, at most the batch size asked for, in the plan's order.
    pub moves: Vec<SlotMove>,
    /// How many moves the whole plan has.
    pub total: usize,
}

/// Whether [`plan_rebalance_batch`] would move nothing for masters owning these inclusive
/// ranges, told from the ranges alone: a converged cluster is checked on every reconcile, and
/// expanding every master's ranges into a set only to find no move was most of that check.
/// `owners` are the masters the plan would be given. Answers `false` whenever the ranges alone
/// cannot tell (ranges overlapping, reversed or beyond the last slot, a master listed twice);
/// the full plan then decides.
pub fn balanced_by_ranges<'owner>(
    owners: impl IntoIterator<Item = (&'owner str, &'owner [(u16, u16)])>,
    targets: &BTreeSet<NodeId>,
) -> bool {
    let mut ranges: Vec<(u16, u16)> = Vec::new();
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for (node, owned) in owners {
        let targeted = targets.contains(node);
        if !targeted && !owned.is_empty() {
            // A departing master still owns slots.
            return false;
        }
        let mut count = 0_u32;
        for &(start, end) in owned {
            if start > end || end >= SLOT_COUNT {
                return false;
            }
            count += u32::from(end - start) + 1;
            ranges.push((start, end));
        }
        if counts.insert(node, count).is_some() {
            return false;
        }
    }
    ranges.sort_unstable();
    if ranges.windows(2).any(|pair| pair[1].0 <= pair[0].1) {
        return false;
    }
    // As in `target_counts`: with no slot owned twice, the slots owned are the sum of the counts.
    let total: u32 = counts.values().sum();
    quotas(total, targets, |node| {
        counts.get(node.as_str()).copied().unwrap_or(0)
    })
    .into_iter()
    .all(|(_, owned, quota)| owned == quota)
}

/// [`plan_rebalance`] cut to its first `batch` moves, with the plan's length: a migration moves
/// one batch per reconcile, and building every move of a large plan to use a few would cost two
/// node-id copies per slot.
pub fn plan_rebalance_batch<Slots: SlotSet>(
    current: &BTreeMap<NodeId, Slots>,
    targets: &BTreeSet<NodeId>,
    batch: usize,
) -> RebalanceBatch {
    let mut moves = Batch {
        moves: Vec::new(),
        total: 0,
        limit: batch,
    };
    if targets.is_empty() {
        return moves.finish();
    }
    let quotas = target_counts(current, targets);
    let mut deficits: BTreeMap<&NodeId, u32> = quotas
        .iter()
        .filter_map(|(node, &quota)| {
            let owned = owned_count(current, node);
            (quota > owned).then(|| (node, quota - owned))
        })
        .collect();
    let departing: Vec<(&NodeId, &Slots)> = current
        .iter()
        .filter(|(node, _)| !targets.contains(*node))
        .collect();
    let departing_total: u64 = departing
        .iter()
        .map(|(_, slots)| u64::from(slots.slot_count()))
        .sum();

    // 1. Departing masters' slots, spread evenly over the receivers.
    let intake = spread_evenly(&deficits, departing_total);
    let mut departing_slots = departing
        .iter()
        .flat_map(|&(node, slots)| slots.descending().map(move |slot| (node, slot)));
    for (&receiver, &share) in &intake {
        let taken = take_into(&mut departing_slots, receiver, share, &mut moves);
        if let Some(deficit) = deficits.get_mut(receiver) {
            *deficit = deficit.saturating_sub(taken);
        }
    }

    // 2. Staying masters' surpluses fill what is left.
    let mut surplus_slots = quotas
        .iter()
        .filter_map(|(node, &quota)| current.get(node).map(|slots| (node, slots, quota)))
        .flat_map(|(node, slots, quota)| {
            let surplus = slots.slot_count().saturating_sub(quota);
            slots
                .descending()
                .take(usize::try_from(surplus).unwrap_or(usize::MAX))
                .map(move |slot| (node, slot))
        });
    for (&receiver, &deficit) in &deficits {
        take_into(&mut surplus_slots, receiver, deficit, &mut moves);
    }
    moves.finish()
}

/// The moves of a plan being built: the first `limit` kept, all counted.
struct Batch {
    moves: Vec<SlotMove>,
    total: usize,
    limit: usize,
}

impl Batch {
    fn push(&mut self, slot: u16, from: &NodeId, to: &NodeId) {
        if self.moves.len() < self.limit {
            self.moves.push(SlotMove {
                slot,
                from: from.clone(),
                to: to.clone(),
            });
        }
        self.total += 1;
    }

    fn finish(self) -> RebalanceBatch {
        RebalanceBatch {
            moves: self.moves,
            total: self.total,
        }
    }
}

/// The inclusive ranges of slots in `0..SLOT_COUNT` that no master in `current` owns.
pub fn unowned_slots(current: &BTreeMap<NodeId, BTreeSet<u16>>) -> Vec<(u16, u16)> {
    let owned = owned_slots(current);
    ranges_of_ascending((0..SLOT_COUNT).filter(|&slot| !owned.contains(slot)))
}

/// The slots that more than one master in `current` claims.
pub fn multiply_owned_slots(current: &BTreeMap<NodeId, BTreeSet<u16>>) -> BTreeSet<u16> {
    let mut seen = SlotBits::new();
    let mut repeated = BTreeSet::new();
    for &slot in current.values().flatten() {
        if !seen.insert(slot) {
            repeated.insert(slot);
        }
    }
    repeated
}

/// The least number of slot moves any plan needs: every slot of the departing masters plus, for
/// each staying master, its surplus over its quota. This is exactly the length of
/// [`plan_rebalance`]'s plan for a layout without multiply-owned slots. Zero when `targets` is
/// empty, since then no layout is planned at all.
pub fn minimum_moves<Slots: SlotSet>(
    current: &BTreeMap<NodeId, Slots>,
    targets: &BTreeSet<NodeId>,
) -> u32 {
    if targets.is_empty() {
        return 0;
    }
    let quotas = target_counts(current, targets);
    current
        .iter()
        .map(|(node, slots)| {
            let owned = slots.slot_count();
            match quotas.get(node) {
                Some(&quota) => owned.saturating_sub(quota),
                None => owned,
            }
        })
        .fold(0_u32, u32::saturating_add)
}

/// The layout after applying `moves` in order: each move takes the slot away from `from` and
/// gives it to `to` (added to the map if absent). Masters left without slots stay in the map with
/// an empty set. Meant for tests and the simulator.
pub fn apply_moves(
    current: &BTreeMap<NodeId, BTreeSet<u16>>,
    moves: &[SlotMove],
) -> BTreeMap<NodeId, BTreeSet<u16>> {
    let mut layout = current.clone();
    for slot_move in moves {
        if let Some(slots) = layout.get_mut(&slot_move.from) {
            slots.remove(&slot_move.slot);
        }
        match layout.get_mut(&slot_move.to) {
            Some(slots) => {
                slots.insert(slot_move.slot);
            }
            None => {
                layout.insert(slot_move.to.clone(), BTreeSet::from([slot_move.slot]));
            }
        }
    }
    layout
}

/// The moves grouped by (source, destination) master pair, each group's slots in ascending
/// order, for executing one migration per pair.
pub fn moves_by_pair(moves: &[SlotMove]) -> BTreeMap<(NodeId, NodeId), Vec<u16>> {
    let mut groups: BTreeMap<(NodeId, NodeId), Vec<u16>> = BTreeMap::new();
    for slot_move in moves {
        groups
            .entry((slot_move.from.clone(), slot_move.to.clone()))
            .or_default()
            .push(slot_move.slot);
    }
    for slots in groups.values_mut() {
        slots.sort_unstable();
    }
    groups
}

/// Every slot owned by at least one master.
fn owned_slots<Slots: SlotSet>(current: &BTreeMap<NodeId, Slots>) -> SlotBits {
    let mut owned = SlotBits::new();
    for slots in current.values() {
        slots.add_to(&mut owned);
    }
    owned
}

/// What the rebalance planner reads of the slots a master owns. A tree of slots suits tests and
/// callers that edit layouts; the planner of a live cluster reads [`SlotBits`], built a word at a
/// time from the ranges CLUSTER NODES reports, because every reconcile reads every master's
/// slots.
pub trait SlotSet {
    /// How many slots the set holds.
    fn slot_count(&self) -> u32;
    /// The slots from the highest down.
    fn descending(&self) -> impl Iterator<Item = u16> + '_;
    /// Adds the set's slots to `union`.
    fn add_to(&self, union: &mut SlotBits);
}

impl SlotSet for BTreeSet<u16> {
    fn slot_count(&self) -> u32 {
        u32::try_from(self.len()).unwrap_or(u32::MAX)
    }

    fn descending(&self) -> impl Iterator<Item = u16> + '_ {
        self.iter().rev().copied()
    }

    fn add_to(&self, union: &mut SlotBits) {
        for &slot in self {
            union.insert(slot);
        }
    }
}

impl SlotSet for SlotBits {
    fn slot_count(&self) -> u32 {
        self.count()
    }

    fn descending(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().enumerate().rev().flat_map(|(word, &bits)| {
            let base = u16::try_from(word << 6).unwrap_or(u16::MAX);
            let mut remaining = bits;
            std::iter::from_fn(move || {
                if remaining == 0 {
                    return None;
                }
                let highest = 63 - remaining.leading_zeros();
                remaining &= !(1_u64 << highest);
                u16::try_from(highest).ok().map(|bit| base | bit)
            })
        })
    }

    fn add_to(&self, union: &mut SlotBits) {
        for (bits, added) in union.0.iter_mut().zip(&self.0) {
            *bits |= added;
        }
    }
}

/// Number of 64-bit words needed for one bit per `u16` value.
const SLOT_BIT_WORDS: usize = 1 << 10;

/// A set of `u16` values as a fixed bitmap, for fast whole-cluster scans: the planner unions every
/// node's view of 16384 slots on each reconcile, which a tree of slots makes the costliest part
/// of planning.
pub struct SlotBits([u64; SLOT_BIT_WORDS]);

impl SlotBits {
    /// The empty set.
    pub(crate) fn new() -> Self {
        Self([0; SLOT_BIT_WORDS])
    }

    /// Word index and bit mask of `slot`.
    fn position(slot: u16) -> (usize, u64) {
        (usize::from(slot >> 6), 1_u64 << (slot & 63))
    }

    /// Adds the slots of inclusive `ranges`; reversed ranges and slots beyond the last slot are
    /// left out, as in [`slots_of`].
    pub(crate) fn insert_ranges<'range>(
        &mut self,
        ranges: impl IntoIterator<Item = &'range (u16, u16)>,
    ) {
        let last_slot = SLOT_COUNT - 1;
        for &(start, end) in ranges {
            if start > end || start > last_slot {
                continue;
            }
            // A word at a time: a master's range covers thousands of slots, and every plan unions
            // every node's view of every master.
            let end = end.min(last_slot);
            let mut slot = start;
            loop {
                let last_in_word = (slot | 63).min(end);
                let width = u32::from(last_in_word - slot) + 1;
                let mask = u64::MAX
                    .checked_shr(64 - width)
                    .unwrap_or(u64::MAX)
                    .wrapping_shl(u32::from(slot & 63));
                if let Some(bits) = self.0.get_mut(usize::from(slot >> 6)) {
                    *bits |= mask;
                }
                if last_in_word == end {
                    break;
                }
                slot = last_in_word + 1;
            }
        }
    }

    /// Adds `slot`; returns whether it was absent before.
    pub(crate) fn insert(&mut self, slot: u16) -> bool {
        let (word, mask) = Self::position(slot);
        match self.0.get_mut(word) {
            Some(bits) => {
                let absent = *bits & mask == 0;
                *bits |= mask;
                absent
            }
            None => false,
        }
    }

    /// Whether `slot` is in the set.
    pub(crate) fn contains(&self, slot: u16) -> bool {
        let (word, mask) = Self::position(slot);
        self.0.get(word).is_some_and(|bits| bits & mask != 0)
    }

    /// Number of values in the set.
    pub(crate) fn count(&self) -> u32 {
        self.0.iter().map(|bits| bits.count_ones()).sum()
    }
}

/// Number of slots `node` owns in `current` (zero when absent).
fn owned_count<Slots: SlotSet>(current: &BTreeMap<NodeId, Slots>, node: &NodeId) -> u32 {
    current.get(node).map_or(0, SlotSet::slot_count)
}

/// Water-filling: divides `amount` over receivers with the given capacities so that each takes
/// `min(capacity, level)` for one common level, and the leftover (fewer than the receivers with
/// room above the level) goes one each to receivers with room, in node-id order. Amounts beyond
/// the total capacity are not handed out.
fn spread_evenly<'node>(
    capacities: &BTreeMap<&'node NodeId, u32>,
    amount: u64,
) -> BTreeMap<&'node NodeId, u32> {
    let total_capacity: u64 = capacities
        .values()
        .map(|&capacity| u64::from(capacity))
        .sum();
    let amount = amount.min(total_capacity);
    let filled = |level: u64| -> u64 {
        capacities
            .values()
            .map(|&capacity| u64::from(capacity).min(level))
            .sum()
    };
    // Largest level whose fill does not exceed the amount: filled(0) = 0 <= amount, and
    // filled(highest) = total_capacity >= amount.
    let highest = capacities.values().copied().max().map_or(0, u64::from);
    let (mut low, mut high) = (0_u64, highest);
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        if filled(middle) <= amount {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    let level = low;
    let mut leftover = amount.saturating_sub(filled(level));
    capacities
        .iter()
        .map(|(&node, &capacity)| {
            let mut share = u64::from(capacity).min(level);
            if leftover > 0 && u64::from(capacity) > level {
                share += 1;
                leftover -= 1;
            }
            (node, u32::try_from(share).unwrap_or(capacity))
        })
        .collect()
}

/// Takes up to `count` (donor, slot) pairs from `source` as moves to `receiver`; returns how
/// many were taken.
fn take_into<'node>(
    source: &mut impl Iterator<Item = (&'node NodeId, u16)>,
    receiver: &NodeId,
    count: u32,
    moves: &mut Batch,
) -> u32 {
    let mut taken = 0_u32;
    for (donor, slot) in source.take(usize::try_from(count).unwrap_or(usize::MAX)) {
        moves.push(slot, donor, receiver);
        taken += 1;
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn node(index: usize) -> NodeId {
        format!("node-{index:03}")
    }

    fn nodes(indices: std::ops::Range<usize>) -> BTreeSet<NodeId> {
        indices.map(node).collect()
    }

    /// `count` masters `node-000`… owning `even_ranges(count)` in order.
    fn even_layout(count: usize) -> BTreeMap<NodeId, BTreeSet<u16>> {
        even_ranges(count)
            .into_iter()
            .enumerate()
            .map(|(index, range)| (node(index), slots_of(&[range])))
            .collect()
    }

    /// Small deterministic generator (splitmix64) for building random layouts from one seed.
    struct Generator(u64);

    impl Generator {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut mixed = self.0;
            mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            mixed ^ (mixed >> 31)
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }
    }

    #[derive(Clone, Debug)]
    enum Layout {
        /// `even_ranges(old)` in node order.
        Even,
        /// `even_ranges(old)` handed to the masters in a shuffled order.
        ShuffledEven(u64),
        /// Every slot to a random master.
        RandomPerSlot(u64),
        /// Runs of random length to random masters (some masters may own nothing).
        RandomRuns(u64),
    }

    fn layout_strategy() -> impl Strategy<Value = Layout> {
        prop_oneof![
            Just(Layout::Even),
            any::<u64>().prop_map(Layout::ShuffledEven),
            any::<u64>().prop_map(Layout::RandomPerSlot),
            any::<u64>().prop_map(Layout::RandomRuns),
        ]
    }

    /// Masters `node-000`..`node-{old-1}` (all present, possibly with no slots); with
    /// `leave_holes` some slots are owned by no one.
    fn build_layout(
        old: usize,
        layout: &Layout,
        leave_holes: bool,
    ) -> BTreeMap<NodeId, BTreeSet<u16>> {
        if let Layout::Even = layout {
            return even_layout(old);
        }
        // Owner of each slot by master index; index `old` means "nobody" (holes only).
        let owners = if leave_holes { old + 1 } else { old };
        let mut owner_of: Vec<usize> = Vec::with_capacity(usize::from(SLOT_COUNT));
        match layout {
            Layout::Even => {}
            Layout::ShuffledEven(seed) => {
                let mut generator = Generator(*seed);
                let mut order: Vec<usize> = (0..old).collect();
                for index in (1..order.len()).rev() {
                    order.swap(index, generator.below(index + 1));
                }
                for ((start, end), owner) in even_ranges(old).into_iter().zip(order) {
                    owner_of.extend((start..=end).map(|_| owner));
                }
            }
            Layout::RandomPerSlot(seed) => {
                let mut generator = Generator(*seed);
                owner_of.extend((0..SLOT_COUNT).map(|_| generator.below(owners)));
            }
            Layout::RandomRuns(seed) => {
                let mut generator = Generator(*seed);
                while owner_of.len() < usize::from(SLOT_COUNT) {
                    let length = 1 + generator.below(3000);
                    let owner = generator.below(owners);
                    let room = usize::from(SLOT_COUNT) - owner_of.len();
                    owner_of.extend(std::iter::repeat_n(owner, length.min(room)));
                }
            }
        }
        let mut slots_by_owner: Vec<BTreeSet<u16>> = vec![BTreeSet::new(); old];
        for (slot, owner) in (0..SLOT_COUNT).zip(owner_of) {
            if let Some(slots) = slots_by_owner.get_mut(owner) {
                slots.insert(slot);
            }
        }
        slots_by_owner
            .into_iter()
            .enumerate()
            .map(|(index, slots)| (node(index), slots))
            .collect()
    }

    /// How many masters own each slot, indexed by slot.
    fn owner_count(layout: &BTreeMap<NodeId, BTreeSet<u16>>) -> Vec<u8> {
        let mut counts = vec![0_u8; usize::from(u16::MAX) + 1];
        for &slot in layout.values().flatten() {
            counts[usize::from(slot)] += 1;
        }
        counts
    }

    /// Every property the planner promises, for a layout without multiply-owned slots.
    fn check_plan(current: &BTreeMap<NodeId, BTreeSet<u16>>, targets: &BTreeSet<NodeId>) {
        assert!(multiply_owned_slots(current).is_empty());
        let moves = plan_rebalance(current, targets);
        let after = apply_moves(current, &moves);
        let quotas = target_counts(current, targets);
        let mut owner_before: Vec<Option<&NodeId>> = vec![None; usize::from(u16::MAX) + 1];
        for (master, slots) in current {
            for &slot in slots {
                owner_before[usize::from(slot)] = Some(master);
            }
        }
        let owned_total = owner_before.iter().flatten().count();

        // Quotas: one per target, differing by at most one, summing to the owned slots, the
        // larger ones on the masters that owned more.
        assert_eq!(
            quotas.keys().collect::<Vec<_>>(),
            targets.iter().collect::<Vec<_>>()
        );
        assert_eq!(
            quotas.values().map(|&q| q as usize).sum::<usize>(),
            owned_total
        );
        let highest = quotas.values().copied().max().unwrap_or(0);
        let lowest = quotas.values().copied().min().unwrap_or(0);
        assert!(highest - lowest <= 1);
        let larger_quota_owned = quotas
            .iter()
            .filter(|&(_, &quota)| quota == highest)
            .map(|(target, _)| owned_count(current, target))
            .min();
        let smaller_quota_owned = quotas
            .iter()
            .filter(|&(_, &quota)| quota < highest)
            .map(|(target, _)| owned_count(current, target))
            .max();
        if let (Some(larger), Some(smaller)) = (larger_quota_owned, smaller_quota_owned) {
            assert!(larger >= smaller);
        }

        // Ownership afterwards: the same slots, each owned exactly once, unowned left alone.
        let counts_after = owner_count(&after);
        for (slot, &count) in counts_after.iter().enumerate() {
            let expected = u8::from(owner_before[slot].is_some());
            assert_eq!(count, expected, "slot {slot}");
        }
        assert_eq!(unowned_slots(&after), unowned_slots(current));

        // Every target at its quota, every departing master empty.
        for (target, &quota) in &quotas {
            assert_eq!(owned_count(&after, target), quota, "{target}");
        }
        for (master, slots) in &after {
            if !targets.contains(master) {
                assert!(slots.is_empty(), "{master} still owns slots");
            }
        }

        // Minimality: the lower bound is met, no slot moves twice, each move starts at the
        // slot's owner, and nobody both gives and receives.
        assert_eq!(moves.len(), minimum_moves(current, targets) as usize);
        let mut moved = vec![false; usize::from(u16::MAX) + 1];
        for slot_move in &moves {
            let slot = usize::from(slot_move.slot);
            assert!(!moved[slot], "slot {slot} moves twice");
            moved[slot] = true;
            assert_eq!(owner_before[slot], Some(&slot_move.from));
            assert_ne!(slot_move.from, slot_move.to);
        }
        let givers: BTreeSet<&NodeId> = moves.iter().map(|m| &m.from).collect();
        let takers: BTreeSet<&NodeId> = moves.iter().map(|m| &m.to).collect();
        assert!(givers.is_disjoint(&takers));

        // Staying donors keep their lowest-numbered slots.
        for (target, &quota) in &quotas {
            if let Some(slots) = current.get(target)
                && slots.len() > quota as usize
            {
                let kept: BTreeSet<u16> = slots.iter().take(quota as usize).copied().collect();
                assert_eq!(after.get(target), Some(&kept), "{target}");
            }
        }

        // Evenness of the departing masters' slots: a receiver may take more than one slot
        // more than another only when that other receiver's whole deficit is filled by them.
        let mut intake: BTreeMap<&NodeId, u32> = BTreeMap::new();
        for slot_move in &moves {
            if !targets.contains(&slot_move.from) {
                *intake.entry(&slot_move.to).or_insert(0) += 1;
            }
        }
        let receivers: Vec<(&NodeId, u32, u32)> = quotas
            .iter()
            .filter(|&(target, &quota)| quota > owned_count(current, target))
            .map(|(target, &quota)| {
                let deficit = quota - owned_count(current, target);
                (target, intake.get(target).copied().unwrap_or(0), deficit)
            })
            .collect();
        let most_intake = receivers
            .iter()
            .map(|&(_, taken, _)| taken)
            .max()
            .unwrap_or(0);
        for &(receiver, taken, deficit) in &receivers {
            assert!(
                taken + 1 >= most_intake || taken == deficit,
                "{receiver} took {taken} of deficit {deficit}, another took {most_intake}"
            );
        }

        // Grouping keeps every move exactly once, slots ascending within a pair.
        let groups = moves_by_pair(&moves);
        let mut regrouped: Vec<(u16, &str, &str)> = Vec::with_capacity(moves.len());
        for ((from, to), slots) in &groups {
            assert!(slots.windows(2).all(|pair| pair[0] < pair[1]));
            regrouped.extend(slots.iter().map(|&slot| (slot, from.as_str(), to.as_str())));
        }
        let mut flat: Vec<(u16, &str, &str)> = moves
            .iter()
            .map(|m| (m.slot, m.from.as_str(), m.to.as_str()))
            .collect();
        regrouped.sort_unstable();
        flat.sort_unstable();
        assert_eq!(regrouped, flat);
    }

    #[test]
    fn ranges_of_an_even_layout_are_balanced_and_two_slots_moved_are_not() {
        let targets = nodes(0..3);
        let even = even_ranges(3);
        let owners = |ranges: &[Vec<(u16, u16)>]| -> Vec<(NodeId, Vec<(u16, u16)>)> {
            ranges
                .iter()
                .enumerate()
                .map(|(index, owned)| (node(index), owned.clone()))
                .collect()
        };
        let balanced = |layout: &[(NodeId, Vec<(u16, u16)>)]| {
            balanced_by_ranges(
                layout
                    .iter()
                    .map(|(node, owned)| (node.as_str(), owned.as_slice())),
                &targets,
            )
        };
        assert!(balanced(&owners(&[
            vec![even[0]],
            vec![even[1]],
            vec![even[2]]
        ])));
        // 5460, 5463 and 5461 slots: the quotas are 5462, 5461 and 5461.
        assert!(!balanced(&owners(&[
            vec![(even[0].0, even[0].1 - 2)],
            vec![(even[1].0 - 2, even[1].1)],
            vec![even[2]],
        ])));
        // Owned twice: the ranges alone cannot tell.
        assert!(!balanced(&owners(&[
            vec![even[0]],
            vec![even[0], even[1]],
            vec![even[2]]
        ])));
    }

    fn layout_from(ranges: &[(&str, &[(u16, u16)])]) -> BTreeMap<NodeId, BTreeSet<u16>> {
        ranges
            .iter()
            .map(|(name, owned)| (name.to_string(), slots_of(owned)))
            .collect()
    }

    fn names(list: &[&str]) -> BTreeSet<NodeId> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn even_ranges_are_empty_for_no_masters() {
        assert!(even_ranges(0).is_empty());
    }

    #[test]
    fn one_master_gets_every_slot() {
        assert_eq!(even_ranges(1), vec![(0, 16383)]);
    }

    #[test]
    fn three_masters_get_the_usual_redis_split() {
        assert_eq!(
            even_ranges(3),
            vec![(0, 5461), (5462, 10922), (10923, 16383)]
        );
    }

    #[test]
    fn more_masters_than_slots_get_one_slot_each_until_slots_run_out() {
        let ranges = even_ranges(20_000);
        assert_eq!(ranges.len(), usize::from(SLOT_COUNT));
        assert!(
            ranges
                .iter()
                .enumerate()
                .all(|(index, &(start, end))| { usize::from(start) == index && start == end })
        );
    }

    #[test]
    fn even_ranges_cover_every_slot_with_sizes_differing_by_at_most_one_larger_first() {
        for masters in [1, 2, 3, 5, 7, 100, 1000, 16383, 16384] {
            let ranges = even_ranges(masters);
            assert_eq!(ranges.len(), masters);
            assert_eq!(slots_of(&ranges).len(), usize::from(SLOT_COUNT));
            let sizes: Vec<u32> = ranges
                .iter()
                .map(|&(start, end)| u32::from(end - start) + 1)
                .collect();
            assert!(sizes.windows(2).all(|pair| pair[0] >= pair[1]));
            assert!(sizes.first().unwrap() - sizes.last().unwrap() <= 1);
            assert!(ranges.windows(2).all(|pair| pair[0].1 + 1 == pair[1].0));
        }
    }

    #[test]
    fn ranges_of_joins_consecutive_slots_only() {
        let slots: BTreeSet<u16> = [0, 1, 2, 5, 7, 8, 16383].into_iter().collect();
        assert_eq!(
            ranges_of(&slots),
            vec![(0, 2), (5, 5), (7, 8), (16383, 16383)]
        );
        assert!(ranges_of(&BTreeSet::new()).is_empty());
    }

    #[test]
    fn slots_of_ignores_reversed_ranges_and_slots_beyond_the_last() {
        let slots = slots_of(&[(5, 3), (16380, u16::MAX), (20000, 30000), (1, 2)]);
        let expected: BTreeSet<u16> = [1, 2, 16380, 16381, 16382, 16383].into_iter().collect();
        assert_eq!(slots, expected);
    }

    #[test]
    fn unowned_slots_reports_the_gaps_as_ranges() {
        let current = layout_from(&[("a", &[(0, 99)]), ("b", &[(200, 16000)])]);
        assert_eq!(unowned_slots(&current), vec![(100, 199), (16001, 16383)]);
        assert_eq!(unowned_slots(&BTreeMap::new()), vec![(0, 16383)]);
        assert!(unowned_slots(&even_layout(3)).is_empty());
    }

    #[test]
    fn multiply_owned_slots_lists_slots_claimed_twice() {
        let current = layout_from(&[("a", &[(0, 10)]), ("b", &[(8, 12)]), ("c", &[(12, 12)])]);
        let expected: BTreeSet<u16> = [8, 9, 10, 12].into_iter().collect();
        assert_eq!(multiply_owned_slots(&current), expected);
        assert!(multiply_owned_slots(&even_layout(7)).is_empty());
    }

    #[test]
    fn three_masters_growing_to_six_move_one_contiguous_block_to_each_newcomer() {
        let current = even_layout(3);
        let targets = nodes(0..6);
        let moves = plan_rebalance(&current, &targets);
        assert_eq!(moves.len(), 8191);
        check_plan(&current, &targets);
        let after = apply_moves(&current, &moves);
        let expected = [
            (0, (0, 2730)),
            (1, (5462, 8192)),
            (2, (10923, 13653)),
            (3, (2731, 5461)),
            (4, (8193, 10922)),
            (5, (13654, 16383)),
        ];
        for (index, range) in expected {
            assert_eq!(
                ranges_of(&after[&node(index)]),
                vec![range],
                "{}",
                node(index)
            );
        }
        let pairs: Vec<(NodeId, NodeId)> = moves_by_pair(&moves).into_keys().collect();
        assert_eq!(
            pairs,
            vec![(node(0), node(3)), (node(1), node(4)), (node(2), node(5))]
        );
    }

    #[test]
    fn six_masters_shrinking_to_three_hand_each_departing_master_to_one_stayer() {
        let current = even_layout(6);
        let targets = nodes(0..3);
        let moves = plan_rebalance(&current, &targets);
        assert_eq!(moves.len(), 8191);
        check_plan(&current, &targets);
        let quotas = target_counts(&current, &targets);
        assert_eq!(
            quotas.values().copied().collect::<Vec<_>>(),
            vec![5462, 5461, 5461]
        );
        let pairs: Vec<(NodeId, NodeId)> = moves_by_pair(&moves).into_keys().collect();
        assert_eq!(
            pairs,
            vec![(node(3), node(0)), (node(4), node(1)), (node(5), node(2))]
        );
    }

    #[test]
    fn three_masters_growing_to_four_take_a_quarter_for_the_newcomer() {
        let current = even_layout(3);
        let targets = nodes(0..4);
        let moves = plan_rebalance(&current, &targets);
        assert_eq!(moves.len(), 4096);
        assert!(moves.iter().all(|slot_move| slot_move.to == node(3)));
        check_plan(&current, &targets);
    }

    #[test]
    fn five_masters_shrinking_to_three_move_only_the_departing_slots() {
        let current = even_layout(5);
        let targets = nodes(0..3);
        let moves = plan_rebalance(&current, &targets);
        assert_eq!(moves.len(), 3277 + 3276);
        assert!(
            moves
                .iter()
                .all(|slot_move| !targets.contains(&slot_move.from))
        );
        check_plan(&current, &targets);
    }

    #[test]
    fn one_master_growing_to_a_hundred_keeps_the_largest_quota() {
        let current = even_layout(1);
        let targets = nodes(0..100);
        let quotas = target_counts(&current, &targets);
        assert_eq!(quotas[&node(0)], 164);
        assert_eq!(quotas.values().filter(|&&quota| quota == 164).count(), 84);
        assert_eq!(plan_rebalance(&current, &targets).len(), 16384 - 164);
        check_plan(&current, &targets);
    }

    #[test]
    fn a_hundred_masters_shrinking_to_one_gather_everything_on_the_stayer() {
        let current = even_layout(100);
        let targets = nodes(0..1);
        let moves = plan_rebalance(&current, &targets);
        assert_eq!(moves.len(), 16384 - 164);
        check_plan(&current, &targets);
        let after = apply_moves(&current, &moves);
        assert_eq!(ranges_of(&after[&node(0)]), vec![(0, 16383)]);
    }

    #[test]
    fn an_already_balanced_cluster_needs_no_moves() {
        for count in [1, 3, 6, 100] {
            let current = even_layout(count);
            let targets = nodes(0..count);
            assert!(plan_rebalance(&current, &targets).is_empty());
            assert_eq!(minimum_moves(&current, &targets), 0);
        }
    }

    #[test]
    fn a_balanced_cluster_whose_larger_shares_sit_on_later_ids_needs_no_moves() {
        let current = layout_from(&[
            ("a", &[(0, 5460)]),
            ("b", &[(5461, 10921)]),
            ("c", &[(10922, 16383)]),
        ]);
        assert_eq!(current["c"].len(), 5462);
        let targets = names(&["a", "b", "c"]);
        assert!(plan_rebalance(&current, &targets).is_empty());
        assert_eq!(target_counts(&current, &targets)["c"], 5462);
    }

    #[test]
    fn no_targets_means_no_moves() {
        let current = even_layout(3);
        assert!(plan_rebalance(&current, &BTreeSet::new()).is_empty());
        assert_eq!(minimum_moves(&current, &BTreeSet::new()), 0);
        assert!(target_counts(&current, &BTreeSet::new()).is_empty());
    }

    #[test]
    fn an_empty_cluster_needs_no_moves() {
        let targets = nodes(0..3);
        assert!(plan_rebalance(&BTreeMap::<NodeId, BTreeSet<u16>>::new(), &targets).is_empty());
        assert!(
            target_counts(&BTreeMap::<NodeId, BTreeSet<u16>>::new(), &targets)
                .values()
                .all(|&quota| quota == 0)
        );
    }

    #[test]
    fn replacing_every_master_spreads_all_slots_evenly_over_the_newcomers() {
        let current = even_layout(3);
        let targets = nodes(10..14);
        let moves = plan_rebalance(&current, &targets);
        assert_eq!(moves.len(), 16384);
        check_plan(&current, &targets);
    }

    #[test]
    fn departing_slots_fill_small_deficits_fully_and_share_the_rest_evenly() {
        // a owns 3000 and stays, d owns 10000 and departs, b and c are new, e owns 3384 and
        // stays. Quotas are 4096 for everyone (16384 / 4): deficits are a 1096, b 4096,
        // c 4096, e 712; d's 10000 slots cover them exactly.
        let current = layout_from(&[
            ("a", &[(0, 2999)]),
            ("d", &[(3000, 12999)]),
            ("e", &[(13000, 16383)]),
        ]);
        let targets = names(&["a", "b", "c", "e"]);
        check_plan(&current, &targets);
        let moves = plan_rebalance(&current, &targets);
        let groups = moves_by_pair(&moves);
        assert_eq!(groups[&("d".to_string(), "a".to_string())].len(), 1096);
        assert_eq!(groups[&("d".to_string(), "b".to_string())].len(), 4096);
        assert_eq!(groups[&("d".to_string(), "c".to_string())].len(), 4096);
        assert_eq!(groups[&("d".to_string(), "e".to_string())].len(), 712);
    }

    #[test]
    fn departing_slots_are_shared_evenly_when_stayers_also_give() {
        // s owns 12000 and stays (quota 5462 for the largest owner), d owns 4384 and departs,
        // n1 and n2 are new with quota 5461 each: d's slots split 2192 / 2192 and s's
        // surplus fills the rest.
        let current = layout_from(&[("d", &[(0, 4383)]), ("s", &[(4384, 16383)])]);
        let targets = names(&["n1", "n2", "s"]);
        check_plan(&current, &targets);
        let groups = moves_by_pair(&plan_rebalance(&current, &targets));
        assert_eq!(groups[&("d".to_string(), "n1".to_string())].len(), 2192);
        assert_eq!(groups[&("d".to_string(), "n2".to_string())].len(), 2192);
        assert_eq!(
            groups[&("s".to_string(), "n1".to_string())].len(),
            5461 - 2192
        );
        assert_eq!(
            groups[&("s".to_string(), "n2".to_string())].len(),
            5461 - 2192
        );
        // s gives away its highest slots and keeps one contiguous range.
        let after = apply_moves(&current, &plan_rebalance(&current, &targets));
        assert_eq!(ranges_of(&after["s"]), vec![(4384, 4384 + 5462 - 1)]);
    }

    #[test]
    fn unowned_slots_are_never_moved() {
        let current = layout_from(&[("a", &[(0, 999)]), ("b", &[(5000, 5099)])]);
        let targets = names(&["a", "b", "c"]);
        let moves = plan_rebalance(&current, &targets);
        let quotas = target_counts(&current, &targets);
        assert_eq!(
            quotas.values().copied().collect::<Vec<_>>(),
            vec![367, 367, 366]
        );
        check_plan(&current, &targets);
        assert!(moves.iter().all(|slot_move| slot_move.slot < 1000));
    }

    #[test]
    fn multiply_owned_slots_do_not_make_the_planner_panic() {
        let current = layout_from(&[("a", &[(0, 16383)]), ("b", &[(0, 8000)])]);
        let targets = names(&["b", "c"]);
        let moves = plan_rebalance(&current, &targets);
        let _ = apply_moves(&current, &moves);
        let _ = minimum_moves(&current, &targets);
    }

    #[test]
    fn apply_moves_adds_missing_receivers_and_keeps_emptied_masters() {
        let current = layout_from(&[("a", &[(0, 1)])]);
        let moves = vec![
            SlotMove {
                slot: 0,
                from: "a".into(),
                to: "b".into(),
            },
            SlotMove {
                slot: 1,
                from: "a".into(),
                to: "b".into(),
            },
        ];
        let after = apply_moves(&current, &moves);
        assert!(after["a"].is_empty());
        assert_eq!(ranges_of(&after["b"]), vec![(0, 1)]);
    }

    #[test]
    fn moves_by_pair_groups_and_sorts_slots() {
        let moves = vec![
            SlotMove {
                slot: 9,
                from: "a".into(),
                to: "b".into(),
            },
            SlotMove {
                slot: 3,
                from: "c".into(),
                to: "b".into(),
            },
            SlotMove {
                slot: 2,
                from: "a".into(),
                to: "b".into(),
            },
        ];
        let groups = moves_by_pair(&moves);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[&("a".to_string(), "b".to_string())], vec![2, 9]);
        assert_eq!(groups[&("c".to_string(), "b".to_string())], vec![3]);
    }

    #[test]
    fn the_plan_is_the_same_every_time() {
        let current = build_layout(17, &Layout::RandomRuns(7), false);
        let targets = nodes(5..29);
        assert_eq!(
            plan_rebalance(&current, &targets),
            plan_rebalance(&current, &targets)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn ranges_set_a_word_at_a_time_hold_exactly_the_slots_of_the_ranges(
            ranges in proptest::collection::vec((0_u16..17_000, 0_u16..17_000), 0..6),
        ) {
            let mut bits = SlotBits::new();
            bits.insert_ranges(&ranges);
            let expected = slots_of(&ranges);
            let held: BTreeSet<u16> = (0..=u16::MAX).filter(|&slot| bits.contains(slot)).collect();
            prop_assert_eq!(held, expected);
        }

        #[test]
        fn ranges_tell_a_balanced_layout_exactly_when_the_plan_moves_nothing(
            old in 1_usize..=12,
            new in 1_usize..=12,
            offset in 0_usize..=3,
            layout in layout_strategy(),
            leave_holes in any::<bool>(),
            same_masters in any::<bool>(),
        ) {
            let current = build_layout(old, &layout, leave_holes);
            // The same masters as targets make the even layouts balanced.
            let targets = if same_masters { nodes(0..old) } else { nodes(offset..offset + new) };
            let ranges: BTreeMap<&NodeId, Vec<(u16, u16)>> = current
                .iter()
                .map(|(node, slots)| (node, ranges_of(slots)))
                .collect();
            let balanced = balanced_by_ranges(
                ranges.iter().map(|(node, owned)| (node.as_str(), owned.as_slice())),
                &targets,
            );
            prop_assert_eq!(balanced, plan_rebalance_batch(&current, &targets, 1).total == 0);
        }

        #[test]
        fn slot_bits_plan_the_same_moves_as_slot_trees(
            old in 1_usize..=40,
            new in 1_usize..=40,
            offset in 0_usize..=40,
            layout in layout_strategy(),
            leave_holes in any::<bool>(),
        ) {
            let current = build_layout(old, &layout, leave_holes);
            let as_bits: BTreeMap<NodeId, SlotBits> = current
                .iter()
                .map(|(node, slots)| {
                    let mut bits = SlotBits::new();
                    for &slot in slots {
                        bits.insert(slot);
                    }
                    (node.clone(), bits)
                })
                .collect();
            for (node, slots) in &current {
                let descending: Vec<u16> = slots.iter().rev().copied().collect();
                prop_assert_eq!(as_bits[node].descending().collect::<Vec<u16>>(), descending);
            }
            let targets = nodes(offset..offset + new);
            prop_assert_eq!(
                plan_rebalance_batch(&as_bits, &targets, 700),
                plan_rebalance_batch(&current, &targets, 700)
            );
        }

        #[test]
        fn any_change_of_masters_reaches_a_balanced_layout_with_the_fewest_moves(
            old in 1_usize..=100,
            new in 1_usize..=100,
            offset in 0_usize..=100,
            layout in layout_strategy(),
        ) {
            let current = build_layout(old, &layout, false);
            let targets = nodes(offset..offset + new);
            check_plan(&current, &targets);
        }

        #[test]
        fn layouts_with_unowned_slots_balance_the_owned_ones_and_leave_the_rest(
            old in 1_usize..=100,
            new in 1_usize..=100,
            offset in 0_usize..=100,
            seed in any::<u64>(),
            per_slot in any::<bool>(),
        ) {
            let layout = if per_slot { Layout::RandomPerSlot(seed) } else { Layout::RandomRuns(seed) };
            let current = build_layout(old, &layout, true);
            let targets = nodes(offset..offset + new);
            check_plan(&current, &targets);
        }

        #[test]
        fn ranges_and_slots_convert_back_and_forth(
            slots in proptest::collection::btree_set(0_u16..SLOT_COUNT, 0..300),
        ) {
            let ranges = ranges_of(&slots);
            prop_assert_eq!(slots_of(&ranges), slots);
            prop_assert!(ranges.windows(2).all(|pair| pair[0].1 + 1 < pair[1].0));
        }
    }
}
