//! Fake Redis Sentinel: sentinels that monitor a master, agree it is down after
//! `down-after-milliseconds`, fail it over under a leader that reaches a majority of them to the
//! most advanced replica that leader reaches, reconfigure the replicas it reaches, pass the new
//! configuration to the sentinels it reaches (the others keep the old master until they reach
//! one that knows the newer epoch), turn a member that comes back with the wrong role (a former master
//! still a master, a replica of another master) into a replica of the current master after
//! [`WRONG_ROLE_GRACE_MILLISECONDS`], and answer the SENTINEL commands the operator sends.
//!
//! As Redis Sentinel does, a master cut off from the sentinels is not demoted while it is cut
//! off: it keeps accepting writes (the split-brain window) until it is reachable again.

use std::collections::{BTreeMap, BTreeSet};

use redis_operator::ports::clock::Milliseconds;

use redis_operator::ports::redis::{RedisCommand, RedisEndpoint, RedisError, RedisReply};
use redis_operator::topology::replies::{
    SentinelMaster, render_master_address, render_sentinel_masters,
};

use super::{Fleet, LinkOrigin, Monitor, ServerKind, ok, rejected};

/// How long a sentinel sees a member with the wrong role before it reconfigures it: Redis
/// Sentinel waits four publish periods (`SENTINEL_PUBLISH_PERIOD * 4`, 8 seconds).
pub(super) const WRONG_ROLE_GRACE_MILLISECONDS: Milliseconds = 8_000;

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
        if down_votes >= quorum.try_into().unwrap_or(usize::MAX) && down_votes >= majority {
            // The leader is elected by a majority of the sentinels: it must reach that many.
            let voters: Vec<&String> = sentinels
                .iter()
                .filter(|sentinel| monitors(fleet, sentinel, &group))
                .collect();
            let leader = voters
                .iter()
                .find(|sentinel| {
                    voters
                        .iter()
                        .filter(|other| other == sentinel || fleet.connected(sentinel, other))
                        .count()
                        >= majority
                })
                .map(|sentinel| (*sentinel).clone());
            if let Some(leader) = leader {
                sentinel_failover(fleet, &sentinels, &group, &master_ip, &leader);
            }
        }
        share_newest_configuration(fleet, &sentinels, &group);
        fix_member_roles(fleet, &sentinels, &group);
    }
}

/// Whether the sentinel at `address` is alive and monitors `group`.
fn monitors(fleet: &Fleet, address: &str, group: &str) -> bool {
    fleet
        .servers
        .get(address)
        .is_some_and(|server| server.alive && server.monitors.contains_key(group))
}

/// A sentinel that missed a failover (cut off, or down) adopts the newest configuration of
/// `group` (the highest epoch) once it reaches a sentinel that holds it, as Redis Sentinels do
/// through their hello messages; until then it keeps naming the old master.
fn share_newest_configuration(fleet: &mut Fleet, sentinels: &[String], group: &str) {
    let newest = sentinels
        .iter()
        .filter_map(|address| {
            let monitor = fleet.servers.get(address)?.monitors.get(group)?;
            Some((monitor.epoch, address.clone()))
        })
        .max();
    let Some((epoch, holder)) = newest else {
        return;
    };
    let Some(configuration) = fleet
        .servers
        .get(&holder)
        .and_then(|server| server.monitors.get(group))
        .cloned()
    else {
        return;
    };
    for address in sentinels {
        let behind = fleet
            .servers
            .get(address)
            .and_then(|server| server.monitors.get(group))
            .is_some_and(|monitor| monitor.epoch < epoch);
        if !behind || !fleet.connected(address, &holder) {
            continue;
        }
        if let Some(monitor) = fleet
            .servers
            .get_mut(address)
            .and_then(|server| server.monitors.get_mut(group))
        {
            monitor.ip = configuration.ip.clone();
            monitor.port = configuration.port;
            monitor.epoch = epoch;
            monitor.down_since = None;
            monitor
                .members
                .extend(configuration.members.iter().cloned());
            monitor.members.remove(&configuration.ip);
        }
    }
}

/// The addresses of the servers that replicate from the master at `master_ip`.
fn replicas_of<'a>(fleet: &'a Fleet, master_ip: &'a str) -> impl Iterator<Item = String> + 'a {
    fleet
        .servers
        .values()
        .filter(move |server| {
            server.kind == ServerKind::Plain
                && server
                    .master
                    .as_ref()
                    .is_some_and(|(ip, _)| ip == master_ip)
        })
        .map(|server| server.ip.clone())
}

