//! The objects built for every reference example CR: names, labels, selectors, ports, probes,
//! resources and scheduling constraints, with leaders and followers each from their own settings.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code states its assumptions

use std::collections::BTreeSet;
use std::path::PathBuf;

use redis_operator::api::document::{DocumentOutcome, ValidatedResource, read_documents};
use redis_operator::resources::desired_objects;
use serde_json::{Value, json};

/// The example CRs of the reference's first target release (v0.19.0).
fn reference_examples() -> Vec<(PathBuf, ValidatedResource, Value)> {
    examples_in("v0.19.0/examples")
}

/// The example CRs under one directory of the compatibility corpus that our validation accepts,
/// each with its path and raw JSON.
fn examples_in(corpus_directory: &str) -> Vec<(PathBuf, ValidatedResource, Value)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compat")
        .join(corpus_directory);
    let mut pending = vec![root];
    let mut examples = Vec::new();
    while let Some(directory) = pending.pop() {
        for entry in
            std::fs::read_dir(&directory).expect("the reference examples under tests/compat")
        {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let raw: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
                .map(|document| serde::Deserialize::deserialize(document).unwrap())
                .collect();
            for (document, raw) in read_documents(&text).into_iter().zip(raw) {
                if let DocumentOutcome::Valid(resource) = document.outcome {
                    examples.push((path.clone(), resource, raw));
                }
            }
        }
    }
    assert!(
        examples.len() >= 50,
        "found only {} example CRs in {corpus_directory}",
        examples.len()
    );
    examples.sort_by(|left, right| left.0.cmp(&right.0));
    examples
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|object| object["kind"] == kind && object["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn names_of(objects: &[Value], kind: &str) -> BTreeSet<String> {
    objects
        .iter()
        .filter(|object| object["kind"] == kind)
        .map(|object| object["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

fn set(names: &[String]) -> BTreeSet<String> {
    names.iter().cloned().collect()
}

fn container<'a>(statefulset: &'a Value, name: &str) -> Option<&'a Value> {
    statefulset["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|container| container["name"] == name)
}

fn port_names(service: &Value) -> Vec<&str> {
    service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|port| port["name"].as_str().unwrap())
        .collect()
}

/// A field of the raw CR, or null; `field` is a JSON pointer below `spec`.
fn spec_field<'a>(raw: &'a Value, field: &str) -> &'a Value {
    raw.pointer(&format!("/spec{field}"))
        .unwrap_or(&Value::Null)
}

/// A field as the builders write it: null when the CR does not set it.
fn built_field<'a>(object: &'a Value, pointer: &str) -> &'a Value {
    object.pointer(pointer).unwrap_or(&Value::Null)
}

