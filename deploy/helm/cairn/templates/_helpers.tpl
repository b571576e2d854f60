{{/* Names, labels and the shared pieces of every Cairn container. */}}

{{- define "cairn.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "cairn.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "cairn.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cairn.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{- define "cairn.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "cairn.fullname" .)) -}}
{{- end -}}

{{- define "cairn.clickhouseSecretName" -}}
{{- .Values.clickhouse.existingSecret | default (printf "%s-clickhouse" (include "cairn.fullname" .)) -}}
{{- end -}}

{{- define "cairn.kafkaBootstrap" -}}
{{- if .Values.kafka.strimzi.enabled -}}
{{ include "cairn.fullname" . }}-kafka-bootstrap:9092
{{- else -}}
{{ .Values.kafka.bootstrapServers }}
{{- end -}}
{{- end -}}

{{/* The ClickHouse URL with credentials, composed by Kubernetes from the Secret's variables. */}}
{{- define "cairn.clickhouseUrl" -}}
{{- $url := .Values.clickhouse.url -}}
{{- if .Values.clickhouse.altinity.enabled -}}
{{- $url = printf "http://clickhouse-%s:8123/cairn" (include "cairn.fullname" .) -}}
{{- end -}}
{{- $parts := splitList "://" $url -}}
{{- printf "%s://$(CAIRN_CLICKHOUSE_USER):$(CAIRN_CLICKHOUSE_PASSWORD)@%s" (index $parts 0) (index $parts 1) -}}
{{- end -}}

{{- define "cairn.processorsReplicas" -}}
{{- $partitions := int .Values.kafka.eventsPartitions -}}
{{- $n := int .Values.processors.replicas -}}
{{- if eq $n 0 -}}
{{- $per := int .Values.processors.partitionsPerWorker -}}
{{- if lt $per 1 -}}{{- fail "processors.partitionsPerWorker must be at least 1" -}}{{- end -}}
{{- $n = div (add $partitions $per -1) $per -}}
{{- end -}}
{{- if gt $n $partitions -}}
{{- fail (printf "processors.replicas (%d) must not exceed kafka.eventsPartitions (%d): extra workers would idle" $n $partitions) -}}
{{- end -}}
{{- $n -}}
{{- end -}}

{{/* Environment every Cairn container gets. */}}
{{- define "cairn.env" -}}
- name: CAIRN_CLICKHOUSE_USER
  valueFrom:
    secretKeyRef:
      name: {{ include "cairn.clickhouseSecretName" . }}
      key: clickhouse-user
- name: CAIRN_CLICKHOUSE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "cairn.clickhouseSecretName" . }}
      key: clickhouse-password
- name: CAIRN_CLICKHOUSE_URL
  value: {{ include "cairn.clickhouseUrl" . | quote }}
- name: CAIRN_KAFKA_BOOTSTRAP
  value: {{ include "cairn.kafkaBootstrap" . | quote }}
- name: CAIRN_API_KEY_PEPPER
  valueFrom:
    secretKeyRef:
      name: {{ include "cairn.secretName" . }}
      key: api-key-pepper
- name: CAIRN_LOG_JSON
  value: "true"
- name: CAIRN_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: CAIRN_HOME
  value: /tmp/cairn
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod-level and container-level hardening shared by every Cairn pod. */}}
{{- define "cairn.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "cairn.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "cairn.podCommon" -}}
serviceAccountName: {{ include "cairn.fullname" . }}
automountServiceAccountToken: false
securityContext:
  {{- include "cairn.podSecurityContext" . | nindent 2 }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
