//! The StatefulSet of a group: pod template (containers, probes, volumes, scheduling) and claim
//! templates. Claim templates are named as the v1beta2 reference names them, so existing data
//! volumes are adopted, never recreated, when a user switches operators.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    ExecAction, ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSpec,
    PodTemplateSpec, Probe, SecretKeySelector, SecretVolumeSource, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::config::{config_map_name, restart_hash, tls_paths};
use super::group::{PodGroup, ServerMode};
use super::names::{
    ACL_MOUNT_PATH, ACL_VOLUME, CLUSTER_BUS_PORT_NAME, CLUSTER_BUS_PORT_OFFSET,
    CONFIG_HASH_ANNOTATION, CONFIG_MOUNT_PATH, CONFIG_VOLUME, DATA_MOUNT_PATH, DATA_VOLUME,
    EXPORTER_ADDRESS_ENV, EXPORTER_CONTAINER_NAME, EXPORTER_LISTEN_ENV, EXPORTER_PORT_NAME,
    EXTERNAL_CONFIG_MOUNT_PATH, EXTERNAL_CONFIG_VOLUME, HEADLESS_SUFFIX, INIT_CONTAINER_PREFIX,
    NODE_CONF_MOUNT_PATH, NODE_CONF_VOLUME, PASSWORD_ENV, POD_IP_ENV, PROBE_SCRIPT_KEY,
    REDIS_CONTAINER_NAME, REDIS_PORT_NAME, RUNTIME_MOUNT_PATH, RUNTIME_VOLUME,
    SENTINEL_CONTAINER_NAME, SENTINEL_PORT_NAME, START_SCRIPT_KEY, TLS_MOUNT_PATH, TLS_VOLUME,
};

/// Size of the nodes.conf volume when the CR gives no template for it.
pub const DEFAULT_NODE_CONF_SIZE: &str = "1Mi";

/// Name of the data claim template (and so of the volume), as the reference names it.
pub fn data_claim_name(group: &PodGroup<'_>) -> String {
    group.statefulset_name.clone()
}

/// The StatefulSet of the group.
pub fn build_statefulset(group: &PodGroup<'_>) -> StatefulSet {
    let config = group.kubernetes_config;
    let mut template_annotations = group.annotations();
    template_annotations.insert(CONFIG_HASH_ANNOTATION.to_owned(), restart_hash(group));
    let mut template_labels = group.labels();
    template_labels.extend(group.selector_labels());
    StatefulSet {
        metadata: ObjectMeta {
            name: Some(group.statefulset_name.clone()),
            namespace: Some(group.owner.namespace.clone()),
            labels: Some(group.labels()),
            annotations: Some(group.annotations()),
            owner_references: Some(vec![group.owner.reference()]),
            ..ObjectMeta::default()
        },
        spec: Some(StatefulSetSpec {
            replicas: Some(group.replicas),
            selector: LabelSelector {
                match_labels: Some(group.selector_labels()),
                match_expressions: None,
            },
            service_name: Some(format!("{}{HEADLESS_SUFFIX}", group.statefulset_name)),
            // Pods start together: the operator, not the StatefulSet controller, decides who
            // is master, so waiting for each ordinal only slows creation and scaling.
            pod_management_policy: Some("Parallel".to_owned()),
            update_strategy: Some(update_strategy(group)),
            min_ready_seconds: config.min_ready_seconds,
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(template_labels),
                    annotations: Some(template_annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec(group)),
            },
            volume_claim_templates: claim_templates(group),
            ..StatefulSetSpec::default()
        }),
        status: None,
    }
}

fn update_strategy(group: &PodGroup<'_>) -> StatefulSetUpdateStrategy {
    if let Some(strategy) = &group.kubernetes_config.update_strategy {
        return strategy.clone();
    }
    let type_ = if group.operator_orchestrates_restarts {
        // The operator restarts replicas first and fails over before the master goes.
        "OnDelete"
    } else {
        "RollingUpdate"
    };
    StatefulSetUpdateStrategy {
        type_: Some(type_.to_owned()),
        rolling_update: None,
    }
}