/// Checks one group: StatefulSet, its three Services, its labels and selectors, its ports,
/// probes, resources and scheduling.
#[allow(clippy::too_many_arguments)]
fn check_group(
    objects: &[Value],
    raw: &Value,
    statefulset_name: &str,
    app: &str,
    setup_type: &str,
    role: &str,
    port: i64,
    role_settings: &str,
    resources: &Value,
    replicas: i64,
) {
    let statefulset = named(objects, "StatefulSet", statefulset_name);
    let selector = json!({"app": app, "redis_setup_type": setup_type, "role": role});
    assert_eq!(
        statefulset["spec"]["selector"]["matchLabels"], selector,
        "{statefulset_name} selector"
    );
    assert_eq!(
        statefulset["spec"]["replicas"], replicas,
        "{statefulset_name} replicas"
    );
    assert_eq!(
        statefulset["spec"]["serviceName"],
        format!("{statefulset_name}-headless")
    );
    let template_labels = &statefulset["spec"]["template"]["metadata"]["labels"];
    for (key, value) in selector.as_object().unwrap() {
        assert_eq!(
            &template_labels[key], value,
            "{statefulset_name} pod label {key}"
        );
        assert_eq!(
            &statefulset["metadata"]["labels"][key], value,
            "{statefulset_name} label {key}"
        );
    }
    assert_eq!(
        statefulset["metadata"]["ownerReferences"][0]["kind"],
        raw["kind"]
    );
    for suffix in ["-headless", "", "-additional"] {
        let service = named(objects, "Service", &format!("{statefulset_name}{suffix}"));
        assert_eq!(
            service["spec"]["selector"], selector,
            "{statefulset_name}{suffix} selector"
        );
        assert_eq!(
            service["spec"]["ports"][0]["port"], port,
            "{statefulset_name}{suffix} port"
        );
    }
    let exporter_enabled = spec_field(raw, "/redisExporter/enabled") == &json!(true);
    let main_service = named(objects, "Service", statefulset_name);
    assert_eq!(
        port_names(main_service).contains(&"redis-exporter"),
        exporter_enabled,
        "{statefulset_name}: the exporter port appears exactly when the exporter runs"
    );
    assert_eq!(
        container(statefulset, "redis-exporter").is_some(),
        exporter_enabled
    );
    for suffix in ["-headless", "-additional"] {
        let service = named(objects, "Service", &format!("{statefulset_name}{suffix}"));
        assert!(!port_names(service).contains(&"redis-exporter"));
    }
    let main_name = if setup_type == "sentinel" {
        "sentinel"
    } else {
        "redis"
    };
    let main = container(statefulset, main_name).expect("the main container");
    assert_eq!(main["ports"][0]["containerPort"], port);
    assert_eq!(main["image"], *spec_field(raw, "/kubernetesConfig/image"));
    assert_eq!(
        built_field(main, "/resources"),
        resources,
        "{statefulset_name} resources"
    );
    for probe in ["readinessProbe", "livenessProbe"] {
        let built = &main[probe];
        let user = spec_field(raw, &format!("{role_settings}/{probe}"));
        if user.is_null() {
            assert!(
                built["exec"]["command"][1]
                    .as_str()
                    .unwrap()
                    .ends_with("probe.sh"),
                "{statefulset_name} default {probe}"
            );
        } else {
            for (field, value) in user.as_object().unwrap() {
                assert_eq!(&built[field], value, "{statefulset_name} {probe}.{field}");
            }
        }
    }
    assert_eq!(
        built_field(main, "/securityContext"),
        spec_field(raw, &format!("{role_settings}/securityContext")),
        "{statefulset_name} securityContext"
    );
    let pod = &statefulset["spec"]["template"]["spec"];
    for field in [
        "affinity",
        "tolerations",
        "nodeSelector",
        "topologySpreadConstraints",
    ] {
        assert_eq!(
            built_field(pod, &format!("/{field}")),
            spec_field(raw, &format!("{role_settings}/{field}")),
            "{statefulset_name} {field}"
        );
    }
    let rendered = named(
        objects,
        "ConfigMap",
        &format!("{statefulset_name}-redis-conf"),
    );
    assert!(
        rendered["data"]["server.conf"]
            .as_str()
            .unwrap()
            .contains(&format!("port {port}"))
    );
}

fn check_disruption_budget(
    objects: &[Value],
    raw: &Value,
    name: &str,
    settings: &str,
    pods: i64,
    app: &str,
    role: &str,
) {
    let pdb = spec_field(raw, settings);
    if pdb["enabled"] != json!(true) {
        assert!(
            !names_of(objects, "PodDisruptionBudget").contains(name),
            "{name} must not exist"
        );
        return;
    }
    let budget = named(objects, "PodDisruptionBudget", name);
    assert_eq!(budget["spec"]["selector"]["matchLabels"]["app"], app);
    assert_eq!(budget["spec"]["selector"]["matchLabels"]["role"], role);
    match (&pdb["minAvailable"], &pdb["maxUnavailable"]) {
        (Value::Null, Value::Null) => assert_eq!(budget["spec"]["minAvailable"], pods / 2 + 1),
        (minimum, Value::Null) => assert_eq!(&budget["spec"]["minAvailable"], minimum),
        (_, maximum) => assert_eq!(&budget["spec"]["maxUnavailable"], maximum),
    }
}

