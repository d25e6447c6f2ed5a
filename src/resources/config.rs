//! The rendered configuration of a group: server.conf (redis.conf or sentinel.conf), the start
//! script that completes it at container start, and the probe script, kept in one ConfigMap.
//!
//! The password is never rendered here: the start script reads it from an environment variable
//! that references the Secret and writes it into a memory-backed runtime file, so it appears in no
//! ConfigMap, no pod spec and no command line.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::group::{PodGroup, ServerMode};
use super::names::{
    ACL_FILE_KEY, ACL_MOUNT_PATH, CLUSTER_BUS_PORT_OFFSET, CONFIG_MAP_SUFFIX, CONFIG_MOUNT_PATH,
    DATA_MOUNT_PATH, EXTERNAL_CONFIG_MOUNT_PATH, EXTERNAL_REDIS_CONFIG_KEY,
    EXTERNAL_SENTINEL_CONFIG_KEY, NODE_CONF_MOUNT_PATH, PASSWORD_ENV, POD_IP_ENV, PROBE_SCRIPT_KEY,
    RUNTIME_MOUNT_PATH, SERVER_CONFIG_KEY, START_SCRIPT_KEY, TLS_CA_KEY, TLS_CERTIFICATE_KEY,
    TLS_MOUNT_PATH, TLS_PRIVATE_KEY_KEY,
};
use crate::ports::redis::TlsSecret;

/// Milliseconds without an answer before cluster nodes deem a peer failed.
pub const CLUSTER_NODE_TIMEOUT_MILLISECONDS: u32 = 5000;

/// Name of the group's rendered-configuration ConfigMap.
pub fn config_map_name(statefulset_name: &str) -> String {
    format!("{statefulset_name}{CONFIG_MAP_SUFFIX}")
}

/// Paths of the TLS files inside the pod: (CA, certificate, key).
pub fn tls_paths(group: &PodGroup<'_>) -> Option<(String, String, String)> {
    let tls = group.tls?;
    let file = |key: &Option<String>, default: &str| {
        format!("{TLS_MOUNT_PATH}/{}", key.as_deref().unwrap_or(default))
    };
    Some((
        file(&tls.ca, TLS_CA_KEY),
        file(&tls.cert, TLS_CERTIFICATE_KEY),
        file(&tls.key, TLS_PRIVATE_KEY_KEY),
    ))
}

/// The Secret and keys a client reads to speak TLS to the group's servers.
pub fn tls_secret(group: &PodGroup<'_>) -> Option<TlsSecret> {
    let tls = group.tls?;
    let key = |key: &Option<String>, default: &str| key.as_deref().unwrap_or(default).to_owned();
    Some(TlsSecret {
        name: tls.secret.secret_name.clone().unwrap_or_default(),
        ca_key: key(&tls.ca, TLS_CA_KEY),
        certificate_key: key(&tls.cert, TLS_CERTIFICATE_KEY),
        private_key_key: key(&tls.key, TLS_PRIVATE_KEY_KEY),
    })
}