fn pod_spec(group: &PodGroup<'_>) -> PodSpec {
    let mut containers = vec![main_container(group)];
    if let Some(exporter) = exporter_container(group) {
        containers.push(exporter);
    }
    containers.extend(group.sidecars.iter().map(|sidecar| Container {
        name: sidecar.name.clone(),
        image: Some(sidecar.image.clone()),
        image_pull_policy: sidecar.image_pull_policy.clone(),
        resources: sidecar.resources.clone(),
        env: sidecar.env.clone(),
        volume_mounts: sidecar.mount_path.clone(),
        command: sidecar.command.clone(),
        ports: sidecar.ports.clone(),
        security_context: sidecar.security_context.clone(),
        ..Container::default()
    }));
    let init_containers = group.init_container.map(|init| {
        let mut mounts = vec![mount(data_volume_name(group), DATA_MOUNT_PATH, false)];
        mounts.extend(user_mounts(group));
        vec![Container {
            name: format!("{INIT_CONTAINER_PREFIX}{}", group.statefulset_name),
            image: Some(init.image.clone()),
            image_pull_policy: init.image_pull_policy.clone(),
            resources: init.resources.clone(),
            env: init.env.clone(),
            command: init.command.clone(),
            args: init.args.clone(),
            security_context: init.security_context.clone(),
            volume_mounts: Some(mounts),
            ..Container::default()
        }]
    });
    PodSpec {
        containers,
        init_containers,
        volumes: Some(volumes(group)),
        affinity: group.affinity.cloned(),
        tolerations: group.tolerations.map(<[_]>::to_vec),
        node_selector: group.node_selector.cloned(),
        topology_spread_constraints: group.topology_spread_constraints.map(<[_]>::to_vec),
        security_context: group.pod_security_context.cloned(),
        priority_class_name: group.priority_class_name.map(str::to_owned),
        service_account_name: group.service_account_name.map(str::to_owned),
        termination_grace_period_seconds: group.termination_grace_period_seconds,
        image_pull_secrets: group.kubernetes_config.image_pull_secrets.clone(),
        host_network: group.host_network.then_some(true),
        dns_policy: group
            .host_network
            .then(|| "ClusterFirstWithHostNet".to_owned()),
        ..PodSpec::default()
    }
}

fn main_container(group: &PodGroup<'_>) -> Container {
    let config = group.kubernetes_config;
    let sentinel = group.mode == ServerMode::Sentinel;
    let mut ports = vec![ContainerPort {
        name: Some(
            if sentinel {
                SENTINEL_PORT_NAME
            } else {
                REDIS_PORT_NAME
            }
            .to_owned(),
        ),
        container_port: group.port,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }];
    if group.is_cluster() {
        ports.push(ContainerPort {
            name: Some(CLUSTER_BUS_PORT_NAME.to_owned()),
            container_port: group.port + CLUSTER_BUS_PORT_OFFSET,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        });
    }
    let mut env = vec![EnvVar {
        name: POD_IP_ENV.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: "status.podIP".to_owned(),
            }),
            ..EnvVarSource::default()
        }),
    }];
    env.extend(password_env(group));
    env.extend(group.env.iter().cloned());
    let mut mounts = vec![
        mount(CONFIG_VOLUME, CONFIG_MOUNT_PATH, true),
        mount(RUNTIME_VOLUME, RUNTIME_MOUNT_PATH, false),
    ];
    if !sentinel {
        mounts.push(mount(data_volume_name(group), DATA_MOUNT_PATH, false));
    }
    if group.node_conf_claim.is_some() {
        mounts.push(mount(NODE_CONF_VOLUME, NODE_CONF_MOUNT_PATH, false));
    }
    if group.tls.is_some() {
        mounts.push(mount(TLS_VOLUME, TLS_MOUNT_PATH, true));
    }
    if group.acl.is_some() {
        mounts.push(mount(ACL_VOLUME, ACL_MOUNT_PATH, true));
    }
    if group.additional_config.is_some() {
        mounts.push(mount(
            EXTERNAL_CONFIG_VOLUME,
            EXTERNAL_CONFIG_MOUNT_PATH,
            true,
        ));
    }
    mounts.extend(user_mounts(group));
    Container {
        name: if sentinel {
            SENTINEL_CONTAINER_NAME
        } else {
            REDIS_CONTAINER_NAME
        }
        .to_owned(),
        image: Some(config.image.clone()),
        image_pull_policy: config.image_pull_policy.clone(),
        command: Some(vec![
            "sh".to_owned(),
            format!("{CONFIG_MOUNT_PATH}/{START_SCRIPT_KEY}"),
        ]),
        ports: Some(ports),
        env: Some(env),
        resources: group.resources.cloned(),
        readiness_probe: Some(probe(group.readiness_probe, "readiness")),
        liveness_probe: Some(probe(group.liveness_probe, "liveness")),
        volume_mounts: Some(mounts),
        security_context: group.security_context.cloned(),
        ..Container::default()
    }
}

