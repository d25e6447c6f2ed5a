//! The slot moves of a scale-out from 3 to 4 masters and back, by the operator's planner and by
//! `redis-cli --cluster rebalance` on an identical real cluster: the operator moves exactly the
//! fewest slots that reach a balanced layout. The full table (3 to 4, 5 and 6) is printed by
//! `cargo run --example rebalance_comparison`. Needs the Debian packages redis-server and
//! redis-tools (`scripts/test-all` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

mod support;

use support::rebalance::{compare, table};

#[tokio::test]
async fn the_operator_moves_the_fewest_slots_from_three_to_four_masters_and_back() {
    let (scale_out, scale_in) = compare(3, 4, 1000).await;
    println!("{}", table(&[scale_out.clone(), scale_in.clone()]));
    for row in [&scale_out, &scale_in] {
        assert_eq!(
            row.operator_moves, row.operator_minimum,
            "{} {}→{}: the operator's moves",
            row.direction, row.from, row.to
        );
        assert_eq!(
            row.operator_owner_changes, row.operator_minimum,
            "{} {}→{}: every move changed a slot's owner once",
            row.direction, row.from, row.to
        );
        assert!(
            row.redis_cli_owner_changes >= row.redis_cli_minimum,
            "no resharding can move fewer than the minimum: {row:?}"
        );
        let spread = row.operator_layout.first().unwrap() - row.operator_layout.last().unwrap();
        assert!(spread <= 1, "balanced: {:?}", row.operator_layout);
    }
}
