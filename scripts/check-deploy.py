#!/usr/bin/env python3
"""Renders every kustomization and the Helm chart (defaults and value variants) and checks the
results offline: the YAML parses, the expected kinds and only those are there, the CRDs are exactly
the generated files in crds/, the RBAC rules are the same everywhere, and every object is
structurally sound (names, namespaces, selectors that select, ports and roles that exist, the pod
security settings). Server-side validation against the API schemas needs a control plane; this
checks what can be checked without one.

Called by scripts/check-deploy, which finds or installs the tools and passes them as
KUSTOMIZE (a command that takes a directory) and HELM (the helm binary).
"""

import json
import os
import re
import shlex
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(ROOT, "deploy", "helm", "redis-operator")
CRD_DIRECTORY = os.path.join(ROOT, "crds")
OPERATOR_NAMESPACE = "redis-operator"
# Helm built from source without release flags assumes Kubernetes 1.20; render for a current one.
KUBERNETES_VERSION = "v1.34.0"
API_GROUP = "redis.redis.opstreelabs.in"
KEEP_ANNOTATION = "helm.sh/resource-policy"

CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
KNOWN_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
READ_VERBS = {"get", "list", "watch"}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")

failures = []
checks = 0


def check(condition, message):
    """Records a failed check; the script reports every failure, then exits non-zero."""
    global checks
    checks += 1
    if not condition:
        failures.append(message)
    return condition


def run(command, expect_failure=False):
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if expect_failure:
        return result
    if result.returncode != 0:
        sys.stderr.write(
            f"check-deploy: failed to run {' '.join(shlex.quote(part) for part in command)}:\n"
            f"{result.stderr}\n"
        )
        sys.exit(1)
    return result


def parse(text, source):
    try:
        documents = [document for document in yaml.safe_load_all(text) if document is not None]
    except yaml.YAMLError as error:
        failures.append(f"{source}: the output does not parse as YAML: {error}")
        return []
    for document in documents:
        check(isinstance(document, dict), f"{source}: a document is not a mapping: {document!r:.80}")
    return [document for document in documents if isinstance(document, dict)]