#[test]
fn every_reference_example_builds_the_objects_its_kind_owns() {
    for (path, resource, raw) in reference_examples() {
        let objects = desired_objects(&resource).objects;
        let name = raw["metadata"]["name"].as_str().unwrap().to_owned();
        let kubernetes_resources = spec_field(&raw, "/kubernetesConfig/resources").clone();
        let context = path.display().to_string();
        match raw["kind"].as_str().unwrap() {
            "Redis" => {
                assert_eq!(
                    names_of(&objects, "StatefulSet"),
                    set(std::slice::from_ref(&name)),
                    "{context}"
                );
                assert_eq!(
                    names_of(&objects, "Service"),
                    set(&[
                        name.clone(),
                        format!("{name}-headless"),
                        format!("{name}-additional")
                    ]),
                    "{context}"
                );
                assert!(
                    names_of(&objects, "PodDisruptionBudget").is_empty(),
                    "{context}"
                );
                check_group(
                    &objects,
                    &raw,
                    &name,
                    &name,
                    "standalone",
                    "standalone",
                    6379,
                    "",
                    &kubernetes_resources,
                    1,
                );
            }
            "RedisReplication" => {
                let size = raw["spec"]["clusterSize"].as_i64().unwrap();
                assert_eq!(
                    names_of(&objects, "Service"),
                    set(&[
                        name.clone(),
                        format!("{name}-headless"),
                        format!("{name}-additional"),
                        format!("{name}-master"),
                        format!("{name}-replica"),
                    ]),
                    "{context}"
                );
                for (suffix, role) in [("-master", "master"), ("-replica", "slave")] {
                    let service = named(&objects, "Service", &format!("{name}{suffix}"));
                    assert_eq!(service["spec"]["selector"]["redis-role"], role, "{context}");
                    assert_eq!(
                        service["spec"]["selector"]["app"],
                        name.as_str(),
                        "{context}"
                    );
                }
                check_group(
                    &objects,
                    &raw,
                    &name,
                    &name,
                    "replication",
                    "replication",
                    6379,
                    "",
                    &kubernetes_resources,
                    size,
                );
                check_disruption_budget(
                    &objects,
                    &raw,
                    &format!("{name}-replication"),
                    "/pdb",
                    size,
                    &name,
                    "replication",
                );
            }
            "RedisSentinel" => {
                let size = raw["spec"]["clusterSize"].as_i64().unwrap_or(3);
                let statefulset = format!("{name}-sentinel");
                assert_eq!(
                    names_of(&objects, "StatefulSet"),
                    set(std::slice::from_ref(&statefulset)),
                    "{context}"
                );
                check_group(
                    &objects,
                    &raw,
                    &statefulset,
                    &statefulset,
                    "sentinel",
                    "sentinel",
                    26379,
                    "",
                    &kubernetes_resources,
                    size,
                );
                check_disruption_budget(
                    &objects,
                    &raw,
                    &statefulset,
                    "/pdb",
                    size,
                    &statefulset,
                    "sentinel",
                );
            }
            "RedisCluster" => {
                let shards = raw["spec"]["clusterSize"].as_i64().unwrap();
                let port = raw["spec"]["port"].as_i64().unwrap_or(6379);
                assert_eq!(
                    names_of(&objects, "StatefulSet"),
                    set(&[format!("{name}-leader"), format!("{name}-follower")]),
                    "{context}"
                );
                for role in ["leader", "follower"] {
                    let settings = if role == "leader" {
                        "/redisLeader"
                    } else {
                        "/redisFollower"
                    };
                    let statefulset = format!("{name}-{role}");
                    let role_resources = spec_field(&raw, &format!("{settings}/resources"));
                    let resources = if role_resources.is_null() {
                        &kubernetes_resources
                    } else {
                        role_resources
                    };
                    let replicas = spec_field(&raw, &format!("{settings}/replicas"))
                        .as_i64()
                        .unwrap_or(shards);
                    check_group(
                        &objects,
                        &raw,
                        &statefulset,
                        &statefulset,
                        "cluster",
                        role,
                        port,
                        settings,
                        resources,
                        replicas,
                    );
                    check_disruption_budget(
                        &objects,
                        &raw,
                        &statefulset,
                        &format!("{settings}/pdb"),
                        replicas,
                        &statefulset,
                        role,
                    );
                    let node_port =
                        spec_field(&raw, "/kubernetesConfig/service/serviceType") == "NodePort";
                    for ordinal in 0..replicas {
                        let per_pod = format!("{statefulset}-{ordinal}");
                        assert_eq!(
                            names_of(&objects, "Service").contains(&per_pod),
                            node_port,
                            "{context} {per_pod}"
                        );
                    }
                }
            }
            other => panic!("unexpected kind {other}"),
        }
    }
}

