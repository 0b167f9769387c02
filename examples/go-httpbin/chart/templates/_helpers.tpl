{{/* The selector labels: the same on the pods, the Deployment's selector and the Service's. */}}
{{- define "go-httpbin.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "go-httpbin.labels" -}}
{{ include "go-httpbin.selector" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
