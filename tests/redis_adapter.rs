//! The production Redis adapter against real `redis-server` and `redis-sentinel` processes: every
//! command the operator sends, with its reply read by the same parsers the reconcile uses; the
//! password, ACL user and TLS variants; error kinds; connection reuse and reconnection.
//!
//! Needs the Debian packages redis-server, redis-sentinel and redis-tools, and openssl
//! (`scripts/test-all` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

mod support;

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis_operator::adapters::RedisAdapter;
use redis_operator::api::validation::SecretKey;
use redis_operator::ports::redis::{
    FailoverMode, RedisAdmin, RedisCommand, RedisEndpoint, RedisError, RedisReply, SlotState,
};
use redis_operator::topology::replies::{
    ReplicationRole, parse_cluster_info, parse_cluster_nodes, parse_info_replication,
    parse_master_address, parse_sentinel_masters, parse_sentinel_peers,
};
use redis_operator_sim::fakes::redis::key_slot;
use support::real_redis::{
    Certificates, NAMESPACE, PASSWORD_KEY, PASSWORD_SECRET, RedisProcess, SecretStore,
    ServerOptions, secret,
};

const PASSWORD: &str = "correct-horse-battery";

fn adapter_for(process: &RedisProcess) -> RedisAdapter {
    RedisAdapter::new(SecretStore::for_process(process))
}

async fn run(
    adapter: &RedisAdapter,
    endpoint: &RedisEndpoint,
    command: RedisCommand,
) -> RedisReply {
    adapter
        .execute(endpoint, &command)
        .await
        .unwrap_or_else(|error| panic!("{} failed: {error}", command.name()))
}

async fn text(adapter: &RedisAdapter, endpoint: &RedisEndpoint, command: RedisCommand) -> String {
    let name = command.name();
    match run(adapter, endpoint, command).await {
        RedisReply::Text(text) => text,
        other => panic!("{name} replied {other:?}, expected text"),
    }
}

fn ok() -> RedisReply {
    RedisReply::Status("OK".to_owned())
}

/// Polls `probe` every 100 ms until it returns true, or panics naming `what`.
async fn eventually<Probe, Check>(what: &str, timeout: Duration, mut probe: Probe)
where
    Probe: FnMut() -> Check,
    Check: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !probe().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn role(adapter: &RedisAdapter, endpoint: &RedisEndpoint) -> (ReplicationRole, bool) {
    let info =
        parse_info_replication(&text(adapter, endpoint, RedisCommand::InfoReplication).await)
            .unwrap();
    (info.role, info.master_link_up)
}

#[tokio::test]
async fn standalone_reads_return_what_the_parsers_expect() {
    let server = RedisProcess::start("standalone", ServerOptions::plain());
    let adapter = adapter_for(&server);
    let endpoint = server.endpoint();

    assert_eq!(
        run(&adapter, &endpoint, RedisCommand::Ping).await,
        RedisReply::Status("PONG".to_owned())
    );
    let info =
        parse_info_replication(&text(&adapter, &endpoint, RedisCommand::InfoReplication).await)
            .unwrap();
    assert_eq!(info.role, ReplicationRole::Master);
    assert!(info.replicas.is_empty());
    assert_eq!(
        run(&adapter, &endpoint, RedisCommand::DatabaseSize).await,
        RedisReply::Integer(0)
    );
    server.cli_batch("SET a 1\nSET b 2\nSET c 3\n");
    assert_eq!(
        run(&adapter, &endpoint, RedisCommand::DatabaseSize).await,
        RedisReply::Integer(3)
    );
    let keyspace = text(&adapter, &endpoint, RedisCommand::InfoKeyspace).await;
    assert!(keyspace.contains("# Keyspace"), "{keyspace}");
    assert!(keyspace.contains("db0:keys=3"), "{keyspace}");

    assert_eq!(
        run(
            &adapter,
            &endpoint,
            RedisCommand::ConfigSet {
                parameter: "maxmemory-policy".to_owned(),
                value: "allkeys-lru".to_owned(),
            },
        )
        .await,
        ok()
    );
    assert!(
        server
            .cli(&["CONFIG", "GET", "maxmemory-policy"])
            .contains("allkeys-lru")
    );
    let error = adapter
        .execute(
            &endpoint,
            &RedisCommand::ConfigSet {
                parameter: "no-such-parameter".to_owned(),
                value: "1".to_owned(),
            },
        )
        .await
        .unwrap_err();
    let RedisError::Rejected {
        command, message, ..
    } = &error
    else {
        panic!("expected a rejection, got {error:?}");
    };
    assert_eq!(command, "CONFIG SET");
    assert!(message.starts_with("ERR "), "{message}");
    assert!(error.to_string().contains("standalone"), "{error}");

    // A cluster command on a server without cluster mode is the server's rejection.
    let error = adapter
        .execute(&endpoint, &RedisCommand::ClusterNodes)
        .await
        .unwrap_err();
    assert!(matches!(error, RedisError::Rejected { .. }), "{error:?}");
}

