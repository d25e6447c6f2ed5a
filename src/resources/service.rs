//! The Services of a group: headless (peer discovery, stable pod DNS), main (clients, metrics),
//! additional (the user's chosen type), the replication master and replica Services, and one
//! NodePort Service per cluster pod when the user exposes the cluster through NodePorts.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::group::{PodGroup, ServerMode};
use super::names::{
    ADDITIONAL_SUFFIX, CLUSTER_BUS_PORT_NAME, CLUSTER_BUS_PORT_OFFSET, EXPORTER_PORT_NAME,
    HEADLESS_SUFFIX, MASTER_SUFFIX, POD_NAME_LABEL, PROMETHEUS_PORT_ANNOTATION,
    PROMETHEUS_SCRAPE_ANNOTATION, REDIS_PORT_NAME, REDIS_ROLE_LABEL, REDIS_ROLE_MASTER,
    REDIS_ROLE_REPLICA, REPLICA_SUFFIX, SENTINEL_PORT_NAME,
};
use crate::api::common::ServiceType;

fn port(name: &str, number: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port: number,
        target_port: Some(IntOrString::Int(number)),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    }
}

fn client_port(group: &PodGroup<'_>) -> ServicePort {
    let name = if group.mode == ServerMode::Sentinel {
        SENTINEL_PORT_NAME
    } else {
        REDIS_PORT_NAME
    };
    port(name, group.port)
}

/// A Service of the group: the group's labels and annotations, then the extra ones, which win.
fn service(
    group: &PodGroup<'_>,
    name: String,
    spec: ServiceSpec,
    extra_labels: BTreeMap<String, String>,
    extra_annotations: BTreeMap<String, String>,
) -> Service {
    let mut labels = group.labels();
    labels.extend(extra_labels);
    let mut annotations = group.annotations();
    annotations.extend(extra_annotations);
    Service {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(group.owner.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![group.owner.reference()]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// The headless, main and additional Services of a group.
pub fn build_group_services(group: &PodGroup<'_>) -> Vec<Service> {
    let name = &group.statefulset_name;
    let mut headless_ports = vec![client_port(group)];
    if group.is_cluster() {
        headless_ports.push(port(
            CLUSTER_BUS_PORT_NAME,
            group.port + CLUSTER_BUS_PORT_OFFSET,
        ));
    }
    let headless = service(
        group,
        format!("{name}{HEADLESS_SUFFIX}"),
        ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            // Peers must find each other before they are ready: a cluster node is not ready
            // until it has joined, and it cannot join without its peers' addresses.
            publish_not_ready_addresses: Some(true),
            selector: Some(group.selector_labels()),
            ports: Some(headless_ports),
            ..ServiceSpec::default()
        },
        BTreeMap::new(),
        BTreeMap::new(),
    );
    let mut main_ports = vec![client_port(group)];
    let mut metrics_annotations = BTreeMap::new();
    if let Some(exporter) = group.exporter {
        main_ports.push(port(EXPORTER_PORT_NAME, exporter.port));
        metrics_annotations.insert(PROMETHEUS_SCRAPE_ANNOTATION.to_owned(), "true".to_owned());
        metrics_annotations.insert(
            PROMETHEUS_PORT_ANNOTATION.to_owned(),
            exporter.port.to_string(),
        );
    }
    let main = service(
        group,
        name.clone(),
        ServiceSpec {
            type_: Some(ServiceType::ClusterIP.as_str().to_owned()),
            selector: Some(group.selector_labels()),
            ports: Some(main_ports),
            ..ServiceSpec::default()
        },
        BTreeMap::new(),
        metrics_annotations,
    );
    let service_config = group.kubernetes_config.service.as_ref();
    let additional = service(
        group,
        format!("{name}{ADDITIONAL_SUFFIX}"),
        ServiceSpec {
            type_: Some(
                service_config
                    .and_then(|config| config.service_type)
                    .unwrap_or_default()
                    .as_str()
                    .to_owned(),
            ),
            selector: Some(group.selector_labels()),
            ports: Some(vec![client_port(group)]),
            ..ServiceSpec::default()
        },
        BTreeMap::new(),
        service_config
            .and_then(|config| config.annotations.clone())
            .unwrap_or_default(),
    );
    vec![headless, main, additional]
}

/// The replication set's `-master` and `-replica` Services, which select pods by the
/// `redis-role` label the operator keeps in step with the real master. Each also carries that
/// label itself (`master` or `slave`), as the reference labels them, so tools find a set's
/// master Service by label.
pub fn build_replication_role_services(group: &PodGroup<'_>) -> Vec<Service> {
    [
        (MASTER_SUFFIX, REDIS_ROLE_MASTER),
        (REPLICA_SUFFIX, REDIS_ROLE_REPLICA),
    ]
    .into_iter()
    .map(|(suffix, role)| {
        let role_label = BTreeMap::from([(REDIS_ROLE_LABEL.to_owned(), role.to_owned())]);
        let mut selector = group.selector_labels();
        selector.extend(role_label.clone());
        service(
            group,
            format!("{}{suffix}", group.owner.name),
            ServiceSpec {
                type_: Some(ServiceType::ClusterIP.as_str().to_owned()),
                selector: Some(selector),
                ports: Some(vec![client_port(group)]),
                ..ServiceSpec::default()
            },
            role_label,
            BTreeMap::new(),
        )
    })
    .collect()
}

/// One NodePort Service per cluster pod (client and bus ports), when the user exposes the
/// cluster through NodePorts. Each is labelled, as it selects, with its pod's name.
pub fn build_node_port_services(group: &PodGroup<'_>) -> Vec<Service> {
    let exposed = group
        .kubernetes_config
        .service
        .as_ref()
        .and_then(|config| config.service_type)
        == Some(ServiceType::NodePort);
    if !exposed || !group.is_cluster() {
        return Vec::new();
    }
    (0..group.replicas)
        .map(|ordinal| {
            let pod = format!("{}-{ordinal}", group.statefulset_name);
            let pod_label = BTreeMap::from([(POD_NAME_LABEL.to_owned(), pod.clone())]);
            let mut selector = group.selector_labels();
            selector.extend(pod_label.clone());
            service(
                group,
                pod,
                ServiceSpec {
                    type_: Some(ServiceType::NodePort.as_str().to_owned()),
                    selector: Some(selector),
                    ports: Some(vec![
                        port(REDIS_PORT_NAME, group.port),
                        port(CLUSTER_BUS_PORT_NAME, group.port + CLUSTER_BUS_PORT_OFFSET),
                    ]),
                    ..ServiceSpec::default()
                },
                pod_label,
                BTreeMap::new(),
            )
        })
        .collect()
}
