//! Fake Redis Sentinel: sentinels that monitor a master, agree it is down after
//! `down-after-milliseconds`, fail it over to the most advanced replica and reconfigure the
//! others, and answer the SENTINEL commands the operator sends.

use std::collections::BTreeSet;

use redis_operator::ports::redis::{RedisCommand, RedisEndpoint, RedisError, RedisReply};
use redis_operator::topology::replies::{
    SentinelMaster, render_master_address, render_sentinel_masters,
};

use super::{Fleet, Monitor, ServerKind, ok, rejected};

pub(super) fn tick_sentinels(fleet: &mut Fleet, addresses: &[String]) {
    let now = fleet.now;
    let sentinels: Vec<String> = addresses
        .iter()
        .filter(|address| {
            fleet
                .servers
                .get(*address)
                .is_some_and(|server| server.kind == ServerKind::Sentinel && server.alive)
        })
        .cloned()
        .collect();
    let groups: BTreeSet<String> = sentinels
        .iter()
        .filter_map(|address| fleet.servers.get(address))
        .flat_map(|server| server.monitors.keys().cloned())
        .collect();
    for group in groups {
        // Each sentinel's view of whether its master is down.
        let mut down_votes = 0;
        let mut monitoring = 0;
        let mut quorum = u32::MAX;
        let mut master_address = None;
        for address in &sentinels {
            let reachable = {
                let Some(monitor) = fleet
                    .servers
                    .get(address)
                    .and_then(|server| server.monitors.get(&group))
                else {
                    continue;
                };
                master_address = Some((monitor.ip.clone(), monitor.port));
                quorum = quorum.min(monitor.quorum);
                fleet.connected(address, &monitor.ip)
                    && fleet
                        .servers
                        .get(&monitor.ip)
                        .is_some_and(|master| master.master.is_none())
            };
            monitoring += 1;
            if let Some(monitor) = fleet
                .servers
                .get_mut(address)
                .and_then(|server| server.monitors.get_mut(&group))
            {
                if reachable {
                    monitor.down_since = None;
                } else {
                    let since = *monitor.down_since.get_or_insert(now);
                    if now.saturating_sub(since) >= monitor.down_after {
                        down_votes += 1;
                    }
                }
            }
        }
        let Some((master_ip, _)) = master_address else {
            continue;
        };
        let majority = monitoring / 2 + 1;
        if down_votes < quorum.try_into().unwrap_or(usize::MAX) || down_votes < majority {
            continue;
        }
        sentinel_failover(fleet, &sentinels, &group, &master_ip);
    }
}

/// The sentinels of `group` promote the most advanced replica of the master at `master_ip`,
/// reconfigure the other replicas (and the old master, if it answers) to follow it, and record
/// the new address. Returns whether a replica was promoted.
pub(super) fn sentinel_failover(
    fleet: &mut Fleet,
    sentinels: &[String],
    group: &str,
    master_ip: &str,
) -> bool {
    let candidate = fleet
        .servers
        .values()
        .filter(|server| server.alive && server.kind == ServerKind::Plain)
        .filter(|server| {
            server
                .master
                .as_ref()
                .is_some_and(|(ip, _)| ip == master_ip)
        })
        .max_by_key(|server| (server.offset, std::cmp::Reverse(server.pod.clone())))
        .map(|server| (server.ip.clone(), server.port));
    let Some((new_ip, new_port)) = candidate else {
        return false;
    };
    if let Some(server) = fleet.servers.get_mut(&new_ip) {
        server.master = None;
        server.link_up = false;
    }
    let followers: Vec<String> = fleet
        .servers
        .values()
        .filter(|server| server.kind == ServerKind::Plain && server.ip != new_ip)
        .filter(|server| {
            server
                .master
                .as_ref()
                .is_some_and(|(ip, _)| ip == master_ip)
                || server.ip == master_ip
        })
        .map(|server| server.ip.clone())
        .collect();
    for follower in followers {
        if let Some(server) = fleet.servers.get_mut(&follower) {
            server.master = Some((new_ip.clone(), new_port));
        }
        fleet.sync_replica(&follower);
    }
    for address in sentinels {
        if let Some(monitor) = fleet
            .servers
            .get_mut(address)
            .and_then(|server| server.monitors.get_mut(group))
        {
            monitor.ip = new_ip.clone();
            monitor.port = new_port;
            monitor.epoch += 1;
            monitor.down_since = None;
        }
    }
    true
}

