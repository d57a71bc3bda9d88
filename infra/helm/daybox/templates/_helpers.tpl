{{/* The chart's name. */}}
{{- define "daybox.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every resource name: the release name, with the chart name
appended unless the release name already contains it. Kept short enough for
the "-control-plane" suffix to stay a valid DNS label.
*/}}
{{- define "daybox.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 48 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 48 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 48 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Cluster-scoped objects (ClusterRoles and their bindings) carry the release's
namespace and name, so releases never collide.
*/}}
{{- define "daybox.clusterPrefix" -}}
{{- printf "%s-%s" .Release.Namespace (include "daybox.fullname" .) -}}
{{- end -}}

{{/* Where session and job pods run. */}}
{{- define "daybox.workloadNamespace" -}}
{{- default .Release.Namespace .Values.workloadNamespace -}}
{{- end -}}

{{- define "daybox.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "daybox.labels" -}}
helm.sh/chart: {{ include "daybox.chart" . }}
app.kubernetes.io/name: {{ include "daybox.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: daybox
{{- end -}}

{{/* Selector labels of one component: include "daybox.selectorLabels" (list . "agent"). */}}
{{- define "daybox.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "daybox.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "daybox.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The API's in-cluster URL (the control plane's Service). */}}
{{- define "daybox.apiServiceName" -}}
{{- printf "%s-api" (include "daybox.fullname" .) -}}
{{- end -}}
{{- define "daybox.apiUrl" -}}
{{- printf "http://%s.%s.svc:%v" (include "daybox.apiServiceName" .) .Release.Namespace .Values.controlPlane.service.port -}}
{{- end -}}

{{/* s3://bucket[/prefix] */}}
{{- define "daybox.snapshotRepo" -}}
{{- $prefix := trimAll "/" .Values.s3.prefix -}}
{{- if $prefix -}}
{{- printf "s3://%s/%s" .Values.s3.bucket $prefix -}}
{{- else -}}
{{- printf "s3://%s" .Values.s3.bucket -}}
{{- end -}}
{{- end -}}

{{/* Snapshot-storage env shared by the control plane and the agent. */}}
{{- define "daybox.s3Env" -}}
{{- if .Values.s3.bucket }}
- name: DAYBOX_SNAPSHOT_REPO
  value: {{ include "daybox.snapshotRepo" . | quote }}
{{- end }}
{{- if .Values.s3.endpoint }}
- name: DAYBOX_S3_ENDPOINT
  value: {{ .Values.s3.endpoint | quote }}
{{- end }}
{{- if .Values.s3.region }}
- name: AWS_REGION
  value: {{ .Values.s3.region | quote }}
{{- end }}
{{- if .Values.s3.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ .Values.s3.existingSecret }}
      key: {{ .Values.s3.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.s3.existingSecret }}
      key: {{ .Values.s3.secretAccessKeyKey }}
{{- end }}
{{- end -}}
