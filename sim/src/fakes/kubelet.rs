//! The kubelets of the fake cluster: each bound pod starts after a start latency drawn from the
//! seed, gets a new address and a fake Redis server (or sentinel) configured from its template,
//! is Ready while its server answers, has a crashed server restarted at the same address after
//! the restart delay, and has its server stopped when the pod goes or its node is down.
//!
//! It writes only pod statuses; it never creates or deletes pods except those removed from a
//! node that has been down past the eviction timeout.

use redis_operator::json_pointer::JsonPointer;
use std::sync::Arc;

use redis_operator::ports::clock::{Clock, Milliseconds};
use redis_operator::ports::kube::{ObjectRef, ResourceType};
use serde_json::{Value, json};

use crate::engine::world::{STEP_MILLISECONDS, World};
use crate::fakes::api_server::pod_is_ready;
use crate::fakes::redis::{ServerKind, StopCause};

/// Milliseconds the kubelet waits before restarting a crashed container.
pub const RESTART_DELAY_MILLISECONDS: Milliseconds = 1000;

/// How the kubelet runs a pod's server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Launch {
    pub(crate) port: u16,
    pub(crate) kind: ServerKind,
    pub(crate) keep_data: bool,
    pub(crate) keep_identity: bool,
}

/// What the kubelet knows of a pod it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PodRuntime {
    pub(crate) start_at: Milliseconds,
    pub(crate) ip: Option<String>,
    pub(crate) restart_at: Option<Milliseconds>,
}

impl World {
    pub(crate) fn new_address(&self) -> String {
        let number = self.next_address.get();
        self.next_address.set(number + 1);
        format!(
            "10.{}.{}.{}",
            1 + number / 62_500,
            number / 250 % 250,
            number % 250 + 1
        )
    }

    /// How the kubelet runs the server of a pod from `template`: its port, what it runs, and
    /// whether data and cluster identity survive a restart (a claim, and persistence configured).
    pub(crate) fn launch_settings(
        &self,
        namespace: &str,
        template: &Value,
        has_claim: bool,
    ) -> Launch {
        let setup_type = template
            .at("/metadata/labels/redis_setup_type")
            .and_then(Value::as_str)
            .unwrap_or("standalone");
        let port = template
            .at("/spec/containers/0/ports/0/containerPort")
            .and_then(Value::as_u64)
            .and_then(|port| u16::try_from(port).ok())
            .unwrap_or(6379);
        let config_map_name = template
            .at("/spec/volumes")
            .and_then(Value::as_array)
            .and_then(|volumes| {
                volumes
                    .iter()
                    .find_map(|volume| volume.at("/configMap/name").and_then(Value::as_str))
            })
            .unwrap_or_default()
            .to_owned();
        let persistence = self
            .api
            .object(&ObjectRef::new(
                ResourceType::ConfigMap,
                namespace,
                &config_map_name,
            ))
            .and_then(|config| {
                config
                    .at("/data/server.conf")
                    .and_then(Value::as_str)
                    .map(|text| text.contains("appendonly yes"))
            })
            .unwrap_or(false);
        let kind = match setup_type {
            "cluster" => ServerKind::Cluster,
            "sentinel" => ServerKind::Sentinel,
            _ => ServerKind::Plain,
        };
        Launch {
            port,
            kind,
            keep_data: has_claim && persistence,
            keep_identity: has_claim,
        }
    }

