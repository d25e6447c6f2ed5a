//! Reading a scenario: YAML text to a checked [`Scenario`], every error naming the field it is
//! about (`steps[3].fault: ...`). Never panics.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::{
    Action, ConditionExpectation, DEFAULT_CONVERGE_TIMEOUT_SECONDS, EventExpectation, Expectations,
    Fault, FieldExpectation, LinkEnd, NodeChoice, PodChoice, ReplyChannel, ScenarioError, Step,
    Target, WriteCount,
};
use crate::fakes::scheduler::{Node, Resources, Taint, scaled_quantity};

/// The speed of a `slow-sync` fault that names none: a dataset of a few hundred keys takes
/// seconds to transfer and as long to load.
const DEFAULT_SLOW_SYNC_KEYS_PER_SECOND: u64 = 100;

pub(super) struct Reader<'a> {
    pub(super) file: &'a str,
    pub(super) directory: PathBuf,
}

impl Reader<'_> {
    pub(super) fn error(&self, field: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        }
    }

    pub(super) fn object<'v>(
        &self,
        value: &'v Value,
        field: &str,
        allowed: &[&str],
    ) -> Result<&'v serde_json::Map<String, Value>, ScenarioError> {
        let map = value
            .as_object()
            .ok_or_else(|| self.error(field, "must be a mapping"))?;
        if let Some(unknown) = map.keys().find(|key| !allowed.contains(&key.as_str())) {
            return Err(self.error(
                &format!("{field}.{unknown}"),
                format!("unknown field (expected one of: {})", allowed.join(", ")),
            ));
        }
        Ok(map)
    }

    pub(super) fn text(&self, value: Option<&Value>, field: &str) -> Result<String, ScenarioError> {
        match value {
            Some(Value::String(text)) => Ok(text.clone()),
            Some(_) => Err(self.error(field, "must be a string")),
            None => Err(self.error(field, "is required")),
        }
    }

    pub(super) fn number(
        &self,
        value: Option<&Value>,
        field: &str,
    ) -> Result<Option<u64>, ScenarioError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.error(field, "must be a whole number of at least 0")),
        }
    }

    pub(super) fn size(&self, value: Option<&Value>, field: &str) -> Result<usize, ScenarioError> {
        let number = self
            .number(value, field)?
            .ok_or_else(|| self.error(field, "is required"))?;
        usize::try_from(number).map_err(|_| self.error(field, "is too large"))
    }

    pub(super) fn target(
        &self,
        value: Option<&Value>,
        field: &str,
    ) -> Result<Target, ScenarioError> {
        let text = self.text(value, field)?;
        let parts: Vec<&str> = text.split('/').collect();
        let (kind, namespace, name) = match parts.as_slice() {
            [kind, name] => (*kind, "default", *name),
            [kind, namespace, name] => (*kind, *namespace, *name),
            _ => {
                return Err(self.error(
                    field,
                    format!("{text:?} must be Kind/name or Kind/namespace/name"),
                ));
            }
        };
        if redis_operator::api::Kind::from_name(kind).is_none() {
            return Err(self.error(
                field,
                format!(
                    "{kind:?} is not one of Redis, RedisReplication, RedisSentinel, RedisCluster"
                ),
            ));
        }
        if name.is_empty() || namespace.is_empty() {
            return Err(self.error(field, format!("{text:?} has an empty name or namespace")));
        }
        Ok(Target {
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        })
    }

    pub(super) fn resources(
        &self,
        value: &Value,
        field: &str,
    ) -> Result<Vec<(String, String)>, ScenarioError> {
        let items = value
            .as_array()
            .ok_or_else(|| self.error(field, "must be a list of {file: PATH} or {inline: YAML}"))?;
        let mut resources = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let field = format!("{field}[{index}]");
            let map = self.object(item, &field, &["file", "inline"])?;
            match (map.get("file"), map.get("inline")) {
                (Some(file), None) => {
                    let relative = self.text(Some(file), &format!("{field}.file"))?;
                    let path = self.directory.join(&relative);
                    let text = std::fs::read_to_string(&path).map_err(|error| {
                        self.error(
                            &format!("{field}.file"),
                            format!("failed to read {}: {error}", path.display()),
                        )
                    })?;
                    resources.push((relative, text));
                }
                (None, Some(inline)) => {
                    let text = self.text(Some(inline), &format!("{field}.inline"))?;
                    resources.push((format!("{}#{field}", self.file), text));
                }
                _ => return Err(self.error(&field, "needs exactly one of file and inline")),
            }
        }
        Ok(resources)
    }

    pub(super) fn pod(
        &self,
        value: &serde_json::Map<String, Value>,
        field: &str,
    ) -> Result<PodChoice, ScenarioError> {
        if let Some(pod) = value.get("pod") {
            return Ok(PodChoice::Named(
                self.text(Some(pod), &format!("{field}.pod"))?,
            ));
        }
        let target = self.target(value.get("target"), &format!("{field}.target"))?;
        let role = match value.get("role") {
            None => "any".to_owned(),
            Some(role) => self.text(Some(role), &format!("{field}.role"))?,
        };
        if !["any", "master", "replica"].contains(&role.as_str()) {
            return Err(self.error(
                &format!("{field}.role"),
                format!("{role:?} is not one of any, master, replica"),
            ));
        }
        Ok(PodChoice::Random { target, role })
    }

    pub(super) fn node(
        &self,
        value: &serde_json::Map<String, Value>,
        field: &str,
    ) -> Result<NodeChoice, ScenarioError> {
        if let Some(node) = value.get("node") {
            return Ok(NodeChoice::Named(
                self.text(Some(node), &format!("{field}.node"))?,
            ));
        }
        if value.contains_key("pod") || value.contains_key("role") {
            return Ok(NodeChoice::OfPod(self.pod(value, field)?));
        }
        match value.get("target") {
            Some(target) => Ok(NodeChoice::Random(Some(
                self.target(Some(target), &format!("{field}.target"))?,
            ))),
            None => Ok(NodeChoice::Random(None)),
        }
    }

    /// The pods a fault names: `pods: [..]` by name, or one pod as [`Self::pod`] reads it.
    fn pods(
        &self,
        map: &serde_json::Map<String, Value>,
        field: &str,
    ) -> Result<Vec<PodChoice>, ScenarioError> {
        Ok(match map.get("pods") {
            Some(Value::Array(pods)) => pods
                .iter()
                .enumerate()
                .map(|(index, pod)| {
                    self.text(Some(pod), &format!("{field}.pods[{index}]"))
                        .map(PodChoice::Named)
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => {
                return Err(self.error(&format!("{field}.pods"), "must be a list of pod names"));
            }
            None => vec![self.pod(map, field)?],
        })
    }

    pub(super) fn fault(
        &self,
        map: &serde_json::Map<String, Value>,
        field: &str,
    ) -> Result<Fault, ScenarioError> {
        let name = self.text(map.get("fault"), &format!("{field}.fault"))?;
        let fault = match name.as_str() {
            "pod-kill" => Fault::PodKill(self.pod(map, field)?),
            "process-crash" => Fault::ProcessCrash(self.pod(map, field)?),
            "node-crash" => Fault::NodeCrash(self.node(map, field)?),
            "node-drain" => Fault::NodeDrain(self.node(map, field)?),
            "partition-operator" => Fault::PartitionOperator(self.pods(map, field)?),
            "partition-clients" => Fault::PartitionClients(self.pods(map, field)?),
            "partition-sentinels" => Fault::PartitionSentinels(self.pod(map, field)?),
            "watch-gone" => Fault::WatchGone,
            "isolate-pod" => Fault::IsolatePod(self.pod(map, field)?),
            "operator-crash" => match map.get("afterWrites") {
                Some(Value::String(text)) if text == "random" => {
                    Fault::OperatorCrash(WriteCount::Random(16))
                }
                value => Fault::OperatorCrash(WriteCount::Exactly(
                    self.size(value, &format!("{field}.afterWrites"))?,
                )),
            },
            "operator-pause" => Fault::OperatorPause,
            "stale-reads" => Fault::StaleReads,
            "api-outage" => Fault::ApiOutage,
            "slow-sync" => {
                let field = format!("{field}.keysPerSecond");
                let keys_per_second = self
                    .number(map.get("keysPerSecond"), &field)?
                    .unwrap_or(DEFAULT_SLOW_SYNC_KEYS_PER_SECOND);
                if keys_per_second == 0 {
                    return Err(self.error(&field, "must be at least 1"));
                }
                Fault::SlowSync { keys_per_second }
            }
            "lost-reply" => {
                let through = match map.get("through") {
                    None => ReplyChannel::Any,
                    Some(value) => {
                        let field = format!("{field}.through");
                        let name = self.text(Some(value), &field)?;
                        ReplyChannel::named(&name).ok_or_else(|| {
                            self.error(&field, format!("{name:?} is not one of redis, api, any"))
                        })?
                    }
                };
                let count = match map.get("count") {
                    None => 1,
                    value => self.size(value, &format!("{field}.count"))?,
                };
                Fault::LostReply { through, count }
            }
            "clock-skew" => {
                let field = format!("{field}.seconds");
                let seconds = match map.get("seconds") {
                    Some(value) => value.as_i64().ok_or_else(|| {
                        self.error(
                            &field,
                            "must be a whole number of seconds (negative: behind)",
                        )
                    })?,
                    None => return Err(self.error(&field, "is required")),
                };
                if seconds == 0 {
                    return Err(self.error(&field, "must not be 0"));
                }
                Fault::ClockSkew { seconds }
            }
            "latency" => {
                let between_field = format!("{field}.between");
                let ends = match map.get("between") {
                    Some(Value::Array(ends)) if ends.len() == 2 => ends,
                    Some(_) => {
                        return Err(self.error(
                            &between_field,
                            "must list two ends: operator, a pod name, or {target, role}",
                        ));
                    }
                    None => return Err(self.error(&between_field, "is required")),
                };
                let end =
                    |index: usize| -> Result<LinkEnd, ScenarioError> {
                        let field = format!("{between_field}[{index}]");
                        match &ends[index] {
                            Value::String(name) if name == "operator" => Ok(LinkEnd::Operator),
                            Value::String(name) => Ok(LinkEnd::Pod(PodChoice::Named(name.clone()))),
                            Value::Object(choice) => {
                                self.object(&ends[index], &field, &["pod", "target", "role"])?;
                                Ok(LinkEnd::Pod(self.pod(choice, &field)?))
                            }
                            _ => Err(self
                                .error(&field, "must be operator, a pod name, or {target, role}")),
                        }
                    };
                let between = [end(0)?, end(1)?];
                if between == [LinkEnd::Operator, LinkEnd::Operator] {
                    return Err(self.error(&between_field, "must name at least one pod"));
                }
                let steps_field = format!("{field}.steps");
                let steps = self
                    .number(map.get("steps"), &steps_field)?
                    .ok_or_else(|| self.error(&steps_field, "is required"))?;
                if steps == 0 {
                    return Err(self.error(&steps_field, "must be at least 1"));
                }
                Fault::Latency { between, steps }
            }
            "api-errors" => {
                let verb = self.text(map.get("verb"), &format!("{field}.verb"))?;
                let verbs = [
                    "apply",
                    "apply-status",
                    "delete",
                    "evict",
                    "event",
                    "remove-finalizer",
                    "get",
                    "list",
                ];
                if !verbs.contains(&verb.as_str()) {
                    return Err(self.error(
                        &format!("{field}.verb"),
                        format!("{verb:?} is not one of {}", verbs.join(", ")),
                    ));
                }
                let error = match map.get("error") {
                    None => "transient".to_owned(),
                    Some(value) => self.text(Some(value), &format!("{field}.error"))?,
                };
                if !["conflict", "transient", "too-many-requests"].contains(&error.as_str()) {
                    return Err(self.error(
                        &format!("{field}.error"),
                        format!("{error:?} is not one of conflict, transient, too-many-requests"),
                    ));
                }
                let resource = match map.get("resource") {
                    None => None,
                    Some(value) => Some(self.text(Some(value), &format!("{field}.resource"))?),
                };
                Fault::ApiErrors {
                    verb,
                    resource,
                    error,
                    count: match map.get("count") {
                        None => 1,
                        value => self.size(value, &format!("{field}.count"))?,
                    },
                }
            }
            other => {
                return Err(self.error(
                    &format!("{field}.fault"),
                    format!("unknown fault {other:?} (expected one of: pod-kill, process-crash, node-crash, node-drain, partition-operator, partition-clients, partition-sentinels, isolate-pod, operator-crash, operator-pause, stale-reads, api-errors, api-outage, slow-sync, lost-reply, watch-gone, latency, clock-skew)"),
                ));
            }
        };
        Ok(fault)
    }

    pub(super) fn expectations(
        &self,
        value: &Value,
        field: &str,
    ) -> Result<Expectations, ScenarioError> {
        let map = self.object(
            value,
            field,
            &[
                "ready",
                "notReady",
                "masters",
                "lostKeys",
                "absent",
                "present",
                "rejected",
                "events",
                "conditions",
                "fields",
            ],
        )?;
        let mut expectations = Expectations::default();
        let list = |key: &str| -> Result<Vec<Value>, ScenarioError> {
            match map.get(key) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => Ok(items.clone()),
                Some(_) => Err(self.error(&format!("{field}.{key}"), "must be a list")),
            }
        };
        for (index, item) in list("ready")?.iter().enumerate() {
            expectations
                .ready
                .push(self.target(Some(item), &format!("{field}.ready[{index}]"))?);
        }
        for (index, item) in list("notReady")?.iter().enumerate() {
            expectations
                .not_ready
                .push(self.target(Some(item), &format!("{field}.notReady[{index}]"))?);
        }
        for (index, item) in list("events")?.iter().enumerate() {
            let field = format!("{field}.events[{index}]");
            expectations
                .events
                .push(self.event_expectation(item, &field)?);
        }
        for (index, item) in list("conditions")?.iter().enumerate() {
            let field = format!("{field}.conditions[{index}]");
            expectations
                .conditions
                .push(self.condition_expectation(item, &field)?);
        }
        for (index, item) in list("fields")?.iter().enumerate() {
            let field = format!("{field}.fields[{index}]");
            expectations
                .fields
                .push(self.field_expectation(item, &field)?);
        }
        for (index, item) in list("rejected")?.iter().enumerate() {
            expectations
                .rejected
                .push(self.target(Some(item), &format!("{field}.rejected[{index}]"))?);
        }
        if let Some(masters) = map.get("masters") {
            let masters = masters.as_object().ok_or_else(|| {
                self.error(
                    &format!("{field}.masters"),
                    "must be a mapping of Kind/name to a count",
                )
            })?;
            for (key, count) in masters {
                let target = self.target(
                    Some(&Value::String(key.clone())),
                    &format!("{field}.masters"),
                )?;
                let count = self.size(Some(count), &format!("{field}.masters.{key}"))?;
                expectations.masters.insert(target, count);
            }
        }
        if let Some(lost) = map.get("lostKeys") {
            expectations.lost_keys = Some(self.size(Some(lost), &format!("{field}.lostKeys"))?);
        }
        for (key, into) in [
            ("absent", &mut expectations.absent),
            ("present", &mut expectations.present),
        ] {
            for (index, item) in list(key)?.iter().enumerate() {
                into.push(self.object_name(Some(item), &format!("{field}.{key}[{index}]"))?);
            }
        }
        Ok(expectations)
    }

    /// An object of any type named `Kind/namespace/name`.
    fn object_name(&self, value: Option<&Value>, field: &str) -> Result<String, ScenarioError> {
        let text = self.text(value, field)?;
        if text.split('/').count() != 3 || text.split('/').any(str::is_empty) {
            return Err(self.error(field, format!("{text:?} must be Kind/namespace/name")));
        }
        Ok(text)
    }

    /// An optional string field.
    fn optional_text(
        &self,
        map: &serde_json::Map<String, Value>,
        key: &str,
        field: &str,
    ) -> Result<Option<String>, ScenarioError> {
        map.get(key)
            .map(|value| self.text(Some(value), &format!("{field}.{key}")))
            .transpose()
    }

    fn event_expectation(
        &self,
        value: &Value,
        field: &str,
    ) -> Result<EventExpectation, ScenarioError> {
        let map = self.object(
            value,
            field,
            &[
                "target",
                "reason",
                "type",
                "messageContains",
                "count",
                "since",
            ],
        )?;
        let since_previous_expect = match self.optional_text(map, "since", field)?.as_deref() {
            None | Some("start") => false,
            Some("previous-expect") => true,
            Some(other) => {
                return Err(self.error(
                    &format!("{field}.since"),
                    format!("{other:?} is not start or previous-expect"),
                ));
            }
        };
        let event_type = self.optional_text(map, "type", field)?;
        if let Some(event_type) = &event_type
            && event_type != "Normal"
            && event_type != "Warning"
        {
            return Err(self.error(
                &format!("{field}.type"),
                format!("{event_type:?} is not Normal or Warning"),
            ));
        }
        Ok(EventExpectation {
            target: self.target(map.get("target"), &format!("{field}.target"))?,
            reason: self.text(map.get("reason"), &format!("{field}.reason"))?,
            event_type,
            message_contains: self.optional_text(map, "messageContains", field)?,
            count: map
                .get("count")
                .map(|count| self.size(Some(count), &format!("{field}.count")))
                .transpose()?,
            since_previous_expect,
        })
    }

    fn condition_expectation(
        &self,
        value: &Value,
        field: &str,
    ) -> Result<ConditionExpectation, ScenarioError> {
        let map = self.object(
            value,
            field,
            &["target", "type", "status", "reason", "messageContains"],
        )?;
        let condition_type = self.text(map.get("type"), &format!("{field}.type"))?;
        if !["Ready", "Progressing", "Degraded"].contains(&condition_type.as_str()) {
            return Err(self.error(
                &format!("{field}.type"),
                format!("{condition_type:?} is not one of Ready, Progressing, Degraded"),
            ));
        }
        let status = match map.get("status") {
            Some(Value::Bool(status)) => *status,
            Some(Value::String(text)) if text == "True" => true,
            Some(Value::String(text)) if text == "False" => false,
            Some(_) => {
                return Err(self.error(&format!("{field}.status"), "must be True or False"));
            }
            None => return Err(self.error(&format!("{field}.status"), "is required")),
        };
        Ok(ConditionExpectation {
            target: self.target(map.get("target"), &format!("{field}.target"))?,
            condition_type,
            status,
            reason: self.optional_text(map, "reason", field)?,
            message_contains: self.optional_text(map, "messageContains", field)?,
        })
    }

    fn field_expectation(
        &self,
        value: &Value,
        field: &str,
    ) -> Result<FieldExpectation, ScenarioError> {
        let map = self.object(value, field, &["object", "path", "equals", "absent"])?;
        let path = self.text(map.get("path"), &format!("{field}.path"))?;
        if !path.starts_with('/') {
            return Err(self.error(
                &format!("{field}.path"),
                format!("{path:?} must be a JSON pointer starting with /"),
            ));
        }
        let equals = match (map.get("equals"), map.get("absent")) {
            (Some(value), None) => Some(value.clone()),
            (None, Some(Value::Bool(true))) => None,
            (None, Some(_)) => {
                return Err(self.error(&format!("{field}.absent"), "must be true"));
            }
            _ => {
                return Err(self.error(field, "needs exactly one of equals, absent: true"));
            }
        };
        Ok(FieldExpectation {
            object: self.object_name(map.get("object"), &format!("{field}.object"))?,
            path,
            equals,
        })
    }

    pub(super) fn step(&self, value: &Value, index: usize) -> Result<Step, ScenarioError> {
        let field = format!("steps[{index}]");
        let actions = [
            "wait", "converge", "apply", "patch", "delete", "write", "workload", "fault", "heal",
            "expect",
        ];
        let map = value
            .as_object()
            .ok_or_else(|| self.error(&field, "must be a mapping"))?;
        let Some(action) = actions.iter().find(|action| map.contains_key(**action)) else {
            return Err(self.error(
                &field,
                format!("names no action (expected one of: {})", actions.join(", ")),
            ));
        };
        let jitter = self
            .number(map.get("jitter"), &format!("{field}.jitter"))?
            .unwrap_or(0);
        let duration = self
            .number(map.get("duration"), &format!("{field}.duration"))?
            .unwrap_or(0);
        let mut allowed: Vec<&str> = vec![action, "jitter"];
        let value = &map[*action];
        let action = match *action {
            "wait" => Action::Wait(
                self.number(Some(value), &format!("{field}.wait"))?
                    .ok_or_else(|| self.error(&format!("{field}.wait"), "is required"))?,
            ),
            "converge" => {
                let timeout = match value {
                    Value::Null => None,
                    Value::Object(options) => {
                        self.object(value, &format!("{field}.converge"), &["timeout"])?;
                        self.number(options.get("timeout"), &format!("{field}.converge.timeout"))?
                    }
                    other => self.number(Some(other), &format!("{field}.converge"))?,
                };
                Action::Converge(timeout.unwrap_or(DEFAULT_CONVERGE_TIMEOUT_SECONDS))
            }
            "apply" => Action::Apply(self.resources(value, &format!("{field}.apply"))?),
            "patch" => {
                let options = self.object(
                    value,
                    &format!("{field}.patch"),
                    &["target", "spec", "metadata"],
                )?;
                Action::Patch {
                    target: self.target(options.get("target"), &format!("{field}.patch.target"))?,
                    spec: options.get("spec").cloned().unwrap_or(Value::Null),
                    metadata: options.get("metadata").cloned().unwrap_or(Value::Null),
                }
            }
            "delete" => Action::Delete(self.target(Some(value), &format!("{field}.delete"))?),
            "write" => {
                let options = self.object(value, &format!("{field}.write"), &["target", "keys"])?;
                Action::Write {
                    target: self.target(options.get("target"), &format!("{field}.write.target"))?,
                    keys: self.size(options.get("keys"), &format!("{field}.write.keys"))?,
                }
            }
            "workload" => {
                let options = self.object(
                    value,
                    &format!("{field}.workload"),
                    &["target", "keysPerSecond"],
                )?;
                Action::Workload {
                    target: self
                        .target(options.get("target"), &format!("{field}.workload.target"))?,
                    per_second: self.size(
                        options.get("keysPerSecond"),
                        &format!("{field}.workload.keysPerSecond"),
                    )?,
                }
            }
            "fault" => {
                allowed.extend([
                    "duration",
                    "pod",
                    "pods",
                    "node",
                    "target",
                    "role",
                    "afterWrites",
                    "verb",
                    "resource",
                    "error",
                    "count",
                    "keysPerSecond",
                    "through",
                    "seconds",
                    "between",
                    "steps",
                ]);
                Action::Fault {
                    fault: self.fault(map, &field)?,
                    duration,
                }
            }
            "heal" => Action::Heal,
            _ => Action::Expect(self.expectations(value, &format!("{field}.expect"))?),
        };
        self.object(&Value::Object(map.clone()), &field, &allowed)?;
        Ok(Step {
            index,
            action,
            jitter,
        })
    }
}