#[tokio::test]
async fn replicaof_attaches_a_replica_and_replicaof_no_one_promotes_it() {
    let master = RedisProcess::start("master", ServerOptions::password(PASSWORD));
    let replica = RedisProcess::start("replica", ServerOptions::password(PASSWORD));
    let adapter = adapter_for(&master);
    let master_endpoint = master.endpoint();
    let replica_endpoint = replica.endpoint();
    master.cli_batch("SET before 1\n");

    assert_eq!(
        run(
            &adapter,
            &replica_endpoint,
            RedisCommand::ReplicaOf {
                host: "127.0.0.1".to_owned(),
                port: master.port,
            },
        )
        .await,
        ok()
    );
    eventually(
        "the replica's link is up",
        Duration::from_secs(15),
        || async { role(&adapter, &replica_endpoint).await == (ReplicationRole::Replica, true) },
    )
    .await;
    let info = parse_info_replication(
        &text(&adapter, &replica_endpoint, RedisCommand::InfoReplication).await,
    )
    .unwrap();
    assert_eq!(info.master_host.as_deref(), Some("127.0.0.1"));
    assert_eq!(info.master_port, Some(master.port));
    let master_info = parse_info_replication(
        &text(&adapter, &master_endpoint, RedisCommand::InfoReplication).await,
    )
    .unwrap();
    assert_eq!(master_info.replicas.len(), 1);
    assert_eq!(master_info.replicas[0].port, replica.port);
    assert_eq!(
        run(&adapter, &replica_endpoint, RedisCommand::DatabaseSize).await,
        RedisReply::Integer(1)
    );

    assert_eq!(
        run(&adapter, &replica_endpoint, RedisCommand::ReplicaOfNoOne).await,
        ok()
    );
    assert_eq!(
        role(&adapter, &replica_endpoint).await.0,
        ReplicationRole::Master
    );
}

#[tokio::test]
async fn failover_to_hands_the_master_role_to_a_replica() {
    let master = RedisProcess::start("handover-master", ServerOptions::plain());
    let replica = RedisProcess::start("handover-replica", ServerOptions::plain());
    let adapter = adapter_for(&master);
    let (master_endpoint, replica_endpoint) = (master.endpoint(), replica.endpoint());
    run(
        &adapter,
        &replica_endpoint,
        RedisCommand::ReplicaOf {
            host: "127.0.0.1".to_owned(),
            port: master.port,
        },
    )
    .await;
    eventually(
        "the replica's link is up",
        Duration::from_secs(15),
        || async { role(&adapter, &replica_endpoint).await == (ReplicationRole::Replica, true) },
    )
    .await;
    // The master counts the replica online only once it has acknowledged the synchronisation,
    // a moment after the replica's own link is up; FAILOVER TO refuses a replica not yet online.
    eventually(
        "the master sees its replica online",
        Duration::from_secs(15),
        || async {
            parse_info_replication(
                &text(&adapter, &master_endpoint, RedisCommand::InfoReplication).await,
            )
            .is_ok_and(|info| {
                info.replicas
                    .iter()
                    .any(|replica| replica.state == "online")
            })
        },
    )
    .await;

    assert_eq!(
        run(
            &adapter,
            &master_endpoint,
            RedisCommand::FailoverTo {
                host: "127.0.0.1".to_owned(),
                port: replica.port,
            },
        )
        .await,
        ok()
    );
    eventually(
        "the replica is the master",
        Duration::from_secs(15),
        || async {
            role(&adapter, &replica_endpoint).await.0 == ReplicationRole::Master
                && role(&adapter, &master_endpoint).await.0 == ReplicationRole::Replica
        },
    )
    .await;
}