impl Fleet {
    pub(super) fn sentinel(
        &mut self,
        endpoint: &RedisEndpoint,
        address: &str,
        command: &RedisCommand,
    ) -> Result<RedisReply, RedisError> {
        let Some(server) = self.servers.get(address).cloned() else {
            return Ok(ok());
        };
        match command {
            RedisCommand::SentinelMasters => {
                let masters: Vec<SentinelMaster> = server
                    .monitors
                    .iter()
                    .map(|(name, monitor)| SentinelMaster {
                        name: name.clone(),
                        ip: monitor.ip.clone(),
                        port: monitor.port,
                        flags: if monitor.down_since.is_some() {
                            vec!["master".to_owned(), "s_down".to_owned()]
                        } else {
                            vec!["master".to_owned()]
                        },
                        quorum: monitor.quorum,
                        replicas: u32::try_from(
                            self.servers
                                .values()
                                .filter(|replica| {
                                    replica
                                        .master
                                        .as_ref()
                                        .is_some_and(|(ip, _)| ip == &monitor.ip)
                                })
                                .count(),
                        )
                        .unwrap_or(u32::MAX),
                        other_sentinels: u32::try_from(
                            self.servers
                                .values()
                                .filter(|other| {
                                    other.kind == ServerKind::Sentinel
                                        && other.ip != server.ip
                                        && other.monitors.contains_key(name)
                                })
                                .count(),
                        )
                        .unwrap_or(u32::MAX),
                        down_after_milliseconds: monitor.down_after,
                        failover_timeout: monitor.failover_timeout,
                        parallel_syncs: monitor.parallel_syncs,
                        config_epoch: monitor.epoch,
                    })
                    .collect();
                Ok(render_sentinel_masters(&masters))
            }
            RedisCommand::SentinelMasterAddress(group) => Ok(render_master_address(
                server
                    .monitors
                    .get(group)
                    .map(|monitor| (monitor.ip.as_str(), monitor.port)),
            )),
            RedisCommand::SentinelMonitor {
                group,
                host,
                port,
                quorum,
            } => {
                if server.monitors.contains_key(group) {
                    return Err(rejected(endpoint, command, "ERR Duplicated master name"));
                }
                if let Some(server) = self.servers.get_mut(address) {
                    server.monitors.insert(
                        group.clone(),
                        Monitor {
                            ip: host.clone(),
                            port: *port,
                            quorum: *quorum,
                            down_after: 30_000,
                            failover_timeout: 180_000,
                            parallel_syncs: 1,
                            epoch: 0,
                            down_since: None,
                        },
                    );
                }
                Ok(ok())
            }
            RedisCommand::SentinelRemove(group) => {
                if let Some(server) = self.servers.get_mut(address) {
                    server.monitors.remove(group);
                }
                Ok(ok())
            }
            RedisCommand::SentinelSet {
                group,
                option,
                value,
            } => {
                let Some(monitor) = self
                    .servers
                    .get_mut(address)
                    .and_then(|server| server.monitors.get_mut(group))
                else {
                    return Err(rejected(
                        endpoint,
                        command,
                        "ERR No such master with that name",
                    ));
                };
                let number: u64 = value.parse().unwrap_or(0);
                match option.as_str() {
                    "quorum" => monitor.quorum = u32::try_from(number).unwrap_or(u32::MAX),
                    "down-after-milliseconds" => monitor.down_after = number,
                    "failover-timeout" => monitor.failover_timeout = number,
                    "parallel-syncs" => {
                        monitor.parallel_syncs = u32::try_from(number).unwrap_or(u32::MAX)
                    }
                    _ => {}
                }
                Ok(ok())
            }
            RedisCommand::SentinelFailover(group) => {
                let Some(master_ip) = server.monitors.get(group).map(|monitor| monitor.ip.clone())
                else {
                    return Err(rejected(
                        endpoint,
                        command,
                        "ERR No such master with that name",
                    ));
                };
                let sentinels: Vec<String> = self
                    .servers
                    .values()
                    .filter(|other| other.kind == ServerKind::Sentinel && other.alive)
                    .map(|other| other.ip.clone())
                    .collect();
                if sentinel_failover(self, &sentinels, group, &master_ip) {
                    Ok(ok())
                } else {
                    Err(rejected(
                        endpoint,
                        command,
                        "NOGOODSLAVE No suitable replica to promote",
                    ))
                }
            }
            RedisCommand::SentinelSetAuthPass { group, .. }
            | RedisCommand::SentinelReset(group) => {
                if !server.monitors.contains_key(group) {
                    return Err(rejected(
                        endpoint,
                        command,
                        "ERR No such master with that name",
                    ));
                }
                Ok(ok())
            }
            _ => Err(rejected(
                endpoint,
                command,
                "ERR unknown command for a sentinel",
            )),
        }
    }
}