#[test]
fn no_rendered_object_carries_a_password() {
    for (path, resource, _) in reference_examples() {
        for object in desired_objects(&resource).objects {
            let text = object.to_string();
            for secret_word in ["requirepass ", "masterauth "] {
                if let Some(position) = text.find(secret_word) {
                    let after = &text[position + secret_word.len()..];
                    assert!(
                        after.starts_with("%s"),
                        "{}: {secret_word} followed by a literal value",
                        path.display()
                    );
                }
            }
            assert!(
                !text.contains("\"-a\""),
                "{}: password on a command line",
                path.display()
            );
        }
    }
}

#[test]
fn leader_and_follower_settings_never_leak_into_each_other() {
    let yaml = r#"
apiVersion: redis.redis.opstreelabs.in/v1beta2
kind: RedisCluster
metadata: {name: shop, namespace: prod}
spec:
  clusterSize: 3
  kubernetesConfig:
    image: redis:7.2
    resources: {requests: {cpu: 100m}}
  redisLeader:
    resources: {requests: {cpu: 700m}}
    pdb: {enabled: true, minAvailable: 2}
    tolerations: [{key: leaders, operator: Exists}]
    securityContext: {runAsUser: 1001}
    livenessProbe: {periodSeconds: 7}
  redisFollower:
    replicas: 6
    pdb: {enabled: true, maxUnavailable: 1}
    nodeSelector: {tier: followers}
    topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}
"#;
    let document = read_documents(yaml).remove(0);
    let DocumentOutcome::Valid(resource) = document.outcome else {
        panic!("valid: {document:?}")
    };
    let objects = desired_objects(&resource).objects;
    let leader = named(&objects, "StatefulSet", "shop-leader");
    let follower = named(&objects, "StatefulSet", "shop-follower");
    assert_eq!(follower["spec"]["replicas"], 6);
    assert_eq!(
        container(leader, "redis").unwrap()["resources"]["requests"]["cpu"],
        "700m"
    );
    assert_eq!(
        container(follower, "redis").unwrap()["resources"]["requests"]["cpu"],
        "100m"
    );
    assert_eq!(
        container(leader, "redis").unwrap()["securityContext"]["runAsUser"],
        1001
    );
    assert!(
        container(follower, "redis")
            .unwrap()
            .get("securityContext")
            .is_none()
    );
    assert_eq!(
        container(leader, "redis").unwrap()["livenessProbe"]["periodSeconds"],
        7
    );
    assert_eq!(
        container(follower, "redis").unwrap()["livenessProbe"]["periodSeconds"],
        15
    );
    assert!(
        leader["spec"]["template"]["spec"]
            .get("nodeSelector")
            .is_none()
    );
    assert_eq!(
        follower["spec"]["template"]["spec"]["nodeSelector"]["tier"],
        "followers"
    );
    assert!(
        follower["spec"]["template"]["spec"]
            .get("tolerations")
            .is_none()
    );
    assert!(
        leader["spec"]["template"]["spec"]
            .get("topologySpreadConstraints")
            .is_none()
    );
    assert_eq!(
        named(&objects, "PodDisruptionBudget", "shop-leader")["spec"]["minAvailable"],
        2
    );
    assert_eq!(
        named(&objects, "PodDisruptionBudget", "shop-follower")["spec"]["maxUnavailable"],
        1
    );
    assert!(
        named(&objects, "PodDisruptionBudget", "shop-follower")["spec"]
            .get("minAvailable")
            .is_none()
    );
    assert_eq!(leader["metadata"]["namespace"], "prod");
}