#[tokio::test]
async fn migrate_moves_keys_to_a_password_protected_target() {
    let source = RedisProcess::start("migrate-source", ServerOptions::password(PASSWORD));
    let target = RedisProcess::start("migrate-target", ServerOptions::password(PASSWORD));
    let adapter = adapter_for(&source);
    source.cli_batch("SET one 1\nSET two 2\n");
    let migrate = |keys: &[&[u8]]| RedisCommand::Migrate {
        host: "127.0.0.1".to_owned(),
        port: target.port,
        keys: keys.iter().map(|key| key.to_vec()).collect(),
        timeout_milliseconds: 2000,
        replace: true,
    };

    assert_eq!(
        run(&adapter, &source.endpoint(), migrate(&[b"one", b"two"])).await,
        ok()
    );
    assert_eq!(target.cli(&["GET", "two"]).trim(), "2");
    assert_eq!(source.cli(&["DBSIZE"]).trim(), "0");
    assert_eq!(
        run(&adapter, &source.endpoint(), migrate(&[b"one"])).await,
        RedisReply::Status("NOKEY".to_owned())
    );

    // A key already at the target (an earlier MIGRATE copied it and failed before deleting it
    // at the source, where clients kept writing) is replaced by the source's value, not
    // refused with BUSYKEY on every retry.
    target.cli_batch("SET four stale\n");
    source.cli_batch("SET four current\n");
    assert_eq!(
        run(&adapter, &source.endpoint(), migrate(&[b"four"])).await,
        ok()
    );
    assert_eq!(target.cli(&["GET", "four"]).trim(), "current");

    // Keys that are not UTF-8 move as the bytes they are.
    source.cli_batch("SET \"bin\\xff\\xfe\" 5\n");
    assert_eq!(
        run(&adapter, &source.endpoint(), migrate(&[b"bin\xff\xfe"])).await,
        ok()
    );
    assert_eq!(source.cli(&["DBSIZE"]).trim(), "0");
    assert_eq!(target.cli(&["DBSIZE"]).trim(), "4");

    // A target with another password refuses: the server's error, without the password.
    let other = RedisProcess::start("migrate-other", ServerOptions::password("other-password"));
    source.cli_batch("SET three 3\n");
    let error = adapter
        .execute(
            &source.endpoint(),
            &RedisCommand::Migrate {
                host: "127.0.0.1".to_owned(),
                port: other.port,
                keys: vec![b"three".to_vec()],
                timeout_milliseconds: 2000,
                replace: true,
            },
        )
        .await
        .unwrap_err();
    assert!(!error.to_string().contains(PASSWORD), "{error}");
    assert_eq!(source.cli(&["GET", "three"]).trim(), "3");
}

/// Starts `count` cluster-mode servers.
fn cluster_servers(label: &str, count: usize, options: &ServerOptions) -> Vec<RedisProcess> {
    (0..count)
        .map(|index| RedisProcess::start(&format!("{label}-{index}"), options.clone().cluster()))
        .collect()
}

async fn node_id(adapter: &RedisAdapter, endpoint: &RedisEndpoint) -> String {
    text(adapter, endpoint, RedisCommand::ClusterMyId).await
}

async fn cluster_is_ok(adapter: &RedisAdapter, endpoint: &RedisEndpoint) -> bool {
    let info = text(adapter, endpoint, RedisCommand::ClusterInfo).await;
    parse_cluster_info(&info).unwrap().state_ok
}