impl Reader<'_> {
    pub(super) fn nodes(&self, value: &Value) -> Result<Vec<Node>, ScenarioError> {
        let items = value
            .as_array()
            .ok_or_else(|| self.error("cluster.nodes", "must be a list"))?;
        let mut nodes: Vec<Node> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let field = format!("cluster.nodes[{index}]");
            let map = self.object(
                item,
                &field,
                &["name", "zone", "labels", "taints", "allocatable"],
            )?;
            let name = self.text(map.get("name"), &format!("{field}.name"))?;
            if nodes.iter().any(|node| node.name == name) {
                return Err(self.error(
                    &format!("{field}.name"),
                    format!("{name:?} is listed twice"),
                ));
            }
            let zone = match map.get("zone") {
                Some(zone) => self.text(Some(zone), &format!("{field}.zone"))?,
                None => "zone-a".to_owned(),
            };
            let mut node = Node::new(&name, &zone);
            if let Some(labels) = map.get("labels") {
                let labels: BTreeMap<String, String> = serde_json::from_value(labels.clone())
                    .map_err(|_| {
                        self.error(&format!("{field}.labels"), "must map strings to strings")
                    })?;
                node.labels.extend(labels);
            }
            if let Some(taints) = map.get("taints") {
                let taints = taints
                    .as_array()
                    .ok_or_else(|| self.error(&format!("{field}.taints"), "must be a list"))?;
                for (position, taint) in taints.iter().enumerate() {
                    let taint_field = format!("{field}.taints[{position}]");
                    let taint_map =
                        self.object(taint, &taint_field, &["key", "value", "effect"])?;
                    let effect =
                        self.text(taint_map.get("effect"), &format!("{taint_field}.effect"))?;
                    if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect.as_str()) {
                        return Err(self.error(
                            &format!("{taint_field}.effect"),
                            format!(
                                "{effect:?} is not one of NoSchedule, PreferNoSchedule, NoExecute"
                            ),
                        ));
                    }
                    node.taints.push(Taint {
                        key: self.text(taint_map.get("key"), &format!("{taint_field}.key"))?,
                        value: match taint_map.get("value") {
                            Some(value) => {
                                self.text(Some(value), &format!("{taint_field}.value"))?
                            }
                            None => String::new(),
                        },
                        effect,
                    });
                }
            }
            if let Some(allocatable) = map.get("allocatable") {
                node.allocatable =
                    self.allocatable(allocatable, &format!("{field}.allocatable"))?;
            }
            nodes.push(node);
        }
        if nodes.is_empty() {
            return Err(self.error("cluster.nodes", "must list at least one node"));
        }
        Ok(nodes)
    }

    /// `{cpu: QUANTITY, memory: QUANTITY, pods: N}`, each defaulting to what every node offers.
    fn allocatable(&self, value: &Value, field: &str) -> Result<Resources, ScenarioError> {
        let map = self.object(value, field, &["cpu", "memory", "pods"])?;
        let quantity = |name: &str, scale: f64, default: u64| -> Result<u64, ScenarioError> {
            let field = format!("{field}.{name}");
            match map.get(name) {
                None => Ok(default),
                Some(value) => {
                    let text = self.text(Some(value), &field)?;
                    scaled_quantity(&text, scale).ok_or_else(|| {
                        self.error(
                            &field,
                            format!(
                                "{text:?} is not a quantity such as \"4\", \"500m\" or \"8Gi\""
                            ),
                        )
                    })
                }
            }
        };
        let default = Resources::DEFAULT_ALLOCATABLE;
        Ok(Resources {
            cpu_millicores: quantity("cpu", 1000.0, default.cpu_millicores)?,
            memory_bytes: quantity("memory", 1.0, default.memory_bytes)?,
            pods: self
                .number(map.get("pods"), &format!("{field}.pods"))?
                .unwrap_or(default.pods),
        })
    }
}