/// The metadata of an object and of the templates it embeds (pod template, claim templates):
/// each place the reference writes `redis.opstreelabs.instance`.
fn metadata_places(object: &Value) -> Vec<(String, &Value)> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let mut places = vec![(format!("{kind} {name}"), &object["metadata"])];
    if let Some(template) = object.pointer("/spec/template/metadata") {
        places.push((format!("{kind} {name} pod template"), template));
    }
    for claim in object
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        places.push((
            format!("{kind} {name} claim template {}", claim["metadata"]["name"]),
            &claim["metadata"],
        ));
    }
    places
}

/// Users and their tools select on the metadata the reference writes: every object carries the
/// CR's name in `redis.opstreelabs.instance` (never the StatefulSet's, which differs for
/// sentinels and cluster roles), a replication set's `-master` and `-replica` Services carry
/// `redis-role`, a cluster's StatefulSets and pods carry `cluster`, and each NodePort Service
/// carries its pod's name. Both example sets, v0.19.0 and v0.26.0, every CR we accept.
#[test]
fn every_reference_example_carries_the_metadata_users_select_on() {
    let examples = [
        examples_in("v0.19.0/examples"),
        examples_in("v0.26.0/examples"),
    ]
    .concat();
    let mut instance_annotations = 0;
    let mut role_services = 0;
    for (path, resource, raw) in examples {
        let objects = desired_objects(&resource).objects;
        let cr_name = raw["metadata"]["name"].as_str().unwrap();
        let context = path.display();
        for object in &objects {
            assert!(
                object["metadata"]["annotations"]
                    .get("redis.opstreelabs.instance")
                    .is_some(),
                "{context}: {} {} lacks redis.opstreelabs.instance",
                object["kind"],
                object["metadata"]["name"]
            );
            for (place, metadata) in metadata_places(object) {
                if let Some(value) = metadata["annotations"].get("redis.opstreelabs.instance") {
                    assert_eq!(
                        value, cr_name,
                        "{context}: redis.opstreelabs.instance of {place}"
                    );
                    instance_annotations += 1;
                }
            }
        }
        match raw["kind"].as_str().unwrap() {
            "RedisReplication" => {
                for (suffix, role) in [("-master", "master"), ("-replica", "slave")] {
                    let service = named(&objects, "Service", &format!("{cr_name}{suffix}"));
                    assert_eq!(
                        service["metadata"]["labels"]["redis-role"], role,
                        "{context}: labels of {cr_name}{suffix}"
                    );
                    assert_eq!(
                        service["spec"]["selector"]["redis-role"], role,
                        "{context}: selector of {cr_name}{suffix}"
                    );
                    role_services += 1;
                }
            }
            "RedisCluster" => {
                for role in ["leader", "follower"] {
                    let statefulset = named(&objects, "StatefulSet", &format!("{cr_name}-{role}"));
                    for (place, metadata) in [
                        ("labels", &statefulset["metadata"]),
                        ("pod labels", &statefulset["spec"]["template"]["metadata"]),
                    ] {
                        assert_eq!(
                            metadata["labels"]["cluster"], cr_name,
                            "{context}: {place} of {cr_name}-{role}"
                        );
                    }
                }
                for service in objects.iter().filter(|object| {
                    object["kind"] == "Service" && object["spec"]["type"] == "NodePort"
                }) {
                    assert_eq!(
                        service["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
                        service["metadata"]["name"],
                        "{context}: labels of NodePort Service {}",
                        service["metadata"]["name"]
                    );
                }
            }
            _ => {}
        }
    }
    assert!(
        instance_annotations >= 500,
        "only {instance_annotations} annotations checked"
    );
    assert!(
        role_services >= 20,
        "only {role_services} role Services checked"
    );
}
