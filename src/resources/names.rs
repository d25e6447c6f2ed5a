//! Every Kubernetes name, label key, port name, container and volume name, path and annotation that
//! the operator writes, defined once. Object names follow the v1beta2 reference layout so that
//! existing Services, PersistentVolumeClaims, dashboards and alerts keep working after a switch.

/// The field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "redis-operator";

/// Label: the application instance (`<cr>`, `<cr>-sentinel` or `<cr>-<role>`).
pub const APP_LABEL: &str = "app";
/// Label: standalone, replication, sentinel or cluster.
pub const SETUP_TYPE_LABEL: &str = "redis_setup_type";
/// Value of [`SETUP_TYPE_LABEL`] (and of [`ROLE_LABEL`]) on a standalone `Redis`.
pub const STANDALONE_SETUP_TYPE: &str = "standalone";
/// Label: standalone, replication, sentinel, leader or follower.
pub const ROLE_LABEL: &str = "role";
/// Label on replication pods: the Redis role the operator last observed (`master` or `slave`).
pub const REDIS_ROLE_LABEL: &str = "redis-role";
/// Value of [`REDIS_ROLE_LABEL`] on the master.
pub const REDIS_ROLE_MASTER: &str = "master";
/// Value of [`REDIS_ROLE_LABEL`] on replicas.
pub const REDIS_ROLE_REPLICA: &str = "slave";
/// Recommended label: the application name.
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
/// Recommended label: the CR name.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// Recommended label: the role of the pods.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// Recommended label: who manages the object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`NAME_LABEL`].
pub const NAME_LABEL_VALUE: &str = "redis";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_LABEL_VALUE: &str = "redis-operator";
/// Label on every object of a RedisCluster, leaders' and followers' alike: the CR name, as the
/// reference operator labels a cluster's pods so that one selector finds them all.
pub const CLUSTER_LABEL: &str = "cluster";
/// Label the StatefulSet controller puts on each pod: its own name.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";

/// Annotation on pods: hash of the rendered configuration, so a change rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "redis.opstreelabs.in/config-hash";
/// Annotation every owned object carries, as the reference operator marks its objects.
pub const MANAGED_ANNOTATION: &str = "redis.opstreelabs.in";
/// Annotation naming the CR an object belongs to: the CR's name on every object, as the reference
/// operator writes it (not the StatefulSet's, which differs for sentinels and cluster roles).
pub const INSTANCE_ANNOTATION: &str = "redis.opstreelabs.instance";
/// Prometheus scrape annotation on the main Service.
pub const PROMETHEUS_SCRAPE_ANNOTATION: &str = "prometheus.io/scrape";
/// Prometheus port annotation on the main Service.
pub const PROMETHEUS_PORT_ANNOTATION: &str = "prometheus.io/port";
/// Annotations never copied from a CR to the objects it owns.
pub const NEVER_COPIED_ANNOTATIONS: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "banzaicloud.com/last-applied",
];

/// Finalizer of `Redis` objects (the name the v1beta2 API has always used).
pub const REDIS_FINALIZER: &str = "redisFinalizer";
/// Finalizer of `RedisReplication` objects.
pub const REPLICATION_FINALIZER: &str = "redisReplicationFinalizer";
/// Finalizer of `RedisSentinel` objects.
pub const SENTINEL_FINALIZER: &str = "redisSentinelFinalizer";
/// Finalizer of `RedisCluster` objects.
pub const CLUSTER_FINALIZER: &str = "redisClusterFinalizer";

/// Container name of the Redis server.
pub const REDIS_CONTAINER_NAME: &str = "redis";
/// Container name of the sentinel.
pub const SENTINEL_CONTAINER_NAME: &str = "sentinel";
/// Container name of the Prometheus exporter sidecar.
pub const EXPORTER_CONTAINER_NAME: &str = "redis-exporter";
/// Prefix of the init container's name; the StatefulSet name follows it.
pub const INIT_CONTAINER_PREFIX: &str = "init";
/// Container names a user sidecar may not take.
pub const RESERVED_CONTAINER_NAMES: [&str; 3] = [
    REDIS_CONTAINER_NAME,
    SENTINEL_CONTAINER_NAME,
    EXPORTER_CONTAINER_NAME,
];

/// Port name of Redis on containers and Services.
pub const REDIS_PORT_NAME: &str = "redis-client";
/// Port name of the sentinel.
pub const SENTINEL_PORT_NAME: &str = "sentinel-client";
/// Port name of the Redis Cluster bus.
pub const CLUSTER_BUS_PORT_NAME: &str = "redis-bus";
/// Port name of the exporter, on its container and on the main Service.
pub const EXPORTER_PORT_NAME: &str = "redis-exporter";
/// The cluster bus listens on the client port plus this.
pub const CLUSTER_BUS_PORT_OFFSET: i32 = 10000;

