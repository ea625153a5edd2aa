{{/*
meshtrace.sidecar renders the meshtrace-sidecar container for an actor Deployment.

  containers:
    - name: runtime            # your actor's runtime, unchanged
      ...
      volumeMounts:
        - {name: asya-socket, mountPath: /var/run/asya}
    {{- include "meshtrace.sidecar" (dict "root" . "actor" "payments") | nindent 4 }}
  volumes:
    {{- include "meshtrace.sidecarVolume" . | nindent 4 }}

Keys of the dict: root (the chart context, required), actor (ASYA_ACTOR_NAME, required),
endActor (true for x-sink / x-sump), values (the meshtrace values when this chart is a
dependency: .Values.meshtrace; default root.Values).
*/}}
{{- define "meshtrace.sidecar" -}}
{{- $root := .root -}}
{{- $v := default $root.Values .values -}}
{{- $s := $v.sidecar -}}
- name: meshtrace-sidecar
  image: {{ include "meshtrace.image" (dict "root" $root "image" $s.image) }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  command: [/usr/local/bin/meshtrace-sidecar]
  env:
    - {name: ASYA_ACTOR_NAME, value: {{ required "meshtrace.sidecar: actor is required" .actor | quote }}}
    - {name: ASYA_NAMESPACE, value: {{ $s.namespace | quote }}}
    - {name: ASYA_TRANSPORT, value: kafka}
    - {name: ASYA_KAFKA_BROKERS, value: {{ $s.kafka.brokers | quote }}}
    - {name: ASYA_KAFKA_PROPERTIES, value: {{ $s.kafka.properties | quote }}}
    - {name: ASYA_SOCKET_DIR, value: {{ $s.socketDir | quote }}}
    - {name: ASYA_RESILIENCY_ACTOR_TIMEOUT, value: {{ $s.actorTimeout | quote }}}
    - {name: ASYA_RUNTIME_READY_TIMEOUT, value: {{ $s.readyTimeout | quote }}}
    - {name: ASYA_ACTOR_SINK, value: {{ $s.sinkActor | quote }}}
    - {name: ASYA_ACTOR_SUMP, value: {{ $s.sumpActor | quote }}}
    - {name: ASYA_IS_END_ACTOR, value: {{ default false .endActor | quote }}}
    - {name: ASYA_METRICS_ENABLED, value: {{ $s.metrics.enabled | quote }}}
    - {name: ASYA_METRICS_ADDR, value: {{ printf ":%v" $s.metrics.port | quote }}}
    - {name: ASYA_METRICS_NAMESPACE, value: {{ $s.metrics.namespace | quote }}}
    - {name: ASYA_LOG_LEVEL, value: {{ $s.logLevel | quote }}}
    - {name: MESHTRACE_COLLECTOR, value: {{ default (include "meshtrace.collector.address" $root) $s.collector | quote }}}
    {{- if $v.collector.apiToken.secretName }}
    - name: MESHTRACE_API_TOKEN
      valueFrom:
        secretKeyRef: {name: {{ $v.collector.apiToken.secretName }}, key: {{ $v.collector.apiToken.secretKey }}}
    {{- end }}
    - {name: MESHTRACE_COLLECTOR_CA, value: {{ ternary "/etc/meshtrace/collector-ca/ca.crt" "" (ne $s.collectorCA.secretName "") | quote }}}
    - {name: MESHTRACE_CAPTURE, value: {{ $s.capture | quote }}}
    - {name: MESHTRACE_CAPTURE_MAX_BYTES, value: {{ $s.captureMaxBytes | quote }}}
    {{- if and $s.redact (not $s.redactKey.secretName) }}
    {{- fail "sidecar.redact needs sidecar.redactKey.secretName: redaction without a secret key can be reversed by enumeration" }}
    {{- end }}
    - {name: MESHTRACE_REDACT, value: {{ $s.redact | quote }}}
    {{- if $s.redactKey.secretName }}
    - name: MESHTRACE_REDACT_KEY
      valueFrom:
        secretKeyRef: {name: {{ $s.redactKey.secretName }}, key: {{ $s.redactKey.secretKey }}}
    {{- end }}
    - {name: MESHTRACE_EVENT_BUFFER, value: {{ $s.eventBuffer | quote }}}
    - {name: MESHTRACE_EVENT_BUFFER_BYTES, value: {{ $s.eventBufferBytes | quote }}}
    - {name: MESHTRACE_INVOKE_PIPELINE, value: {{ $s.invokePipeline | quote }}}
  {{- if $s.metrics.enabled }}
  ports:
    - {name: metrics, containerPort: {{ $s.metrics.port }}, protocol: TCP}
  livenessProbe:
    httpGet: {path: /health, port: metrics}
    initialDelaySeconds: 10
    periodSeconds: 10
  readinessProbe:
    httpGet: {path: /health, port: metrics}
    periodSeconds: 5
  {{- end }}
  resources:
    {{- toYaml $s.resources | nindent 4 }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    capabilities: {drop: [ALL]}
  volumeMounts:
    - {name: asya-socket, mountPath: {{ $s.socketDir }}}
    {{- if $s.collectorCA.secretName }}
    - {name: meshtrace-collector-ca, mountPath: /etc/meshtrace/collector-ca, readOnly: true}
    {{- end }}
{{- end -}}

{{/* The socket directory shared by the runtime and the sidecar (and the collector's CA). */}}
{{- define "meshtrace.sidecarVolume" -}}
{{- $v := default .Values .values -}}
- name: asya-socket
  emptyDir: {}
{{- if $v.sidecar.collectorCA.secretName }}
- name: meshtrace-collector-ca
  secret:
    secretName: {{ $v.sidecar.collectorCA.secretName }}
    items: [{key: {{ $v.sidecar.collectorCA.secretKey }}, path: ca.crt}]
{{- end }}
{{- end -}}