/// Each sentinel learns the replicas it sees following its master, and turns a member it reaches
/// that has had the wrong role for [`WRONG_ROLE_GRACE_MILLISECONDS`] into a replica of the
/// master, while that master answers it as a master (Redis Sentinel's `+convert-to-slave` and
/// `+fix-slave-config`).
fn fix_member_roles(fleet: &mut Fleet, sentinels: &[String], group: &str) {
    let now = fleet.now;
    for sentinel in sentinels {
        let Some((master_ip, master_port, members)) = fleet
            .servers
            .get(sentinel)
            .and_then(|server| server.monitors.get(group))
            .map(|monitor| (monitor.ip.clone(), monitor.port, monitor.members.clone()))
        else {
            continue;
        };
        let master_sane = fleet.connected(sentinel, &master_ip)
            && fleet
                .servers
                .get(&master_ip)
                .is_some_and(|master| master.master.is_none());
        let followers: Vec<String> = replicas_of(fleet, &master_ip)
            .filter(|ip| fleet.connected(sentinel, ip))
            .collect();
        let mut wrong: Vec<String> = Vec::new();
        for member in members.iter().filter(|member| **member != master_ip) {
            let reachable = fleet.connected(sentinel, member);
            let right_role = fleet.servers.get(member).is_some_and(|server| {
                server
                    .master
                    .as_ref()
                    .is_some_and(|(ip, _)| *ip == master_ip)
            });
            if reachable && !right_role {
                wrong.push(member.clone());
            }
        }
        let mut convert = Vec::new();
        if let Some(monitor) = fleet
            .servers
            .get_mut(sentinel)
            .and_then(|server| server.monitors.get_mut(group))
        {
            monitor.members.extend(followers);
            monitor
                .wrong_role_since
                .retain(|member, _| wrong.contains(member));
            for member in wrong {
                let since = *monitor
                    .wrong_role_since
                    .entry(member.clone())
                    .or_insert(now);
                if master_sane && now.saturating_sub(since) >= WRONG_ROLE_GRACE_MILLISECONDS {
                    monitor.wrong_role_since.remove(&member);
                    convert.push(member);
                }
            }
        }
        for member in convert {
            if let Some(server) = fleet.servers.get_mut(&member) {
                server.point_at((master_ip.clone(), master_port), LinkOrigin::Sentinels);
                server.link_up = false;
            }
            fleet.sync_replica(&member);
        }
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
    leader: &str,
) -> bool {
    // The sentinel leading the failover promotes and reconfigures; it only knows, and can only
    // promote, the replicas it reaches (Redis' `sentinelSelectSlave` skips disconnected ones).
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
        .filter(|server| fleet.connected(leader, &server.ip))
        // Redis' `sentinelSelectSlave` skips replicas whose priority is 0.
        .filter(|server| server.replica_priority != 0)
        .max_by_key(|server| (server.offset, std::cmp::Reverse(server.pod.clone())))
        .map(|server| (server.ip.clone(), server.port));
    let Some((new_ip, new_port)) = candidate else {
        return false;
    };
    fleet.supersede(master_ip, &new_ip, true);
    fleet.promote(&new_ip);
    let mut members: Vec<String> = replicas_of(fleet, master_ip)
        .filter(|ip| *ip != new_ip)
        .collect();
    members.push(master_ip.to_owned());
    // The leader reconfigures the members it reaches; the others (the old master above all, down
    // or cut off) are turned into replicas once they are back.
    for follower in &members {
        if fleet.connected(leader, follower) {
            if let Some(server) = fleet.servers.get_mut(follower) {
                server.point_at((new_ip.clone(), new_port), LinkOrigin::Sentinels);
            }
            fleet.sync_replica(follower);
        }
    }
    // The new configuration reaches the sentinels the leader reaches now (through the hello
    // messages on the servers they share); the others learn it once they reach one that has it
    // (`share_newest_configuration`).
    for address in sentinels {
        if address != leader && !fleet.connected(leader, address) {
            continue;
        }
        if let Some(monitor) = fleet
            .servers
            .get_mut(address)
            .and_then(|server| server.monitors.get_mut(group))
        {
            monitor.ip = new_ip.clone();
            monitor.port = new_port;
            monitor.epoch += 1;
            monitor.down_since = None;
            monitor.members.extend(members.iter().cloned());
            monitor.members.insert(master_ip.to_owned());
            monitor.members.remove(&new_ip);
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
                            members: BTreeSet::new(),
                            wrong_role_since: BTreeMap::new(),
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
                if sentinel_failover(self, &sentinels, group, &master_ip, address) {
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