#[tokio::test]
async fn cluster_commands_build_a_cluster_and_move_a_slot() {
    let servers = cluster_servers("cluster", 4, &ServerOptions::plain());
    let adapter = adapter_for(&servers[0]);
    let endpoints: Vec<RedisEndpoint> = servers.iter().map(RedisProcess::endpoint).collect();
    let mut ids = Vec::new();
    for endpoint in &endpoints {
        let id = node_id(&adapter, endpoint).await;
        assert_eq!(id.len(), 40, "{id}");
        ids.push(id);
    }

    for server in &servers[1..] {
        assert_eq!(
            run(
                &adapter,
                &endpoints[0],
                RedisCommand::ClusterMeet {
                    host: "127.0.0.1".to_owned(),
                    port: server.port,
                    bus_port: server.port + 10_000,
                },
            )
            .await,
            ok()
        );
    }
    assert_eq!(
        run(
            &adapter,
            &endpoints[0],
            RedisCommand::ClusterAddSlotsRange(vec![(0, 5460)]),
        )
        .await,
        ok()
    );
    assert_eq!(
        run(
            &adapter,
            &endpoints[1],
            RedisCommand::ClusterAddSlots((5461..=10922).collect()),
        )
        .await,
        ok()
    );
    assert_eq!(
        run(
            &adapter,
            &endpoints[2],
            RedisCommand::ClusterAddSlotsRange(vec![(10923, 12000), (12001, 16383)]),
        )
        .await,
        ok()
    );
    eventually(
        "every node knows the others",
        Duration::from_secs(20),
        || async {
            let nodes = parse_cluster_nodes(
                &text(&adapter, &endpoints[3], RedisCommand::ClusterNodes).await,
            )
            .unwrap();
            nodes.len() == 4 && nodes.iter().all(|node| !node.flags.handshake)
        },
    )
    .await;
    assert_eq!(
        run(
            &adapter,
            &endpoints[3],
            RedisCommand::ClusterReplicate(ids[0].clone()),
        )
        .await,
        ok()
    );
    eventually(
        "every node says the cluster is ok and the first node sees the replica",
        Duration::from_secs(20),
        || async {
            // MIGRATE needs its target to be ok too, so one node's view is not enough.
            for endpoint in &endpoints {
                if !cluster_is_ok(&adapter, endpoint).await {
                    return false;
                }
            }
            let nodes = parse_cluster_nodes(
                &text(&adapter, &endpoints[0], RedisCommand::ClusterNodes).await,
            )
            .unwrap();
            nodes
                .iter()
                .any(|node| node.master_id.as_deref() == Some(ids[0].as_str()))
        },
    )
    .await;
    // A slot another master owns is refused.
    let busy = adapter
        .execute(&endpoints[2], &RedisCommand::ClusterAddSlots(vec![0]))
        .await
        .unwrap_err();
    assert!(matches!(busy, RedisError::Rejected { .. }), "{busy:?}");
    let nodes =
        parse_cluster_nodes(&text(&adapter, &endpoints[0], RedisCommand::ClusterNodes).await)
            .unwrap();
    let masters: Vec<_> = nodes.iter().filter(|node| node.is_master()).collect();
    assert_eq!(masters.len(), 3);
    assert_eq!(
        masters.iter().map(|node| node.slot_count()).sum::<u32>(),
        16384
    );
    let info = parse_cluster_info(&text(&adapter, &endpoints[0], RedisCommand::ClusterInfo).await)
        .unwrap();
    assert_eq!(info.slots_assigned, 16384);
    assert_eq!(info.known_nodes, 4);
    let RedisReply::Array(shards) = run(&adapter, &endpoints[0], RedisCommand::ClusterShards).await
    else {
        panic!("CLUSTER SHARDS is not an array");
    };
    assert_eq!(shards.len(), 3);

    // Move one slot from the first master to the second, with its keys.
    let key = (0..)
        .map(|index| format!("key-{index}"))
        .find(|key| key_slot(key) <= 5460)
        .unwrap();
    let slot = key_slot(&key);
    servers[0].cli(&["SET", &key, "value"]);
    assert_eq!(
        run(
            &adapter,
            &endpoints[0],
            RedisCommand::ClusterCountKeysInSlot(slot)
        )
        .await,
        RedisReply::Integer(1)
    );
    assert_eq!(
        run(
            &adapter,
            &endpoints[0],
            RedisCommand::ClusterGetKeysInSlot { slot, count: 10 },
        )
        .await,
        RedisReply::Array(vec![RedisReply::Text(key.clone())])
    );
    for (endpoint, state) in [
        (&endpoints[1], SlotState::Importing(ids[0].clone())),
        (&endpoints[0], SlotState::Migrating(ids[1].clone())),
    ] {
        assert_eq!(
            run(
                &adapter,
                endpoint,
                RedisCommand::ClusterSetSlot { slot, state }
            )
            .await,
            ok()
        );
    }
    let nodes =
        parse_cluster_nodes(&text(&adapter, &endpoints[0], RedisCommand::ClusterNodes).await)
            .unwrap();
    let myself = nodes.iter().find(|node| node.flags.myself).unwrap();
    assert_eq!(myself.migrating, vec![(slot, ids[1].clone())]);
    assert_eq!(
        run(
            &adapter,
            &endpoints[0],
            RedisCommand::Migrate {
                host: "127.0.0.1".to_owned(),
                port: servers[1].port,
                keys: vec![key.clone().into_bytes()],
                timeout_milliseconds: 2000,
                replace: true,
            },
        )
        .await,
        ok()
    );
    // The new owner first, then the old one, then the others (as Redis documents).
    for endpoint in [&endpoints[1], &endpoints[0], &endpoints[2]] {
        assert_eq!(
            run(
                &adapter,
                endpoint,
                RedisCommand::ClusterSetSlot {
                    slot,
                    state: SlotState::Node(ids[1].clone()),
                },
            )
            .await,
            ok()
        );
    }
    assert_eq!(
        run(
            &adapter,
            &endpoints[1],
            RedisCommand::ClusterCountKeysInSlot(slot)
        )
        .await,
        RedisReply::Integer(1)
    );
    assert_eq!(
        run(
            &adapter,
            &endpoints[1],
            RedisCommand::ClusterSetSlot {
                slot,
                state: SlotState::Stable,
            },
        )
        .await,
        ok()
    );

    // A coordinated failover promotes the replica of the first master.
    assert_eq!(
        run(
            &adapter,
            &endpoints[3],
            RedisCommand::ClusterFailover(FailoverMode::Coordinated),
        )
        .await,
        ok()
    );
    eventually(
        "the replica is a master",
        Duration::from_secs(20),
        || async {
            let nodes = parse_cluster_nodes(
                &text(&adapter, &endpoints[3], RedisCommand::ClusterNodes).await,
            )
            .unwrap();
            nodes
                .iter()
                .any(|node| node.flags.myself && node.is_master() && node.slot_count() > 0)
        },
    )
    .await;
    // Asking a master for a failover is the server's rejection.
    let error = adapter
        .execute(
            &endpoints[3],
            &RedisCommand::ClusterFailover(FailoverMode::Force),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, RedisError::Rejected { .. }), "{error:?}");
}