/// Volume and mount of the operator-rendered configuration (a ConfigMap).
pub const CONFIG_VOLUME: &str = "redis-operator-config";
/// Where the rendered configuration and scripts are mounted.
pub const CONFIG_MOUNT_PATH: &str = "/etc/redis-operator";
/// Memory-backed volume for the runtime configuration (it holds the password, so never a
/// ConfigMap and never on disk).
pub const RUNTIME_VOLUME: &str = "redis-runtime";
/// Where the runtime configuration is written at container start.
pub const RUNTIME_MOUNT_PATH: &str = "/run/redis-operator";
/// Data volume mount path.
pub const DATA_MOUNT_PATH: &str = "/data";
/// Volume name of the data volume when no claim template is given.
pub const DATA_VOLUME: &str = "data";
/// Claim template (and volume) name of the cluster's nodes.conf volume.
pub const NODE_CONF_VOLUME: &str = "node-conf";
/// Where nodes.conf lives when it has its own volume.
pub const NODE_CONF_MOUNT_PATH: &str = "/node-conf";
/// Volume of the TLS Secret.
pub const TLS_VOLUME: &str = "tls-certs";
/// Where the TLS Secret is mounted.
pub const TLS_MOUNT_PATH: &str = "/tls";
/// Default key of the CA certificate in the TLS Secret.
pub const TLS_CA_KEY: &str = "ca.crt";
/// Default key of the certificate in the TLS Secret.
pub const TLS_CERTIFICATE_KEY: &str = "tls.crt";
/// Default key of the private key in the TLS Secret.
pub const TLS_PRIVATE_KEY_KEY: &str = "tls.key";
/// Volume of the ACL Secret.
pub const ACL_VOLUME: &str = "acl-secret";
/// Where the ACL Secret is mounted.
pub const ACL_MOUNT_PATH: &str = "/etc/redis/acl";
/// Key of the ACL file in the ACL Secret.
pub const ACL_FILE_KEY: &str = "user.acl";
/// Volume of the user's additional configuration ConfigMap.
pub const EXTERNAL_CONFIG_VOLUME: &str = "external-config";
/// Where the user's additional configuration ConfigMap is mounted.
pub const EXTERNAL_CONFIG_MOUNT_PATH: &str = "/etc/redis/external.conf.d";
/// Key of the user's additional Redis configuration in its ConfigMap.
pub const EXTERNAL_REDIS_CONFIG_KEY: &str = "redis-additional.conf";
/// Key of the user's additional sentinel configuration in its ConfigMap.
pub const EXTERNAL_SENTINEL_CONFIG_KEY: &str = "redis-sentinel-additional.conf";

/// Key of redis.conf (or sentinel.conf) in the rendered ConfigMap.
pub const SERVER_CONFIG_KEY: &str = "server.conf";
/// Key of the start script in the rendered ConfigMap.
pub const START_SCRIPT_KEY: &str = "start.sh";
/// Key of the probe script in the rendered ConfigMap.
pub const PROBE_SCRIPT_KEY: &str = "probe.sh";

/// Environment variable holding the password (a reference to the Secret).
pub const PASSWORD_ENV: &str = "REDIS_PASSWORD";
/// Environment variable holding the pod IP.
pub const POD_IP_ENV: &str = "POD_IP";
/// Environment variable holding the exporter's Redis address.
pub const EXPORTER_ADDRESS_ENV: &str = "REDIS_ADDR";
/// Environment variable holding the exporter's listen address.
pub const EXPORTER_LISTEN_ENV: &str = "REDIS_EXPORTER_WEB_LISTEN_ADDRESS";

/// Suffix of the headless Service.
pub const HEADLESS_SUFFIX: &str = "-headless";
/// Suffix of the additional (externally typed) Service.
pub const ADDITIONAL_SUFFIX: &str = "-additional";
/// Suffix of the replication master Service.
pub const MASTER_SUFFIX: &str = "-master";
/// Suffix of the replication replica Service.
pub const REPLICA_SUFFIX: &str = "-replica";
/// Suffix of a sentinel's StatefulSet, Services and PDB.
pub const SENTINEL_SUFFIX: &str = "-sentinel";
/// Suffix of the replication PodDisruptionBudget.
pub const REPLICATION_PDB_SUFFIX: &str = "-replication";
/// Suffix of the rendered configuration ConfigMap.
pub const CONFIG_MAP_SUFFIX: &str = "-redis-conf";
/// The cluster leader role.
pub const LEADER_ROLE: &str = "leader";
/// The cluster follower role.
pub const FOLLOWER_ROLE: &str = "follower";

/// The controller name Events are reported under (`reportingController`).
pub const EVENT_REPORTING_CONTROLLER: &str = "redis-operator";
/// The `action` of every Event the operator publishes: what it was doing to the object.
pub const EVENT_ACTION: &str = "Reconcile";
/// Name of the Lease the operator's replicas compete for.
pub const LEADER_LEASE_NAME: &str = "redis-operator-leader";