/// The user's probe, or a PING through the probe script. A user probe without a handler keeps
/// its timings and gets the PING handler, as the v1beta2 API has always done.
fn probe(user: Option<&Probe>, kind: &str) -> Probe {
    let handler = ExecAction {
        command: Some(vec![
            "sh".to_owned(),
            format!("{CONFIG_MOUNT_PATH}/{PROBE_SCRIPT_KEY}"),
            kind.to_owned(),
        ]),
    };
    let liveness = kind == "liveness";
    let default = Probe {
        exec: Some(handler.clone()),
        initial_delay_seconds: Some(if liveness { 15 } else { 5 }),
        period_seconds: Some(if liveness { 15 } else { 5 }),
        timeout_seconds: Some(5),
        success_threshold: Some(1),
        failure_threshold: Some(if liveness { 5 } else { 3 }),
        ..Probe::default()
    };
    match user {
        None => default,
        Some(user) => {
            let has_handler = user.exec.is_some()
                || user.http_get.is_some()
                || user.tcp_socket.is_some()
                || user.grpc.is_some();
            let mut probe = user.clone();
            if !has_handler {
                probe.exec = Some(handler);
            }
            probe
        }
    }
}

fn mount(name: impl Into<String>, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.to_owned(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

fn password_env(group: &PodGroup<'_>) -> Option<EnvVar> {
    let secret = group.password.as_ref()?;
    Some(EnvVar {
        name: PASSWORD_ENV.to_owned(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.name.clone(),
                key: secret.key.clone(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
    })
}

fn exporter_container(group: &PodGroup<'_>) -> Option<Container> {
    let exporter = group.exporter?;
    let scheme = if group.tls.is_some() {
        "rediss"
    } else {
        "redis"
    };
    let mut env = vec![
        EnvVar {
            name: EXPORTER_ADDRESS_ENV.to_owned(),
            value: Some(format!("{scheme}://localhost:{}", group.port)),
            value_from: None,
        },
        EnvVar {
            name: EXPORTER_LISTEN_ENV.to_owned(),
            value: Some(format!(":{}", exporter.port)),
            value_from: None,
        },
    ];
    if let Some((ca, cert, key)) = tls_paths(group) {
        for (name, value) in [
            ("REDIS_EXPORTER_TLS_CA_CERT_FILE", ca),
            ("REDIS_EXPORTER_TLS_CLIENT_CERT_FILE", cert),
            ("REDIS_EXPORTER_TLS_CLIENT_KEY_FILE", key),
        ] {
            env.push(EnvVar {
                name: name.to_owned(),
                value: Some(value),
                value_from: None,
            });
        }
    }
    env.extend(password_env(group));
    env.extend(exporter.env.iter().flatten().cloned());
    let mut mounts = Vec::new();
    if group.tls.is_some() {
        mounts.push(mount(TLS_VOLUME, TLS_MOUNT_PATH, true));
    }
    Some(Container {
        name: EXPORTER_CONTAINER_NAME.to_owned(),
        image: Some(exporter.image.clone()),
        image_pull_policy: exporter.image_pull_policy.clone(),
        resources: exporter.resources.clone(),
        security_context: exporter.security_context.clone(),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some(EXPORTER_PORT_NAME.to_owned()),
            container_port: exporter.port,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        ..Container::default()
    })
}

fn data_volume_name(group: &PodGroup<'_>) -> String {
    if group.data_claim.is_some() {
        data_claim_name(group)
    } else {
        DATA_VOLUME.to_owned()
    }
}

fn user_mounts(group: &PodGroup<'_>) -> Vec<VolumeMount> {
    group
        .extra_volumes
        .and_then(|extra| extra.mount_path.clone())
        .unwrap_or_default()
}

fn volumes(group: &PodGroup<'_>) -> Vec<Volume> {
    let mut volumes = vec![
        Volume {
            name: CONFIG_VOLUME.to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map_name(&group.statefulset_name),
                default_mode: Some(0o555),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: RUNTIME_VOLUME.to_owned(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: Some("Memory".to_owned()),
                size_limit: Some(Quantity("16Mi".to_owned())),
            }),
            ..Volume::default()
        },
    ];
    if group.data_claim.is_none() && group.mode != ServerMode::Sentinel {
        volumes.push(Volume {
            name: DATA_VOLUME.to_owned(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        });
    }
    if let Some(tls) = group.tls {
        volumes.push(Volume {
            name: TLS_VOLUME.to_owned(),
            secret: Some(tls.secret.clone()),
            ..Volume::default()
        });
    }
    if let Some(acl) = group.acl {
        volumes.push(Volume {
            name: ACL_VOLUME.to_owned(),
            secret: Some(
                acl.secret
                    .clone()
                    .unwrap_or_else(SecretVolumeSource::default),
            ),
            ..Volume::default()
        });
    }
    if let Some(name) = group.additional_config {
        volumes.push(Volume {
            name: EXTERNAL_CONFIG_VOLUME.to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: name.to_owned(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    volumes.extend(
        group
            .extra_volumes
            .and_then(|extra| extra.volume.clone())
            .unwrap_or_default(),
    );
    volumes
}

fn claim_templates(group: &PodGroup<'_>) -> Option<Vec<PersistentVolumeClaim>> {
    let template = |claim: &PersistentVolumeClaim, name: String| {
        let mut spec = claim.spec.clone().unwrap_or_default();
        if spec.access_modes.as_ref().is_none_or(Vec::is_empty) {
            spec.access_modes = Some(vec!["ReadWriteOnce".to_owned()]);
        }
        if spec.volume_mode.is_none() {
            spec.volume_mode = Some("Filesystem".to_owned());
        }
        let mut labels: BTreeMap<String, String> =
            claim.metadata.labels.clone().unwrap_or_default();
        labels.extend(group.selector_labels());
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(name),
                labels: Some(labels),
                annotations: claim.metadata.annotations.clone(),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
            status: None,
        }
    };
    let mut templates = Vec::new();
    if let Some(claim) = group.data_claim {
        templates.push(template(claim, data_claim_name(group)));
    }
    if let Some(claim) = &group.node_conf_claim {
        templates.push(template(claim, NODE_CONF_VOLUME.to_owned()));
    }
    (!templates.is_empty()).then_some(templates)
}

/// A claim template for nodes.conf when the CR asks for the volume but gives no template.
pub fn default_node_conf_claim() -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(DEFAULT_NODE_CONF_SIZE.to_owned()),
                )])),
                limits: None,
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}