/// The server configuration (without the password, the pod IP or the user's include).
pub fn server_config(group: &PodGroup<'_>) -> String {
    let mut config = String::new();
    let mut line = |text: &str| {
        config.push_str(text);
        config.push('\n');
    };
    line(&format!(
        "# Rendered by redis-operator for {} {}; changes here are overwritten.",
        group.owner.kind, group.owner.name
    ));
    let port = group.port;
    match tls_paths(group) {
        Some((ca, cert, key)) => {
            line("port 0");
            line(&format!("tls-port {port}"));
            line(&format!("tls-cert-file {cert}"));
            line(&format!("tls-key-file {key}"));
            line(&format!("tls-ca-cert-file {ca}"));
            line("tls-auth-clients optional");
            if group.mode != ServerMode::Sentinel {
                line("tls-replication yes");
            }
            if group.is_cluster() {
                line("tls-cluster yes");
            }
        }
        None => line(&format!("port {port}")),
    }
    line("bind 0.0.0.0");
    line("protected-mode no");
    if group.acl.is_some() {
        line(&format!("aclfile {ACL_MOUNT_PATH}/{ACL_FILE_KEY}"));
    }
    if group.mode == ServerMode::Sentinel {
        line(&format!("dir {RUNTIME_MOUNT_PATH}"));
        // The operator tells the sentinels what to monitor at runtime (SENTINEL MONITOR), so
        // nothing about the master is baked in and a failover never needs a restart.
        line("sentinel resolve-hostnames no");
        return config;
    }
    line(&format!("dir {DATA_MOUNT_PATH}"));
    line("tcp-keepalive 300");
    if group.persistence {
        line("appendonly yes");
        line("appendfilename \"appendonly.aof\"");
        line("save 900 1");
        line("save 300 10");
        line("save 60 10000");
    } else {
        line("appendonly no");
        line("save \"\"");
    }
    if group.is_cluster() {
        let nodes_conf_directory = if group.node_conf_claim.is_some() {
            NODE_CONF_MOUNT_PATH
        } else {
            DATA_MOUNT_PATH
        };
        line("cluster-enabled yes");
        line(&format!(
            "cluster-config-file {nodes_conf_directory}/nodes.conf"
        ));
        line(&format!(
            "cluster-node-timeout {CLUSTER_NODE_TIMEOUT_MILLISECONDS}"
        ));
        line("cluster-require-full-coverage no");
        line("cluster-migration-barrier 1");
        // Before Redis 7 the bus port is always the client port plus 10000 and not settable.
        if matches!(group.mode, ServerMode::Cluster { major_version } if major_version >= 7) {
            line(&format!("cluster-port {}", port + CLUSTER_BUS_PORT_OFFSET));
        }
    }
    config
}

/// The start script: completes the runtime configuration, then execs the server.
pub fn start_script(group: &PodGroup<'_>) -> String {
    let sentinel = group.mode == ServerMode::Sentinel;
    let mut script = String::from(
        "#!/bin/sh\n\
         # Rendered by redis-operator: completes the runtime configuration and starts the server.\n\
         set -eu\n",
    );
    let _ = writeln!(script, "config={RUNTIME_MOUNT_PATH}/{SERVER_CONFIG_KEY}");
    if sentinel {
        // A sentinel rewrites its own file with what it learnt; keep it across container restarts.
        let _ = writeln!(
            script,
            "if [ ! -f \"$config\" ]; then\n  cp {CONFIG_MOUNT_PATH}/{SERVER_CONFIG_KEY} \"$config\""
        );
    } else {
        let _ = writeln!(
            script,
            "cp {CONFIG_MOUNT_PATH}/{SERVER_CONFIG_KEY} \"$config\""
        );
    }
    let _ = writeln!(
        script,
        "quote() {{ printf '\"%s\"' \"$(printf '%s' \"$1\" | sed -e 's/\\\\/\\\\\\\\/g' -e 's/\"/\\\\\"/g')\"; }}"
    );
    let _ = writeln!(script, "if [ -n \"${{{PASSWORD_ENV}:-}}\" ]; then");
    let _ = writeln!(
        script,
        "  printf 'requirepass %s\\n' \"$(quote \"${PASSWORD_ENV}\")\" >> \"$config\""
    );
    if !sentinel {
        let _ = writeln!(
            script,
            "  printf 'masterauth %s\\n' \"$(quote \"${PASSWORD_ENV}\")\" >> \"$config\""
        );
    }
    let _ = writeln!(script, "fi");
    match group.mode {
        ServerMode::Cluster { major_version } => {
            let _ = writeln!(
                script,
                "printf 'cluster-announce-ip %s\\n' \"${POD_IP_ENV}\" >> \"$config\""
            );
            if major_version >= 7 {
                let _ = writeln!(
                    script,
                    "printf 'cluster-announce-hostname %s\\n' \"$(hostname)\" >> \"$config\""
                );
            }
        }
        ServerMode::Replication => {
            let _ = writeln!(
                script,
                "printf 'replica-announce-ip %s\\n' \"${POD_IP_ENV}\" >> \"$config\""
            );
        }
        ServerMode::Sentinel => {
            let _ = writeln!(
                script,
                "  printf 'sentinel announce-ip %s\\n' \"${POD_IP_ENV}\" >> \"$config\""
            );
        }
        ServerMode::Standalone => {}
    }
    let external_key = if sentinel {
        EXTERNAL_SENTINEL_CONFIG_KEY
    } else {
        EXTERNAL_REDIS_CONFIG_KEY
    };
    let indent = if sentinel { "  " } else { "" };
    let _ = writeln!(
        script,
        "{indent}if [ -f {EXTERNAL_CONFIG_MOUNT_PATH}/{external_key} ]; then\n\
         {indent}  printf 'include %s\\n' {EXTERNAL_CONFIG_MOUNT_PATH}/{external_key} >> \"$config\"\n\
         {indent}fi"
    );
    if sentinel {
        let _ = writeln!(script, "fi\nexec redis-server \"$config\" --sentinel");
    } else {
        let _ = writeln!(script, "exec redis-server \"$config\"");
    }
    script
}