#[tokio::test]
async fn cluster_forget_removes_a_node_from_the_asking_nodes_view() {
    let servers = cluster_servers("forget", 2, &ServerOptions::plain());
    let adapter = adapter_for(&servers[0]);
    let (first, second) = (servers[0].endpoint(), servers[1].endpoint());
    let second_id = node_id(&adapter, &second).await;
    run(
        &adapter,
        &first,
        RedisCommand::ClusterMeet {
            host: "127.0.0.1".to_owned(),
            port: servers[1].port,
            bus_port: servers[1].port + 10_000,
        },
    )
    .await;
    eventually(
        "the nodes know each other",
        Duration::from_secs(20),
        || async {
            parse_cluster_nodes(&text(&adapter, &first, RedisCommand::ClusterNodes).await)
                .unwrap()
                .iter()
                .any(|node| node.id == second_id && !node.flags.handshake)
        },
    )
    .await;

    assert_eq!(
        run(
            &adapter,
            &first,
            RedisCommand::ClusterForget(second_id.clone())
        )
        .await,
        ok()
    );
    let nodes =
        parse_cluster_nodes(&text(&adapter, &first, RedisCommand::ClusterNodes).await).unwrap();
    assert!(nodes.iter().all(|node| node.id != second_id));
    let error = adapter
        .execute(&first, &RedisCommand::ClusterForget("0".repeat(40)))
        .await
        .unwrap_err();
    let RedisError::Rejected { message, .. } = error else {
        panic!("expected a rejection");
    };
    assert!(message.contains("Unknown node"), "{message}");
}

