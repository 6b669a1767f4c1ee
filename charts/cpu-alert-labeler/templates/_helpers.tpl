{{/*
Names and labels shared by the templates.  The resource templates beside this file are
generated from the shipped manifests (testbed/platforms/chart.py); this file, secret.yaml and
validate.yaml are written by hand.
*/}}

{{/* The objects' name: the release name when it holds the chart's, else release-chart. */}}
{{- define "cal.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The pods' labels, which the Service, the Deployment and the PodMonitor select on. */}}
{{- define "cal.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cal.labels" -}}
{{ include "cal.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The Secret (key `token`) the function reads its webhook token from, in its namespace. */}}
{{- define "cal.tokenSecret" -}}
{{- .Values.webhookToken.secretName | default (printf "%s-token" (include "cal.fullname" .)) -}}
{{- end -}}

{{/* The Secret (key `token`) the AlertmanagerConfig sends, in monitoring.namespace. */}}
{{- define "cal.alertmanagerSecret" -}}
{{- .Values.monitoring.alertmanagerConfig.secretName | default (include "cal.fullname" .) -}}
{{- end -}}

{{/* The three alert names as one regular expression (they are plain names: see the schema). */}}
{{- define "cal.alertRegex" -}}
{{- printf "%s|%s|%s" .Values.alerts.normal .Values.alerts.moderate .Values.alerts.critical -}}
{{- end -}}

{{/* PromQL matchers for the namespaces the function may label (empty when it may label all). */}}
{{- define "cal.namespaceMatchers" -}}
{{- with .Values.namespaces.allow }}, namespace=~"{{ join "|" . }}"{{ end }}
{{- with .Values.namespaces.deny }}, namespace!~"{{ join "|" . }}"{{ end }}
{{- end -}}
