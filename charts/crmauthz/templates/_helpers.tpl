{{/* The release's name prefix: the release name, or crmauthz-… when it lacks it. */}}
{{- define "crmauthz.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "crmauthz.labels" -}}
app.kubernetes.io/name: crmauthz
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The pods of every shard: the webhook Service selects them all. */}}
{{- define "crmauthz.podSelector" -}}
app.kubernetes.io/name: crmauthz
app.kubernetes.io/instance: {{ .Release.Name }}
control-plane: controller-manager
{{- end -}}

{{/* The shards: the values' list, or one shard of every tenant. */}}
{{- define "crmauthz.shards" -}}
{{- if .Values.shards -}}
{{- toYaml .Values.shards -}}
{{- else -}}
- {name: "", selector: ""}
{{- end -}}
{{- end -}}

{{/* A shard's suffix for names: "" or -<name>. */}}
{{- define "crmauthz.shardSuffix" -}}
{{- if .name }}-{{ .name }}{{ end -}}
{{- end -}}

{{- define "crmauthz.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{- define "crmauthz.certName" -}}
{{ include "crmauthz.fullname" . }}-webhook-server-cert
{{- end -}}