#[tokio::test]
async fn sentinel_commands_monitor_configure_and_fail_over_a_set() {
    let master = RedisProcess::start("sentinel-master", ServerOptions::password(PASSWORD));
    let replica = RedisProcess::start("sentinel-replica", ServerOptions::password(PASSWORD));
    let sentinel = RedisProcess::start("sentinel", ServerOptions::password(PASSWORD).sentinel());
    let store = SecretStore::for_process(&master);
    let adapter = RedisAdapter::new(store);
    let replica_endpoint = replica.endpoint();
    run(
        &adapter,
        &replica_endpoint,
        RedisCommand::ReplicaOf {
            host: "127.0.0.1".to_owned(),
            port: master.port,
        },
    )
    .await;
    eventually(
        "the replica's link is up",
        Duration::from_secs(15),
        || async { role(&adapter, &replica_endpoint).await == (ReplicationRole::Replica, true) },
    )
    .await;
    // auth-pass is read from the Secret that holds the replication set's password
    // (`redisReplicationPassword`), not from the sentinel's own.
    let replication_password = master.endpoint().password.unwrap();
    let group = "shop".to_owned();

    assert_eq!(
        run(
            &adapter,
            &sentinel.endpoint(),
            RedisCommand::SentinelMasters
        )
        .await,
        RedisReply::Array(Vec::new())
    );
    assert_eq!(
        run(
            &adapter,
            &sentinel.endpoint(),
            RedisCommand::SentinelMasterAddress(group.clone()),
        )
        .await,
        RedisReply::Nil
    );
    assert_eq!(
        run(
            &adapter,
            &sentinel.endpoint(),
            RedisCommand::SentinelMonitor {
                group: group.clone(),
                host: "127.0.0.1".to_owned(),
                port: master.port,
                quorum: 1,
            },
        )
        .await,
        ok()
    );
    for (option, value) in [
        ("down-after-milliseconds", "1000"),
        ("failover-timeout", "5000"),
    ] {
        assert_eq!(
            run(
                &adapter,
                &sentinel.endpoint(),
                RedisCommand::SentinelSet {
                    group: group.clone(),
                    option: option.to_owned(),
                    value: value.to_owned(),
                },
            )
            .await,
            ok()
        );
    }
    // A Secret that does not exist cannot give auth-pass, and the error names it.
    let missing = adapter
        .execute(
            &sentinel.endpoint(),
            &RedisCommand::SentinelSetAuthPass {
                group: group.clone(),
                password: SecretKey {
                    name: "no-such-secret".to_owned(),
                    key: "password".to_owned(),
                },
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, RedisError::Authentication { message, .. } if message.contains("no-such-secret")),
        "{missing:?}"
    );
    assert_eq!(
        run(
            &adapter,
            &sentinel.endpoint(),
            RedisCommand::SentinelSetAuthPass {
                group: group.clone(),
                password: replication_password,
            },
        )
        .await,
        ok()
    );
    let masters = parse_sentinel_masters(
        &run(
            &adapter,
            &sentinel.endpoint(),
            RedisCommand::SentinelMasters,
        )
        .await,
    )
    .unwrap();
    assert_eq!(masters.len(), 1);
    assert_eq!(masters[0].name, group);
    assert_eq!(masters[0].port, master.port);
    assert_eq!(masters[0].quorum, 1);
    assert_eq!(masters[0].down_after_milliseconds, 1000);
    assert_eq!(masters[0].failover_timeout, 5000);
    assert_eq!(
        parse_master_address(
            &run(
                &adapter,
                &sentinel.endpoint(),
                RedisCommand::SentinelMasterAddress(group.clone()),
            )
            .await,
        )
        .unwrap(),
        Some(("127.0.0.1".to_owned(), master.port))
    );
    eventually(
        "the sentinel sees the replica",
        Duration::from_secs(20),
        || async {
            let peers = parse_sentinel_peers(
                &run(
                    &adapter,
                    &sentinel.endpoint(),
                    RedisCommand::SentinelReplicas(group.clone()),
                )
                .await,
            )
            .unwrap();
            peers
                .iter()
                .any(|peer| peer.port == replica.port && peer.master_link_up == Some(true))
        },
    )
    .await;
    assert_eq!(
        parse_sentinel_peers(
            &run(
                &adapter,
                &sentinel.endpoint(),
                RedisCommand::SentinelSentinels(group.clone()),
            )
            .await,
        )
        .unwrap(),
        Vec::new()
    );

    assert_eq!(
        run(
            &adapter,
            &sentinel.endpoint(),
            RedisCommand::SentinelFailover(group.clone()),
        )
        .await,
        ok()
    );
    eventually(
        "the sentinel reports the replica as master",
        Duration::from_secs(30),
        || async {
            parse_master_address(
                &run(
                    &adapter,
                    &sentinel.endpoint(),
                    RedisCommand::SentinelMasterAddress(group.clone()),
                )
                .await,
            )
            .unwrap()
                == Some(("127.0.0.1".to_owned(), replica.port))
        },
    )
    .await;
    // The sentinels close client connections of the servers they reconfigure: the adapter's
    // connection to the replica may be cut once, and the next command reconnects.
    eventually("the replica is master", Duration::from_secs(15), || async {
        match adapter
            .execute(&replica_endpoint, &RedisCommand::InfoReplication)
            .await
        {
            Ok(reply) => {
                parse_info_replication(reply.as_text().unwrap())
                    .unwrap()
                    .role
                    == ReplicationRole::Master
            }
            Err(RedisError::Unreachable { .. }) => false,
            Err(error) => panic!("unexpected error {error}"),
        }
    })
    .await;

    let RedisReply::Integer(reset) = run(
        &adapter,
        &sentinel.endpoint(),
        RedisCommand::SentinelReset(group.clone()),
    )
    .await
    else {
        panic!("SENTINEL RESET does not reply with an integer");
    };
    assert_eq!(reset, 1);
    assert_eq!(
        run(
            &adapter,
            &sentinel.endpoint(),
            RedisCommand::SentinelRemove(group.clone()),
        )
        .await,
        ok()
    );
    assert_eq!(
        run(
            &adapter,
            &sentinel.endpoint(),
            RedisCommand::SentinelMasters
        )
        .await,
        RedisReply::Array(Vec::new())
    );
}