def keep_rendering(source, text):
    """Writes a rendering to $RENDERED_DIRECTORY (when set), so that the control-plane tests can
    validate the very manifests checked here against a real API server."""
    directory = os.environ.get("RENDERED_DIRECTORY")
    if not directory:
        return
    os.makedirs(directory, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", source).strip("-").lower()[:80]
    index = len(os.listdir(directory))
    with open(os.path.join(directory, f"{index:02}-{slug}.yaml"), "w") as rendered:
        rendered.write(text)


def kustomize(directory):
    command = shlex.split(os.environ["KUSTOMIZE"]) + [os.path.join(ROOT, directory)]
    output = run(command).stdout
    keep_rendering(f"kustomize {directory}", output)
    return parse(output, f"kustomize {directory}")


def helm_command(values):
    command = [os.environ["HELM"], "template", "redis-operator", CHART, "--namespace", OPERATOR_NAMESPACE,
               "--kube-version", KUBERNETES_VERSION]
    for key, value in values.items():
        command += ["--set-json", f"{key}={json.dumps(value)}"]
    return command


def helm(values):
    source = f"helm template {values or '(defaults)'}"
    output = run(helm_command(values)).stdout
    keep_rendering(source, output)
    return parse(output, source)


def describe(document):
    metadata = document.get("metadata") or {}
    namespace = metadata.get("namespace")
    where = f"{namespace}/" if namespace else ""
    return f"{document.get('kind')} {where}{metadata.get('name')}"


def of_kind(documents, kind):
    return [document for document in documents if document.get("kind") == kind]


def one(documents, kind, source, name=None):
    found = [
        document
        for document in of_kind(documents, kind)
        if name is None or document["metadata"].get("name") == name
    ]
    check(len(found) == 1, f"{source}: expected one {kind}{' ' + name if name else ''}, found {len(found)}")
    return found[0] if found else {}


def kind_counts(documents):
    counts = {}
    for document in documents:
        counts[document.get("kind")] = counts.get(document.get("kind"), 0) + 1
    return counts


def generated_crds():
    """The CRD files of crds/, by name, and the names the directory's kustomization lists."""
    files = sorted(
        name for name in os.listdir(CRD_DIRECTORY) if name.endswith(".yaml") and name != "kustomization.yaml"
    )
    crds = {}
    for name in files:
        with open(os.path.join(CRD_DIRECTORY, name)) as handle:
            for document in yaml.safe_load_all(handle):
                crds[document["metadata"]["name"]] = document
    with open(os.path.join(CRD_DIRECTORY, "kustomization.yaml")) as handle:
        listed = sorted(yaml.safe_load(handle).get("resources") or [])
    check(
        listed == files,
        f"crds/kustomization.yaml lists {listed} but crds/ holds {files}: list every generated CRD file",
    )
    check(len(crds) == 4, f"crds/ holds {len(crds)} CRDs, expected the four kinds")
    return crds


def normalized_rules(rules):
    """Rules as a set of (group, resource, verb) grants, so that equal permissions compare equal
    however they are grouped."""
    grants = set()
    for rule in rules or []:
        for group in rule.get("apiGroups") or []:
            for resource in rule.get("resources") or []:
                for verb in rule.get("verbs") or []:
                    grants.add((group, resource, verb))
    return grants


def check_rules(rules, source):
    grants = normalized_rules(rules)
    for rule in rules or []:
        check(
            set(rule) <= {"apiGroups", "resources", "verbs", "resourceNames"},
            f"{source}: a rule has unknown fields {sorted(set(rule))}",
        )
        for field in ("apiGroups", "resources", "verbs"):
            check(isinstance(rule.get(field), list) and rule.get(field), f"{source}: a rule lacks {field}")
    for group, resource, verb in grants:
        check(verb in KNOWN_VERBS, f"{source}: unknown verb {verb!r} on {resource}")
        check("*" not in (group, resource, verb), f"{source}: wildcard grant ({group!r}, {resource!r}, {verb!r})")
        check(resource != "pods/exec", f"{source}: pods/exec is granted; the operator never execs into pods")
        if resource == "secrets":
            check(verb in READ_VERBS, f"{source}: secrets are granted {verb!r}; the operator only reads them")
    return grants


def check_object(document, source, rendered):
    """Checks one rendered object on its own and against the others it refers to."""
    name = describe(document)
    where = f"{source}: {name}"
    check(isinstance(document.get("apiVersion"), str) and document["apiVersion"], f"{where}: no apiVersion")
    metadata = document.get("metadata")
    if not check(isinstance(metadata, dict) and metadata.get("name"), f"{where}: no metadata.name"):
        return
    pattern = DNS_LABEL if document["kind"] in ("Namespace", "Service") else DNS_SUBDOMAIN
    check(pattern.match(metadata["name"]) is not None, f"{where}: {metadata['name']!r} is not a valid name")
    if document["kind"] in CLUSTER_SCOPED:
        check("namespace" not in metadata, f"{where}: a cluster-scoped object names a namespace")
    else:
        namespace = metadata.get("namespace")
        check(
            isinstance(namespace, str) and DNS_LABEL.match(namespace) is not None,
            f"{where}: a namespaced object without a valid namespace",
        )
    for key, value in (metadata.get("labels") or {}).items():
        check(LABEL_KEY.match(key) is not None, f"{where}: label key {key!r} is invalid")
        check(
            isinstance(value, str) and LABEL_VALUE.match(value) is not None,
            f"{where}: label {key}={value!r} is not a valid label value",
        )
    for key, value in (metadata.get("annotations") or {}).items():
        check(isinstance(value, str), f"{where}: annotation {key} is not a string")
    checker = OBJECT_CHECKS.get(document["kind"])
    if checker:
        checker(document, where, rendered)


def find(rendered, kind, name, namespace=None):
    return [
        document
        for document in rendered
        if document.get("kind") == kind
        and document["metadata"].get("name") == name
        and (namespace is None or document["metadata"].get("namespace") == namespace)
    ]


def selects(selector, labels):
    return bool(selector) and all((labels or {}).get(key) == value for key, value in selector.items())


def check_deployment(document, where, rendered):
    spec = document.get("spec") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    template = spec.get("template") or {}
    pod_labels = (template.get("metadata") or {}).get("labels") or {}
    check(selects(selector, pod_labels), f"{where}: spec.selector does not select the pod template's labels")
    pod = template.get("spec") or {}
    account = pod.get("serviceAccountName")
    check(bool(account), f"{where}: no serviceAccountName")
    namespace = document["metadata"].get("namespace")
    if of_kind(rendered, "ServiceAccount"):
        check(find(rendered, "ServiceAccount", account, namespace), f"{where}: ServiceAccount {account} is not rendered")
    pod_security = pod.get("securityContext") or {}
    check(pod_security.get("runAsNonRoot") is True, f"{where}: the pod does not require runAsNonRoot")
    check(
        (pod_security.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
        f"{where}: the pod's seccompProfile is not RuntimeDefault",
    )
    containers = pod.get("containers") or []
    check(len(containers) == 1, f"{where}: expected one container, found {len(containers)}")
    for container in containers:
        cwhere = f"{where}: container {container.get('name')}"
        image = container.get("image") or ""
        check(re.match(r"^[^:@\s]+(:[\w][\w.-]{0,127})(@sha256:[0-9a-f]{64})?$", image) is not None,
              f"{cwhere}: image {image!r} has no tag")
        check(container.get("imagePullPolicy") in ("Always", "IfNotPresent", "Never"),
              f"{cwhere}: imagePullPolicy {container.get('imagePullPolicy')!r}")
        args = container.get("args") or []
        check(args[:1] == ["run"], f"{cwhere}: the first argument is not the run command: {args}")
        for argument in args[1:]:
            check(isinstance(argument, str) and argument.startswith("--"), f"{cwhere}: argument {argument!r} is not a flag")
        ports = {port.get("name"): port for port in container.get("ports") or []}
        for port in ports.values():
            check(isinstance(port.get("containerPort"), int) and 0 < port["containerPort"] < 65536,
                  f"{cwhere}: port {port.get('name')} has no valid containerPort")
            check(DNS_LABEL.match(port.get("name") or "") is not None and len(port["name"]) <= 15,
                  f"{cwhere}: port name {port.get('name')!r} is not a valid port name")
        check(set(ports) == {"metrics", "health"}, f"{cwhere}: ports {sorted(ports)}, expected metrics and health")
        for probe_name, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            probe = (container.get(probe_name) or {}).get("httpGet") or {}
            check(probe.get("path") == path, f"{cwhere}: {probe_name} does not get {path}")
            check(probe.get("port") in ports, f"{cwhere}: {probe_name} port {probe.get('port')!r} is not a container port")
        metrics_address = [argument for argument in args if argument.startswith("--metrics-address=")]
        health_address = [argument for argument in args if argument.startswith("--health-address=")]
        if "metrics" in ports:
            check(metrics_address == [f"--metrics-address=0.0.0.0:{ports['metrics']['containerPort']}"],
                  f"{cwhere}: --metrics-address {metrics_address} does not match the metrics port")
        if "health" in ports:
            check(health_address == [f"--health-address=0.0.0.0:{ports['health']['containerPort']}"],
                  f"{cwhere}: --health-address {health_address} does not match the health port")
        security = container.get("securityContext") or {}
        check(security.get("allowPrivilegeEscalation") is False, f"{cwhere}: allowPrivilegeEscalation is not false")
        check(security.get("readOnlyRootFilesystem") is True, f"{cwhere}: readOnlyRootFilesystem is not true")
        check(security.get("runAsNonRoot") is True, f"{cwhere}: runAsNonRoot is not true")
        check((security.get("capabilities") or {}).get("drop") == ["ALL"], f"{cwhere}: capabilities do not drop ALL")
        check((security.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
              f"{cwhere}: seccompProfile is not RuntimeDefault")
        resources = container.get("resources") or {}
        check(bool((resources.get("requests") or {}).get("memory")), f"{cwhere}: no memory request")
        check(bool((resources.get("limits") or {}).get("memory")), f"{cwhere}: no memory limit")
        environment = {variable.get("name"): variable for variable in container.get("env") or []}
        for argument in args:
            for reference in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", argument):
                check(reference in environment, f"{cwhere}: argument {argument} refers to unset ${reference}")


def check_service(document, where, rendered):
    spec = document.get("spec") or {}
    selector = spec.get("selector") or {}
    namespace = document["metadata"].get("namespace")
    targets = [
        deployment
        for deployment in of_kind(rendered, "Deployment")
        if deployment["metadata"].get("namespace") == namespace
        and selects(selector, deployment["spec"]["template"]["metadata"].get("labels"))
    ]
    if not check(len(targets) == 1, f"{where}: the selector {selector} selects {len(targets)} Deployments' pods"):
        return
    container_ports = {
        port.get("name")
        for container in targets[0]["spec"]["template"]["spec"]["containers"]
        for port in container.get("ports") or []
    }
    for port in spec.get("ports") or []:
        check(isinstance(port.get("port"), int), f"{where}: port {port.get('name')} has no number")
        check(port.get("targetPort") in container_ports,
              f"{where}: targetPort {port.get('targetPort')!r} is not a port of the selected container")


def check_binding(document, where, rendered):
    reference = document.get("roleRef") or {}
    check(reference.get("apiGroup") == "rbac.authorization.k8s.io", f"{where}: roleRef.apiGroup")
    namespace = document["metadata"].get("namespace")
    if reference.get("kind") == "Role":
        check(document["kind"] == "RoleBinding", f"{where}: a ClusterRoleBinding cannot refer to a Role")
        check(find(rendered, "Role", reference.get("name"), namespace),
              f"{where}: refers to Role {namespace}/{reference.get('name')}, which is not rendered")
    else:
        check(reference.get("kind") == "ClusterRole", f"{where}: roleRef.kind {reference.get('kind')!r}")
        check(find(rendered, "ClusterRole", reference.get("name")),
              f"{where}: refers to ClusterRole {reference.get('name')}, which is not rendered")
    subjects = document.get("subjects") or []
    check(len(subjects) == 1, f"{where}: expected one subject, found {len(subjects)}")
    for subject in subjects:
        check(subject.get("kind") == "ServiceAccount", f"{where}: subject kind {subject.get('kind')!r}")
        deployments = of_kind(rendered, "Deployment")
        check(
            any(
                deployment["spec"]["template"]["spec"].get("serviceAccountName") == subject.get("name")
                and deployment["metadata"].get("namespace") == subject.get("namespace")
                for deployment in deployments
            ),
            f"{where}: subject {subject.get('namespace')}/{subject.get('name')} is not the operator's ServiceAccount",
        )


def check_role(document, where, rendered):
    check_rules(document.get("rules"), where)


def check_service_monitor(document, where, rendered):
    spec = document.get("spec") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    namespace = document["metadata"].get("namespace")
    services = [
        service
        for service in of_kind(rendered, "Service")
        if service["metadata"].get("namespace") == namespace and selects(selector, service["metadata"].get("labels"))
    ]
    if not check(len(services) == 1, f"{where}: the selector {selector} matches {len(services)} Services"):
        return
    service_ports = {port.get("name") for port in services[0]["spec"].get("ports") or []}
    endpoints = spec.get("endpoints") or []
    check(len(endpoints) == 1, f"{where}: expected one endpoint")
    for endpoint in endpoints:
        check(endpoint.get("port") in service_ports, f"{where}: endpoint port {endpoint.get('port')!r} is not a Service port")
        check(endpoint.get("path") == "/metrics", f"{where}: endpoint path {endpoint.get('path')!r}")
    check((spec.get("namespaceSelector") or {}).get("matchNames") == [namespace], f"{where}: namespaceSelector")


OBJECT_CHECKS = {
    "Deployment": check_deployment,
    "Service": check_service,
    "RoleBinding": check_binding,
    "ClusterRoleBinding": check_binding,
    "Role": check_role,
    "ClusterRole": check_role,
    "ServiceMonitor": check_service_monitor,
}


def check_all_objects(documents, source):
    seen = set()
    for document in documents:
        key = (document.get("kind"), (document.get("metadata") or {}).get("namespace"),
               (document.get("metadata") or {}).get("name"))
        check(key not in seen, f"{source}: {describe(document)} is rendered twice")
        seen.add(key)
        check_object(document, source, documents)


def check_crds(documents, source, crds, keep):
    rendered = {document["metadata"]["name"]: document for document in of_kind(documents, "CustomResourceDefinition")}
    check(sorted(rendered) == sorted(crds), f"{source}: CRDs {sorted(rendered)}, expected {sorted(crds)}")
    for name, expected in crds.items():
        if name not in rendered:
            continue
        actual = json.loads(json.dumps(rendered[name]))
        annotations = actual["metadata"].get("annotations") or {}
        if keep:
            check(annotations.get(KEEP_ANNOTATION) == "keep", f"{source}: CRD {name} lacks {KEEP_ANNOTATION}: keep")
        else:
            check(KEEP_ANNOTATION not in annotations, f"{source}: CRD {name} has {KEEP_ANNOTATION} though crds.keep is off")
        annotations.pop(KEEP_ANNOTATION, None)
        if not annotations:
            actual["metadata"].pop("annotations", None)
        check(actual == expected, f"{source}: CRD {name} differs from crds/{name.split('.')[0]}…yaml")


def container_args(documents, source):
    deployment = one(documents, "Deployment", source)
    if not deployment:
        return []
    return deployment["spec"]["template"]["spec"]["containers"][0].get("args") or []


def check_image_build():
    """The Dockerfile's build context holds every workspace member and the final stage runs the
    binary as the non-root user the pod security settings expect (the image itself cannot be
    built without a container runtime)."""
    with open(os.path.join(ROOT, ".dockerignore")) as handle:
        ignored = {line.strip().rstrip("/") for line in handle if line.strip() and not line.startswith("#")}
    with open(os.path.join(ROOT, "Cargo.toml")) as handle:
        manifest = handle.read()
    members = re.search(r"^members = \[([^\]]*)\]", manifest, re.MULTILINE).group(1)
    needed = {"Cargo.toml", "Cargo.lock", "src"} | {
        member.strip().strip('"') for member in members.split(",") if member.strip() not in ("", '"."')
    }
    for path in sorted(needed):
        check(path not in ignored, f".dockerignore leaves out {path}, which the build needs")
    with open(os.path.join(ROOT, "Dockerfile")) as handle:
        lines = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    final_stage = lines[max(index for index, line in enumerate(lines) if line.startswith("FROM ")):]
    check(final_stage[0].startswith("FROM gcr.io/distroless/static"), f"Dockerfile: final stage {final_stage[0]!r}")
    check("USER 65532:65532" in final_stage, "Dockerfile: the final stage does not run as 65532:65532")
    check('ENTRYPOINT ["/redis-operator"]' in final_stage, "Dockerfile: the entrypoint is not /redis-operator")
    check('CMD ["run"]' in final_stage, "Dockerfile: the default command is not run")
    check(any("crt-static" in line for line in lines), "Dockerfile: the binary is not linked statically")


# The keys a values file of the reference operator's chart (v0.19.0 to v0.26.0) sets.
REFERENCE_CHART_VALUES = {
    "redisOperator": {"name": "redis-operator", "imageName": "quay.io/opstree/redis-operator",
                      "imageTag": "", "imagePullPolicy": "Always", "watchNamespace": "",
                      "webhook": False, "metrics": {"enabled": True, "bindAddress": ":8080"}},
    "replicas": 1,
    "rbac": {"enabled": True, "scope": "cluster"},
    "serviceAccountName": "redis-operator",
    "certmanager": {"enabled": False},
    "tolerateAllTaints": False,
    "featureGates": {"GenerateConfigInInitContainer": False},
}


def main():
    check_image_build()
    crds = generated_crds()

    # deploy/crds: exactly the generated files.
    documents = kustomize("deploy/crds")
    check_crds(documents, "kustomize deploy/crds", crds, keep=False)
    check(kind_counts(documents) == {"CustomResourceDefinition": 4}, f"kustomize deploy/crds: kinds {kind_counts(documents)}")

    # The base: every namespace watched.
    source = "kustomize deploy/kustomize/base"
    base = kustomize("deploy/kustomize/base")
    expected = {
        "CustomResourceDefinition": 4, "Namespace": 1, "ServiceAccount": 1, "ClusterRole": 1,
        "ClusterRoleBinding": 1, "Role": 1, "RoleBinding": 1, "Deployment": 1, "Service": 1,
    }
    check(kind_counts(base) == expected, f"{source}: kinds {kind_counts(base)}, expected {expected}")
    check_crds(base, source, crds, keep=False)
    check_all_objects(base, source)
    for document in base:
        if document["kind"] not in CLUSTER_SCOPED:
            check(document["metadata"].get("namespace") == OPERATOR_NAMESPACE, f"{source}: {describe(document)} outside {OPERATOR_NAMESPACE}")
    base_rules = normalized_rules(one(base, "ClusterRole", source).get("rules"))
    lease_rules = normalized_rules(one(base, "Role", source).get("rules"))
    check(lease_rules == {("coordination.k8s.io", "leases", verb) for verb in ("get", "create", "update")},
          f"{source}: the leader-election Role grants {sorted(lease_rules)}")
    args = container_args(base, source)
    check(not any(argument.startswith("--namespace") for argument in args), f"{source}: the base limits namespaces: {args}")
    check("--leader-election" in args, f"{source}: leader election is off: {args}")

    # The overlay: one namespace, no cluster-wide permissions besides the CRDs.
    source = "kustomize deploy/kustomize/overlays/single-namespace"
    overlay = kustomize("deploy/kustomize/overlays/single-namespace")
    check_all_objects(overlay, source)
    check(not of_kind(overlay, "ClusterRole") and not of_kind(overlay, "ClusterRoleBinding"),
          f"{source}: cluster-wide RBAC is rendered")
    role = find(overlay, "Role", "redis-operator", "redis")
    check(len(role) == 1 and normalized_rules(role[0].get("rules")) == base_rules,
          f"{source}: the Role in namespace redis does not carry the base's rules")
    check(find(overlay, "RoleBinding", "redis-operator", "redis"), f"{source}: no RoleBinding in namespace redis")
    check("--namespace=redis" in container_args(overlay, source), f"{source}: the operator does not watch namespace redis")
    check_crds(overlay, source, crds, keep=False)

    # The chart, with its defaults and with variants.
    lint = run([os.environ["HELM"], "lint", "--strict", CHART, "--namespace", OPERATOR_NAMESPACE,
                "--kube-version", KUBERNETES_VERSION], expect_failure=True)
    check(lint.returncode == 0, f"helm lint --strict failed:\n{lint.stdout}{lint.stderr}")

    source = "helm template (defaults)"
    chart = helm({})
    check_all_objects(chart, source)
    expected = {
        "CustomResourceDefinition": 4, "ServiceAccount": 1, "ClusterRole": 1, "ClusterRoleBinding": 1,
        "Role": 1, "RoleBinding": 1, "Deployment": 1, "Service": 1,
    }
    check(kind_counts(chart) == expected, f"{source}: kinds {kind_counts(chart)}, expected {expected}")
    check_crds(chart, source, crds, keep=True)
    check(normalized_rules(one(chart, "ClusterRole", source).get("rules")) == base_rules,
          f"{source}: the ClusterRole's rules differ from deploy/kustomize/base/cluster-role.yaml")
    check(normalized_rules(one(chart, "Role", source).get("rules")) == lease_rules,
          f"{source}: the leader-election Role differs from the kustomize base's")
    args = container_args(chart, source)
    with open(os.path.join(CHART, "Chart.yaml")) as handle:
        app_version = yaml.safe_load(handle)["appVersion"]
    deployment = one(chart, "Deployment", source)
    if deployment:
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        check(image == f"redis-operator:{app_version}", f"{source}: image {image}, expected the appVersion tag")
    for flag in ("--log-format=json", "--log-level=info", "--leader-election",
                 f"--lease-namespace={OPERATOR_NAMESPACE}"):
        check(flag in args, f"{source}: {flag} missing from {args}")
    check(not any(argument.startswith("--namespace") for argument in args), f"{source}: namespaces limited by default")
    with open(os.path.join(ROOT, "Cargo.toml")) as handle:
        crate_version = re.search(r'^version = "([^"]+)"', handle.read(), re.MULTILINE).group(1)
    check(app_version == crate_version, f"Chart.yaml appVersion {app_version} differs from the crate version {crate_version}")

    source = "helm template watchNamespaces=[team-a,team-b]"
    chart = helm({"watchNamespaces": ["team-a", "team-b"]})
    check_all_objects(chart, source)
    check(not of_kind(chart, "ClusterRole") and not of_kind(chart, "ClusterRoleBinding"), f"{source}: cluster-wide RBAC rendered")
    for namespace in ("team-a", "team-b"):
        role = find(chart, "Role", "redis-operator", namespace)
        check(len(role) == 1 and normalized_rules(role[0].get("rules")) == base_rules,
              f"{source}: no Role with the operator's rules in {namespace}")
        check(find(chart, "RoleBinding", "redis-operator", namespace), f"{source}: no RoleBinding in {namespace}")
    check("--namespace=team-a,team-b" in container_args(chart, source), f"{source}: --namespace not passed")

    source = "helm template metrics.serviceMonitor.enabled=true"
    chart = helm({"metrics.serviceMonitor.enabled": True, "metrics.serviceMonitor.labels": {"release": "prometheus"}})
    check_all_objects(chart, source)
    monitor = one(chart, "ServiceMonitor", source)
    check(monitor.get("apiVersion") == "monitoring.coreos.com/v1", f"{source}: ServiceMonitor apiVersion")
    check((monitor.get("metadata") or {}).get("labels", {}).get("release") == "prometheus", f"{source}: extra labels missing")

    source = "helm template metrics.enabled=false"
    chart = helm({"metrics.enabled": False})
    check_all_objects(chart, source)
    check(not of_kind(chart, "Service") and not of_kind(chart, "ServiceMonitor"), f"{source}: a metrics Service is rendered")

    source = "helm template leaderElection.enabled=false"
    chart = helm({"leaderElection.enabled": False})
    check_all_objects(chart, source)
    args = container_args(chart, source)
    check("--no-leader-election" in args and "--leader-election" not in args, f"{source}: args {args}")
    check(not any(argument.startswith("--lease-namespace") for argument in args), f"{source}: a lease namespace is passed")
    check(not of_kind(chart, "Role"), f"{source}: a leader-election Role is rendered")
    deployment = one(chart, "Deployment", source)
    check((deployment.get("spec") or {}).get("strategy", {}).get("type") == "Recreate",
          f"{source}: without a Lease the Deployment must not run two pods during a rollout")

    source = "helm template crds.install=false, serviceAccount.create=false, custom image"
    chart = helm({"crds.install": False, "serviceAccount.create": False, "serviceAccount.name": "operator",
                  "image.repository": "registry.example/redis-operator", "image.tag": "1.2.3",
                  "imagePullSecrets": [{"name": "registry-credentials"}], "replicaCount": 2,
                  "leaderElection.namespace": "coordination", "logFormat": "text", "logLevel": "debug",
                  "nodeSelector": {"kubernetes.io/os": "linux"},
                  "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "operators", "effect": "NoSchedule"}]})
    check_all_objects(chart, source)
    check(not of_kind(chart, "CustomResourceDefinition") and not of_kind(chart, "ServiceAccount"),
          f"{source}: kinds {kind_counts(chart)}")
    deployment = one(chart, "Deployment", source)
    if deployment:
        pod = deployment["spec"]["template"]["spec"]
        check(pod["containers"][0]["image"] == "registry.example/redis-operator:1.2.3", f"{source}: image")
        check(pod.get("serviceAccountName") == "operator", f"{source}: serviceAccountName")
        check(pod.get("imagePullSecrets") == [{"name": "registry-credentials"}], f"{source}: imagePullSecrets")
        check(pod.get("nodeSelector") == {"kubernetes.io/os": "linux"}, f"{source}: nodeSelector")
        check(len(pod.get("tolerations") or []) == 1, f"{source}: tolerations")
        check(deployment["spec"].get("replicas") == 2, f"{source}: replicas")
        args = pod["containers"][0]["args"]
        for flag in ("--log-format=text", "--log-level=debug", "--lease-namespace=coordination"):
            check(flag in args, f"{source}: {flag} missing from {args}")
    check(find(chart, "Role", "redis-operator-leader-election", "coordination"), f"{source}: no lease Role in coordination")

    source = "helm template crds.keep=false"
    check_crds(helm({"crds.keep": False}), source, crds, keep=False)

    # Values the chart refuses, with a message naming the value.
    for values, message in (
        ({"replicaCount": 2, "leaderElection.enabled": False}, "replicaCount above 1 needs leaderElection.enabled"),
        ({"watchNamespaces": ["Team_A"]}, "watchNamespaces"),
        ({"watchNamespaces": ["team-a", "team-a"]}, "listed twice"),
        ({"metrics.enabled": False, "metrics.serviceMonitor.enabled": True}, "metrics.serviceMonitor.enabled needs metrics.enabled"),
        ({"logFormat": "xml"}, "logFormat"),
        ({"serviceAccount.create": False}, "serviceAccount.name is required"),
        # values.schema.json: unknown keys and values outside their enumerations.
        ({"replicaCount2": 3}, "replicaCount2"),
        ({"image.pullPolicy": "Sometimes"}, "/image/pullPolicy"),
        # A values file written for the reference operator's chart names what to use instead.
        (REFERENCE_CHART_VALUES, "replicas (use replicaCount); "),
        (REFERENCE_CHART_VALUES, "redisOperator.imageName (use image.repository)"),
        (REFERENCE_CHART_VALUES, "redisOperator.watchNamespace (use watchNamespaces, a list)"),
        (REFERENCE_CHART_VALUES, "rbac.scope (use watchNamespaces"),
    ):
        result = run(helm_command(values), expect_failure=True)
        check(result.returncode != 0 and message in result.stderr,
              f"helm template {values}: expected a failure mentioning {message!r}, got exit {result.returncode}: {result.stderr.strip()[:300]}")

    if failures:
        sys.stderr.write(f"check-deploy: {len(failures)} of {checks} checks failed:\n")
        for failure in failures:
            sys.stderr.write(f"  - {failure}\n")
        sys.exit(1)
    print(f"check-deploy: {checks} checks passed (Dockerfile, 3 kustomizations, 8 chart renderings, 12 refused value sets, helm lint)")


if __name__ == "__main__":
    main()
