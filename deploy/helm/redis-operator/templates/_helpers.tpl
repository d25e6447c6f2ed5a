{{/* Name of the chart's objects' application. */}}
{{- define "redis-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, prefixed to the chart name unless it already contains it. */}}
{{- define "redis-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "redis-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the operator's pods; they never change over a release's life. */}}
{{- define "redis-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "redis-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object of the release. */}}
{{- define "redis-operator.labels" -}}
helm.sh/chart: {{ include "redis-operator.chart" . }}
{{ include "redis-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: redis-operator
{{- end }}

{{- define "redis-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "redis-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "redis-operator.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace }}
{{- end }}

{{/*
The watched namespaces, checked: DNS labels, each once. Renders them comma-separated.
*/}}
{{- define "redis-operator.watchNamespaces" -}}
{{- $seen := dict }}
{{- range .Values.watchNamespaces }}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" (toString .)) }}
{{- fail (printf "watchNamespaces: %q is not a namespace name" (toString .)) }}
{{- end }}
{{- if hasKey $seen . }}
{{- fail (printf "watchNamespaces: %q is listed twice" .) }}
{{- end }}
{{- $_ := set $seen . true }}
{{- end }}
{{- join "," .Values.watchNamespaces }}
{{- end }}

{{/*
What the operator may do in a watched namespace (or in all of them): exactly what the reconcile
does. Server-side apply is authorized as `patch`, and also as `create` when the object does not
exist yet, so `create` is granted only for the kinds the operator creates. No pods/exec: Redis is
driven over its own protocol. Secrets are only read. The same rules as
deploy/kustomize/base/cluster-role.yaml; scripts/check-deploy fails when they differ.
*/}}
{{- define "redis-operator.rules" -}}
- apiGroups: [redis.redis.opstreelabs.in]
  resources: [redis, redisreplications, redissentinels, redisclusters]
  verbs: [get, list, watch, patch]
- apiGroups: [redis.redis.opstreelabs.in]
  resources: [redis/status, redisreplications/status, redissentinels/status, redisclusters/status]
  verbs: [patch]
- apiGroups: [redis.redis.opstreelabs.in]
  resources: [redis/finalizers, redisreplications/finalizers, redissentinels/finalizers, redisclusters/finalizers]
  verbs: [update]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, patch, delete]
- apiGroups: [""]
  resources: [pods/eviction]
  verbs: [create]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list, watch, patch, delete]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/*
Values of the reference operator's chart, which this chart does not read: rendering fails and
names what to use instead, so that a values file written for that chart is never half applied.
The chart's README ("Coming from the reference chart") gives the same mapping.
*/}}
{{- define "redis-operator.refuseReferenceValues" -}}
{{- $noWebhook := "no counterpart: no admission webhook runs, the operator checks each CR and says why in its status" }}
{{- $top := dict
  "replicas" "use replicaCount"
  "serviceAccountName" "use serviceAccount.name"
  "tolerateAllTaints" "use tolerations: [{operator: Exists}]"
  "service" $noWebhook
  "certificate" $noWebhook
  "issuer" $noWebhook
  "certmanager" $noWebhook
  "featureGates" "no counterpart: the operator renders each configuration into a ConfigMap and never runs redis-cli in a pod"
  "manager" "no counterpart: the operator's Kubernetes client needs no timeout, rate or concurrency settings"
}}
{{- $operator := dict
  "name" "use fullnameOverride"
  "imageName" "use image.repository"
  "imageTag" "use image.tag"
  "imagePullPolicy" "use image.pullPolicy"
  "imagePullSecrets" "use imagePullSecrets"
  "podAnnotations" "use podAnnotations"
  "podLabels" "use podLabels"
  "extraArgs" "use extraArgs, with the flags of redis-operator run --help"
  "env" "use extraEnv"
  "watchNamespace" "use watchNamespaces, a list"
  "metrics" "use metrics.enabled and metrics.port"
  "initContainerImageTag" "no counterpart: the operator's pods have no init container"
  "strategy" "no counterpart: RollingUpdate with leader election, Recreate without"
  "serviceDNSDomain" "no counterpart: the operator reaches pods by address"
  "webhook" $noWebhook
  "automountServiceAccountToken" "no counterpart: the operator needs its token"
  "pprof" "no counterpart"
}}
{{- $found := list }}
{{- range $key := keys $top | sortAlpha }}
{{- if hasKey $.Values $key }}
{{- $found = append $found (printf "%s (%s)" $key (get $top $key)) }}
{{- end }}
{{- end }}
{{- if hasKey .Values "redisOperator" }}
{{- range $key := keys (.Values.redisOperator | default dict) | sortAlpha }}
{{- $found = append $found (printf "redisOperator.%s (%s)" $key (get $operator $key | default "no counterpart")) }}
{{- end }}
{{- end }}
{{- if hasKey .Values.rbac "enabled" }}
{{- $found = append $found "rbac.enabled (use rbac.create)" }}
{{- end }}
{{- if hasKey .Values.rbac "scope" }}
{{- $found = append $found "rbac.scope (use watchNamespaces: a Role in each listed namespace instead of a ClusterRole)" }}
{{- end }}
{{- if hasKey .Values.serviceAccount "automountServiceAccountToken" }}
{{- $found = append $found "serviceAccount.automountServiceAccountToken (no counterpart: the operator needs its token)" }}
{{- end }}
{{- if $found }}
{{- fail (printf "values of the reference operator's chart, which this chart does not read: %s; see the chart's README, \"Coming from the reference chart\"" (join "; " $found)) }}
{{- end }}
{{- end }}