#[tokio::test]
async fn a_password_server_accepts_its_secret_and_refuses_anything_else() {
    let server = RedisProcess::start("password", ServerOptions::password(PASSWORD));
    let store = SecretStore::for_process(&server);
    let adapter = RedisAdapter::new(store.clone());
    let endpoint = server.endpoint();
    assert_eq!(
        run(&adapter, &endpoint, RedisCommand::Ping).await,
        RedisReply::Status("PONG".to_owned())
    );

    // No password at all: the server asks for one.
    let anonymous = RedisEndpoint {
        password: None,
        ..endpoint.clone()
    };
    let error = adapter
        .execute(&anonymous, &RedisCommand::Ping)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RedisError::Authentication { .. }),
        "{error:?}"
    );

    // A wrong password in another Secret.
    store.put(secret(
        "wrong",
        &[(PASSWORD_KEY, b"not-the-password".to_vec())],
    ));
    let wrong = RedisEndpoint {
        password: Some(SecretKey {
            name: "wrong".to_owned(),
            key: PASSWORD_KEY.to_owned(),
        }),
        ..endpoint.clone()
    };
    let error = adapter
        .execute(&wrong, &RedisCommand::Ping)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RedisError::Authentication { .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains("not-the-password"), "{error}");

    // A Secret that does not exist, or lacks the key, is named in the error.
    let absent = RedisEndpoint {
        password: Some(SecretKey {
            name: "absent".to_owned(),
            key: PASSWORD_KEY.to_owned(),
        }),
        ..endpoint.clone()
    };
    let error = adapter
        .execute(&absent, &RedisCommand::Ping)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RedisError::Authentication { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&format!("{NAMESPACE}/absent")),
        "{error}"
    );
    let wrong_key = RedisEndpoint {
        password: Some(SecretKey {
            name: PASSWORD_SECRET.to_owned(),
            key: "nope".to_owned(),
        }),
        ..endpoint.clone()
    };
    let error = adapter
        .execute(&wrong_key, &RedisCommand::Ping)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("nope"), "{error}");
    assert!(!error.to_string().contains(PASSWORD), "{error}");
}

#[tokio::test]
async fn an_acl_user_authenticates_with_its_own_name() {
    let server = RedisProcess::start("acl", ServerOptions::acl(PASSWORD));
    let adapter = adapter_for(&server);
    let endpoint = server.endpoint();
    assert_eq!(
        endpoint.user.as_deref(),
        Some(support::real_redis::ACL_USER)
    );
    assert_eq!(
        run(&adapter, &endpoint, RedisCommand::Ping).await,
        RedisReply::Status("PONG".to_owned())
    );
    assert!(server.cli(&["ACL", "WHOAMI"]).contains("operator"));
    // The default user is off: the same password without the user name is refused.
    let default_user = RedisEndpoint {
        user: None,
        ..endpoint.clone()
    };
    let error = adapter
        .execute(&default_user, &RedisCommand::Ping)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RedisError::Authentication { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn migrate_authenticates_as_the_acl_user() {
    let source = RedisProcess::start("acl-source", ServerOptions::acl(PASSWORD));
    let target = RedisProcess::start("acl-target", ServerOptions::acl(PASSWORD));
    let adapter = adapter_for(&source);
    source.cli_batch("SET moved yes\n");
    assert_eq!(
        run(
            &adapter,
            &source.endpoint(),
            RedisCommand::Migrate {
                host: "127.0.0.1".to_owned(),
                port: target.port,
                keys: vec![b"moved".to_vec()],
                timeout_milliseconds: 2000,
                replace: true,
            },
        )
        .await,
        ok()
    );
    assert_eq!(target.cli(&["GET", "moved"]).trim(), "yes");
}

#[tokio::test]
async fn tls_servers_are_reached_with_the_certificates_of_the_tls_secret() {
    let certificates = Certificates::generate();
    let server = RedisProcess::start("tls", ServerOptions::tls(&certificates));
    let store = SecretStore::for_process(&server);
    let adapter = RedisAdapter::new(store.clone());
    let endpoint = server.endpoint();
    assert_eq!(
        run(&adapter, &endpoint, RedisCommand::Ping).await,
        RedisReply::Status("PONG".to_owned())
    );
    let info =
        parse_info_replication(&text(&adapter, &endpoint, RedisCommand::InfoReplication).await)
            .unwrap();
    assert_eq!(info.role, ReplicationRole::Master);

    // Plain TCP to a TLS port gets no Redis answer.
    let plain = RedisEndpoint {
        tls: None,
        ..endpoint.clone()
    };
    assert!(adapter.execute(&plain, &RedisCommand::Ping).await.is_err());

    // A server certificate from another CA is not trusted.
    let strangers = Certificates::generate();
    store.put(strangers.secret("stranger-tls"));
    let mut untrusted = endpoint.clone();
    untrusted.tls.as_mut().unwrap().name = "stranger-tls".to_owned();
    let error = adapter
        .execute(&untrusted, &RedisCommand::Ping)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            RedisError::Authentication { .. } | RedisError::Unreachable { .. }
        ),
        "{error:?}"
    );

    // A missing TLS Secret is an authentication error naming it.
    let mut absent = endpoint.clone();
    absent.tls.as_mut().unwrap().name = "absent-tls".to_owned();
    let error = adapter
        .execute(&absent, &RedisCommand::Ping)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RedisError::Authentication { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("absent-tls"), "{error}");
}

