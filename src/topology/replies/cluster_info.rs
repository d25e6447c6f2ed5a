//! `CLUSTER INFO`: the parser the observation uses to read a cluster node's state and slot
//! counts, and the renderer the simulator's fake Redis answers with.
//!
//! Pure and total like every reply parser: no I/O, no panic on any input. The renderer writes the
//! text Redis 7 prints and is compiled only for tests and the `testing` feature.

#[cfg(any(test, feature = "testing"))]
use std::fmt::Write as _;

use super::{
    CLUSTER_INFO, ParseError, find_info_line, info_lines, invalid, missing, required_info_number,
};

/// The fields of `CLUSTER INFO` the operator uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterInfo {
    /// `cluster_state:ok` (true) or `cluster_state:fail` (false).
    pub state_ok: bool,
    /// `cluster_slots_assigned`: slots bound to some node.
    pub slots_assigned: u32,
    /// `cluster_slots_ok`: slots whose node is healthy.
    pub slots_ok: u32,
    /// `cluster_slots_pfail`: slots whose node is possibly failed.
    pub slots_possibly_failed: u32,
    /// `cluster_slots_fail`: slots whose node is failed.
    pub slots_failed: u32,
    /// `cluster_known_nodes`: nodes known, including handshaking ones.
    pub known_nodes: u32,
    /// `cluster_size`: masters serving at least one slot.
    pub size: u32,
    /// `cluster_current_epoch`: the highest epoch seen.
    pub current_epoch: u64,
    /// `cluster_my_epoch`: the answering node's configuration epoch.
    pub my_epoch: u64,
}

/// Parses the text of `CLUSTER INFO`; every field of [`ClusterInfo`] is required, others are
/// ignored.
///
/// # Errors
///
/// Returns a [`ParseError`] when a required field is missing or a line or value is malformed.
pub fn parse_cluster_info(text: &str) -> Result<ClusterInfo, ParseError> {
    let lines = info_lines(CLUSTER_INFO, text)?;
    let state_line = find_info_line(&lines, "cluster_state")
        .ok_or_else(|| missing(CLUSTER_INFO, "reply", "cluster_state"))?;
    let state_ok = match state_line.value {
        "ok" => true,
        "fail" => false,
        other => {
            return Err(invalid(
                CLUSTER_INFO,
                state_line.location,
                "cluster_state",
                other,
                "ok or fail",
            ));
        }
    };
    Ok(ClusterInfo {
        state_ok,
        slots_assigned: required_info_number(CLUSTER_INFO, &lines, "cluster_slots_assigned")?,
        slots_ok: required_info_number(CLUSTER_INFO, &lines, "cluster_slots_ok")?,
        slots_possibly_failed: required_info_number(CLUSTER_INFO, &lines, "cluster_slots_pfail")?,
        slots_failed: required_info_number(CLUSTER_INFO, &lines, "cluster_slots_fail")?,
        known_nodes: required_info_number(CLUSTER_INFO, &lines, "cluster_known_nodes")?,
        size: required_info_number(CLUSTER_INFO, &lines, "cluster_size")?,
        current_epoch: required_info_number(CLUSTER_INFO, &lines, "cluster_current_epoch")?,
        my_epoch: required_info_number(CLUSTER_INFO, &lines, "cluster_my_epoch")?,
    })
}