    /// The kubelets: start bound pods after the start latency with a new address, restart a
    /// crashed server, report readiness as the probe would (the server answers), stop the server
    /// of a pod that is gone, and remove pods whose node has been down past the eviction timeout.
    pub(crate) fn run_kubelets(&self) {
        let now = self.clock.now();
        let pods = self.api.objects(ResourceType::Pod);
        let mut present = std::collections::BTreeSet::new();
        for pod in pods {
            let Some(reference) = ObjectRef::of(&pod) else {
                continue;
            };
            let uid = pod["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            present.insert((reference.clone(), uid.clone()));
            let Some(node_name) = pod.at("/spec/nodeName").and_then(Value::as_str) else {
                continue;
            };
            let node = self
                .nodes
                .borrow()
                .iter()
                .find(|node| node.name == node_name)
                .cloned();
            let node_up = node.as_ref().is_some_and(|node| node.up);
            let node_down_since = self.node_down_since.borrow().get(node_name).copied();
            if let Some(since) = node_down_since
                && !node_up
                && now >= since + self.settings.borrow().node_eviction_timeout_milliseconds
            {
                self.stop_pod_server(&pod, StopCause::Fault);
                let _ = self.api.remove_pod_now(&reference);
                continue;
            }
            let launch = self.launches.borrow().get(&reference).cloned();
            let Some(launch) = launch else {
                // Not started by these controllers (an object created by a test): leave it be.
                continue;
            };
            let mut runtimes = self.runtimes.borrow_mut();
            let runtime = runtimes
                .entry((reference.clone(), uid.clone()))
                .or_insert_with(|| PodRuntime {
                    start_at: now + self.start_latency(),
                    ip: None,
                    restart_at: None,
                });
            let mut status_changed = false;
            // Copied only when the kubelet changes the pod's status.
            let mut next = Arc::clone(&pod);
            let unpullable = (node_up && runtime.ip.is_none() && now >= runtime.start_at)
                .then(|| self.unpullable_image(&pod))
                .flatten();
            if let Some((container, image)) = unpullable {
                // The pod waits in ImagePullBackOff, without an address, until it is replaced.
                let waiting = json!([{
                    "name": container,
                    "image": image,
                    "ready": false,
                    "restartCount": 0,
                    "state": {"waiting": {
                        "reason": "ImagePullBackOff",
                        "message": format!("Back-off pulling image \"{image}\""),
                    }},
                }]);
                if pod.at("/status/containerStatuses") != Some(&waiting) {
                    Arc::make_mut(&mut next)["status"]["containerStatuses"] = waiting;
                    status_changed = true;
                }
            } else if node_up && runtime.ip.is_none() && now >= runtime.start_at {
                let ip = self.new_address();
                self.start_server(&reference.name, &ip, &launch);
                runtime.ip = Some(ip.clone());
                let status = &mut Arc::make_mut(&mut next)["status"];
                status["podIP"] = json!(ip);
                status["phase"] = json!("Running");
                status_changed = true;
            }
            if let Some(ip) = runtime.ip.clone() {
                let alive = self.redis.is_alive(&ip);
                if !node_up && alive {
                    self.redis.stop(&ip, StopCause::Fault);
                } else if node_up && !alive {
                    // The container stopped (a crash, or the node came back): restart it after
                    // the restart delay, at the same address.
                    match runtime.restart_at {
                        Some(at) if now >= at => {
                            self.start_server(&reference.name, &ip, &launch);
                            runtime.restart_at = None;
                        }
                        Some(_) => {}
                        None => runtime.restart_at = Some(now + RESTART_DELAY_MILLISECONDS),
                    }
                }
            }
            let ready = node_up
                && runtime
                    .ip
                    .as_ref()
                    .is_some_and(|ip| self.redis.answers_ping(ip));
            if pod_is_ready(&pod) != ready {
                Arc::make_mut(&mut next)["status"]["conditions"] = json!([{
                    "type": "Ready", "status": if ready { "True" } else { "False" },
                    "lastTransitionTime": redis_operator::ports::clock::rfc3339(now),
                }]);
                status_changed = true;
            }
            drop(runtimes);
            if status_changed {
                let _ = self.api.update(Arc::unwrap_or_clone(next));
            }
        }
        // Servers of pods that are gone stop.
        let gone: Vec<((ObjectRef, String), PodRuntime)> = self
            .runtimes
            .borrow()
            .iter()
            .filter(|(key, _)| !present.contains(*key))
            .map(|(key, runtime)| (key.clone(), runtime.clone()))
            .collect();
        for (key, runtime) in gone {
            // A pod a fault removed had its server stopped by the fault first.
            if let Some(ip) = &runtime.ip {
                self.redis.stop(ip, StopCause::Removal);
            }
            self.runtimes.borrow_mut().remove(&key);
        }
    }

    /// The first container of `pod` (init containers first) whose image the registry does not
    /// have (`cluster.missingImages`), with that image.
    fn unpullable_image(&self, pod: &Value) -> Option<(String, String)> {
        let settings = self.settings.borrow();
        if settings.missing_images.is_empty() {
            return None;
        }
        ["/spec/initContainers", "/spec/containers"]
            .iter()
            .filter_map(|field| pod.at(field).and_then(Value::as_array))
            .flatten()
            .find_map(|container| {
                let image = container.get("image").and_then(Value::as_str)?;
                settings
                    .missing_images
                    .iter()
                    .any(|missing| missing == image)
                    .then(|| {
                        let name = container.get("name").and_then(Value::as_str);
                        (name.unwrap_or("redis").to_owned(), image.to_owned())
                    })
            })
    }

    pub(crate) fn start_server(&self, pod: &str, ip: &str, launch: &Launch) {
        self.redis.start(
            pod,
            ip,
            launch.port,
            launch.kind,
            launch.keep_data,
            launch.keep_identity,
        );
    }

    pub(crate) fn stop_pod_server(&self, pod: &Value, cause: StopCause) {
        if let Some(ip) = pod.at("/status/podIP").and_then(Value::as_str) {
            self.redis.stop(ip, cause);
        }
    }

    /// A start latency drawn from the settings' range.
    pub(crate) fn start_latency(&self) -> Milliseconds {
        let settings = self.settings.borrow();
        let spread = settings
            .maximum_start_latency_milliseconds
            .saturating_sub(settings.minimum_start_latency_milliseconds);
        let jitter = if spread == 0 {
            0
        } else {
            self.random.next_below(spread / STEP_MILLISECONDS + 1) * STEP_MILLISECONDS
        };
        settings.minimum_start_latency_milliseconds + jitter
    }

    /// Crashes the server process of a pod; the kubelet restarts it at the same address after
    /// `down` milliseconds (at least its restart delay): a container that keeps crashing, or
    /// waits in CrashLoopBackOff, stays down that long.
    pub fn crash_process(&self, namespace: &str, name: &str, down: Milliseconds) -> bool {
        let reference = ObjectRef::new(ResourceType::Pod, namespace, name);
        match self.api.object(&reference) {
            Some(pod) if pod.at("/status/podIP").is_some() => {
                self.stop_pod_server(&pod, StopCause::Fault);
                let uid = pod["metadata"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if let Some(runtime) = self.runtimes.borrow_mut().get_mut(&(reference, uid)) {
                    runtime.restart_at =
                        Some(self.clock.now() + down.max(RESTART_DELAY_MILLISECONDS));
                }
                true
            }
            _ => false,
        }
    }

    /// Restarts a pod's crashed container at the next kubelet pass, however long it was to be
    /// held down; a running one is left alone.
    pub fn release_crash_loop(&self, namespace: &str, name: &str) {
        let reference = ObjectRef::new(ResourceType::Pod, namespace, name);
        let Some(pod) = self.api.object(&reference) else {
            return;
        };
        let uid = pod["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let now = self.clock.now();
        if let Some(runtime) = self.runtimes.borrow_mut().get_mut(&(reference, uid))
            && runtime.restart_at.is_some()
        {
            runtime.restart_at = Some(now);
        }
    }

    /// Deletes a pod as a crash or `kubectl delete pod` would: its server stops; the StatefulSet
    /// controller recreates it with a new address at the next step.
    pub fn kill_pod(&self, namespace: &str, name: &str) {
        let reference = ObjectRef::new(ResourceType::Pod, namespace, name);
        if let Some(pod) = self.api.object(&reference) {
            self.stop_pod_server(&pod, StopCause::Fault);
            let _ = self.api.remove_pod_now(&reference);
        }
    }
}