#[tokio::test]
async fn tls_with_a_password_replicates_between_servers() {
    let certificates = Certificates::generate();
    let options = ServerOptions {
        password: Some(PASSWORD.to_owned()),
        ..ServerOptions::tls(&certificates)
    };
    let master = RedisProcess::start("tls-master", options.clone());
    let replica = RedisProcess::start("tls-replica", options);
    let adapter = adapter_for(&master);
    let replica_endpoint = replica.endpoint();
    run(
        &adapter,
        &replica_endpoint,
        RedisCommand::ReplicaOf {
            host: "127.0.0.1".to_owned(),
            port: master.port,
        },
    )
    .await;
    eventually(
        "the replica's link is up",
        Duration::from_secs(15),
        || async { role(&adapter, &replica_endpoint).await == (ReplicationRole::Replica, true) },
    )
    .await;
}

#[tokio::test]
async fn one_connection_serves_many_commands_and_secrets_are_read_once() {
    let server = RedisProcess::start("reuse", ServerOptions::password(PASSWORD));
    let store = SecretStore::for_process(&server);
    let adapter = RedisAdapter::new(store.clone());
    let endpoint = server.endpoint();
    let connections_received = || -> u64 {
        server
            .info_field("stats", "total_connections_received")
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = connections_received();
    for _ in 0..50 {
        run(&adapter, &endpoint, RedisCommand::Ping).await;
        run(&adapter, &endpoint, RedisCommand::InfoReplication).await;
    }
    assert_eq!(adapter.connection_count(), 1);
    // The adapter's connection and redis-cli's own.
    assert_eq!(
        server.info_field("clients", "connected_clients").as_deref(),
        Some("2")
    );
    assert_eq!(store.reads.load(Ordering::SeqCst), 1);
    // Since `before`: the adapter's one connection and two redis-cli runs (the one above and the
    // one that reads the counter).
    assert_eq!(connections_received() - before, 3);

    adapter.retain(&[]);
    assert_eq!(adapter.connection_count(), 0);
    run(&adapter, &endpoint, RedisCommand::Ping).await;
    adapter.forget(&endpoint);
    assert_eq!(adapter.connection_count(), 0);
}

#[tokio::test]
async fn a_restarted_server_is_reached_again() {
    let mut server = RedisProcess::start("restart", ServerOptions::plain());
    let adapter = adapter_for(&server);
    let endpoint = server.endpoint();
    run(&adapter, &endpoint, RedisCommand::Ping).await;

    server.kill();
    let error = adapter
        .execute(&endpoint, &RedisCommand::Ping)
        .await
        .unwrap_err();
    assert!(matches!(error, RedisError::Unreachable { .. }), "{error:?}");
    assert_eq!(adapter.connection_count(), 0);
    let error = adapter
        .execute(&endpoint, &RedisCommand::Ping)
        .await
        .unwrap_err();
    assert!(matches!(error, RedisError::Unreachable { .. }), "{error:?}");

    server.restart();
    assert_eq!(
        run(&adapter, &endpoint, RedisCommand::Ping).await,
        RedisReply::Status("PONG".to_owned())
    );
    assert_eq!(adapter.connection_count(), 1);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // A listener that accepts connections and never replies.
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let adapter = RedisAdapter::new(SecretStore::new());
    let endpoint = RedisEndpoint {
        namespace: NAMESPACE.to_owned(),
        pod: "silent".to_owned(),
        host: "127.0.0.1".to_owned(),
        port,
        password: None,
        user: None,
        tls: None,
    };
    let error = adapter
        .execute(&endpoint, &RedisCommand::Ping)
        .await
        .unwrap_err();
    assert!(matches!(error, RedisError::Unreachable { .. }), "{error:?}");
    assert!(error.to_string().contains("timed out"), "{error}");
    assert_eq!(adapter.connection_count(), 0);
    drop(listener);
}