/// Renders `CLUSTER INFO` as Redis 7 prints it, with `\r\n` line ends (message statistics,
/// which the operator does not track, are printed as zero).
#[cfg(any(test, feature = "testing"))]
pub fn render_cluster_info(info: &ClusterInfo) -> String {
    let mut text = String::new();
    let state = if info.state_ok { "ok" } else { "fail" };
    let _ = write!(
        text,
        "cluster_state:{state}\r\n\
         cluster_slots_assigned:{}\r\n\
         cluster_slots_ok:{}\r\n\
         cluster_slots_pfail:{}\r\n\
         cluster_slots_fail:{}\r\n\
         cluster_known_nodes:{}\r\n\
         cluster_size:{}\r\n\
         cluster_current_epoch:{}\r\n\
         cluster_my_epoch:{}\r\n\
         cluster_stats_messages_sent:0\r\n\
         cluster_stats_messages_received:0\r\n\
         total_cluster_links_buffer_limit_exceeded:0\r\n",
        info.slots_assigned,
        info.slots_ok,
        info.slots_possibly_failed,
        info.slots_failed,
        info.known_nodes,
        info.size,
        info.current_epoch,
        info.my_epoch,
    );
    text
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A Redis 7 `CLUSTER INFO` reply of a healthy three-master cluster.
    const CLUSTER_INFO_SAMPLE: &str = "cluster_state:ok\r\n\
        cluster_slots_assigned:16384\r\n\
        cluster_slots_ok:16384\r\n\
        cluster_slots_pfail:0\r\n\
        cluster_slots_fail:0\r\n\
        cluster_known_nodes:6\r\n\
        cluster_size:3\r\n\
        cluster_current_epoch:6\r\n\
        cluster_my_epoch:2\r\n\
        cluster_stats_messages_ping_sent:1483972\r\n\
        cluster_stats_messages_pong_sent:1483968\r\n\
        cluster_stats_messages_sent:2967940\r\n\
        cluster_stats_messages_ping_received:1483968\r\n\
        cluster_stats_messages_pong_received:1483972\r\n\
        cluster_stats_messages_received:2967940\r\n\
        total_cluster_links_buffer_limit_exceeded:0\r\n";

    #[test]
    fn parses_a_realistic_cluster_info_reply() {
        let info = parse_cluster_info(CLUSTER_INFO_SAMPLE).unwrap();
        assert_eq!(
            info,
            ClusterInfo {
                state_ok: true,
                slots_assigned: 16384,
                slots_ok: 16384,
                slots_possibly_failed: 0,
                slots_failed: 0,
                known_nodes: 6,
                size: 3,
                current_epoch: 6,
                my_epoch: 2,
            }
        );
        assert_eq!(
            parse_cluster_info(&render_cluster_info(&info)).unwrap(),
            info
        );
        assert!(
            render_cluster_info(&info)
                .starts_with("cluster_state:ok\r\ncluster_slots_assigned:16384\r\n")
        );
    }

    #[test]
    fn parses_a_failed_cluster_info_with_plain_newlines() {
        let text = CLUSTER_INFO_SAMPLE
            .replace("\r\n", "\n")
            .replace("cluster_state:ok", "cluster_state:fail")
            .replace("cluster_slots_pfail:0", "cluster_slots_pfail:5461");
        let info = parse_cluster_info(&text).unwrap();
        assert!(!info.state_ok);
        assert_eq!(info.slots_possibly_failed, 5461);
        assert!(render_cluster_info(&info).starts_with("cluster_state:fail\r\n"));
    }

    #[test]
    fn reports_missing_and_invalid_cluster_info_fields() {
        let without_size = CLUSTER_INFO_SAMPLE.replace("cluster_size:3\r\n", "");
        assert_eq!(
            parse_cluster_info(&without_size).unwrap_err().to_string(),
            "failed to parse cluster info at reply: missing field cluster_size"
        );
        let bad_state = CLUSTER_INFO_SAMPLE.replace("cluster_state:ok", "cluster_state:maybe");
        assert_eq!(
            parse_cluster_info(&bad_state).unwrap_err().to_string(),
            "failed to parse cluster info at line 1: invalid cluster_state \"maybe\", expected ok or fail"
        );
        assert_eq!(
            parse_cluster_info("cluster_state:ok\r\ngarbage\r\n")
                .unwrap_err()
                .to_string(),
            "failed to parse cluster info at line 2: expected a key:value line"
        );
    }

    fn cluster_info() -> impl Strategy<Value = ClusterInfo> {
        (
            any::<bool>(),
            proptest::array::uniform6(any::<u32>()),
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(|(state_ok, counts, current_epoch, my_epoch)| {
                let [
                    slots_assigned,
                    slots_ok,
                    slots_possibly_failed,
                    slots_failed,
                    known_nodes,
                    size,
                ] = counts;
                ClusterInfo {
                    state_ok,
                    slots_assigned,
                    slots_ok,
                    slots_possibly_failed,
                    slots_failed,
                    known_nodes,
                    size,
                    current_epoch,
                    my_epoch,
                }
            })
    }

    proptest! {
        #[test]
        fn cluster_info_survives_a_render_and_parse_round_trip(info in cluster_info()) {
            prop_assert_eq!(parse_cluster_info(&render_cluster_info(&info)), Ok(info));
        }
    }
}