/// The probe script: PING over the same port, password and TLS as clients use. `liveness` also
/// accepts LOADING, so a large dataset being loaded is not killed.
pub fn probe_script(group: &PodGroup<'_>) -> String {
    let mut command = format!("redis-cli -h 127.0.0.1 -p {}", group.port);
    if let Some((ca, cert, key)) = tls_paths(group) {
        let _ = write!(command, " --tls --cacert {ca} --cert {cert} --key {key}");
    }
    format!(
        "#!/bin/sh\n\
         # Rendered by redis-operator: PING the local server.\n\
         if [ -n \"${{{PASSWORD_ENV}:-}}\" ]; then export REDISCLI_AUTH=\"${PASSWORD_ENV}\"; fi\n\
         reply=$({command} ping 2>&1) || true\n\
         case \"$reply\" in\n\
         \x20 PONG) exit 0 ;;\n\
         \x20 LOADING*) if [ \"${{1:-}}\" = liveness ]; then exit 0; fi ;;\n\
         esac\n\
         echo \"$reply\"\n\
         exit 1\n"
    )
}

/// The rendered files of the group, by ConfigMap key.
pub fn config_files(group: &PodGroup<'_>) -> BTreeMap<String, String> {
    BTreeMap::from([
        (SERVER_CONFIG_KEY.to_owned(), server_config(group)),
        (START_SCRIPT_KEY.to_owned(), start_script(group)),
        (PROBE_SCRIPT_KEY.to_owned(), probe_script(group)),
    ])
}

/// The ConfigMap holding the rendered files.
pub fn build_config_map(group: &PodGroup<'_>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(config_map_name(&group.statefulset_name)),
            namespace: Some(group.owner.namespace.clone()),
            labels: Some(group.labels()),
            annotations: Some(group.annotations()),
            owner_references: Some(vec![group.owner.reference()]),
            ..ObjectMeta::default()
        },
        data: Some(config_files(group)),
        ..ConfigMap::default()
    }
}

/// A stable 64-bit FNV-1a hash in hex: the same input gives the same text on every machine and
/// every Rust version, so it can be stored in annotations and statuses.
pub fn content_hash(text: &str) -> String {
    let mut hasher = ContentHasher::default();
    hasher.add(text.as_bytes());
    hasher.finish()
}

/// [`content_hash`] fed in pieces: writing text to it in any split gives the hash of the whole,
/// so a serializer can write into it without building the text.
#[derive(Clone, Copy, Debug)]
pub struct ContentHasher(u64);

impl Default for ContentHasher {
    fn default() -> Self {
        ContentHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl ContentHasher {
    /// Adds `bytes` to what has been hashed.
    pub fn add(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// The hash in hex, as [`content_hash`] renders it.
    pub fn finish(&self) -> String {
        format!("{:016x}", self.0)
    }
}

impl std::io::Write for ContentHasher {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.add(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Hash of everything that requires a restart when it changes: the rendered files and the
/// password reference (a new Secret must reach the servers).
pub fn restart_hash(group: &PodGroup<'_>) -> String {
    let mut material = String::new();
    for (key, value) in config_files(group) {
        let _ = write!(material, "{key}\0{value}\0");
    }
    if let Some(secret) = &group.password {
        let _ = write!(material, "password\0{}\0{}", secret.name, secret.key);
    }
    content_hash(&material)
}
