{{/* The chart's name, or nameOverride. */}}
{{- define "image-rewriter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name: the release name alone when it already holds the chart's name (a release
`image-rewriter` gives the names of deploy/serve.yaml), else RELEASE-NAME; at most 63 characters,
the Service's name being a DNS label.
*/}}
{{- define "image-rewriter.fullname" -}}
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

{{- define "image-rewriter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* What the Deployment, PodDisruptionBudget, Service and NetworkPolicy select. */}}
{{- define "image-rewriter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "image-rewriter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "image-rewriter.labels" -}}
helm.sh/chart: {{ include "image-rewriter.chart" . }}
{{ include "image-rewriter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: webhook
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "image-rewriter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "image-rewriter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
repository:tag, or repository@digest. A tag written unquoted in a values file reaches the template
as a float64 (Helm reads values through JSON): a whole number is written as one (20241201, not
toString's 2.0241201e+07), any other is refused, its text lost (1.10 is 1.1), and so is one from
2^53 up, which a float64 may hold rounded (9007199254740993 is read 9007199254740992). The tag 0
is a tag (default would take it for empty); a negative number is refused by values.schema.json.
*/}}
{{- define "image-rewriter.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- $tag := .Values.image.tag }}
{{- if or (kindIs "invalid" $tag) (eq (toString $tag) "") }}
{{- $tag = .Chart.AppVersion }}
{{- end }}
{{- if kindIs "float64" $tag }}
{{- if or (ne (float64 (int64 $tag)) $tag) (ge $tag 9007199254740992.0) }}
{{- fail (printf "image.tag %v is a number, not the tag as you wrote it (YAML reads 1.10 as the number 1.1): quote it in your values file (tag: \"1.10\"), or use --set-string" $tag) }}
{{- end }}
{{- $tag = printf "%d" (int64 $tag) }}
{{- end }}
{{- printf "%s:%s" .Values.image.repository (toString $tag) }}
{{- end }}
{{- end }}

{{- define "image-rewriter.rulesConfigMap" -}}
{{- default (printf "%s-rules" (include "image-rewriter.fullname" .)) .Values.rules.existingConfigMap }}
{{- end }}

{{- define "image-rewriter.tokenSecret" -}}
{{- default (printf "%s-token" (include "image-rewriter.fullname" .)) .Values.token.existingSecret }}
{{- end }}

{{- define "image-rewriter.tlsSecret" -}}
{{- if eq .Values.tls.mode "secret" }}
{{- required "tls.mode secret needs tls.existingSecret: a kubernetes.io/tls Secret in the release's namespace" .Values.tls.existingSecret }}
{{- else }}
{{- printf "%s-tls" (include "image-rewriter.fullname" .) }}
{{- end }}
{{- end }}

{{/* The name the API server checks serve's certificate for. */}}
{{- define "image-rewriter.serviceHost" -}}
{{- printf "%s.%s.svc" (include "image-rewriter.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
The state several templates must agree on, computed once per render and kept in a dict under
.Values (the one map every template of a render shares): the webhook token (the token Secret's data,
the webhook's path, the Deployment's checksum) and, with tls.mode generate, the certificate and its
CA (the TLS Secret, the webhook's caBundle). Existing Secrets are read with lookup, which is empty
under `helm template` and client-side dry runs: the generated values are then new at each render.
*/}}
{{- define "image-rewriter.state" -}}
{{- if not (hasKey .Values "__imageRewriterState") }}
{{- $state := dict }}
{{- $fullname := include "image-rewriter.fullname" . }}
{{- /* The token. */}}
{{- $tokenSecret := lookup "v1" "Secret" .Release.Namespace (include "image-rewriter.tokenSecret" .) }}
{{- $stored := "" }}
{{- if and $tokenSecret $tokenSecret.data (hasKey $tokenSecret.data "token") }}
{{- $stored = index $tokenSecret.data "token" | b64dec | trim }}
{{- end }}
{{- if .Values.token.existingSecret }}
{{- $_ := set $state "tokenValue" $stored }}
{{- else }}
{{- $_ := set $state "tokenValue" (default (randAlphaNum 48 | lower) $stored) }}
{{- end }}
{{- /* NEW,OLD during a rotation: the path keeps OLD, which the running Pods and the restarted ones both accept. */}}
{{- $_ := set $state "pathToken" (splitList "," $state.tokenValue | last | trim) }}
{{- /* The certificate. */}}
{{- if eq .Values.tls.mode "generate" }}
{{- $tls := lookup "v1" "Secret" .Release.Namespace (printf "%s-tls" $fullname) }}
{{- if and $tls $tls.data (hasKey $tls.data "ca.crt") (hasKey $tls.data "tls.crt") (hasKey $tls.data "tls.key") }}
{{- $_ := set $state "tlsCrt" (index $tls.data "tls.crt") }}
{{- $_ := set $state "tlsKey" (index $tls.data "tls.key") }}
{{- $_ := set $state "caCrt" (index $tls.data "ca.crt") }}
{{- else }}
{{- $host := include "image-rewriter.serviceHost" . }}
{{- $ca := genCA (printf "%s-ca" $fullname) (int .Values.tls.generate.days) }}
{{- $cert := genSignedCert $host nil (list $host (printf "%s.cluster.local" $host)) (int .Values.tls.generate.days) $ca }}
{{- $_ := set $state "tlsCrt" ($cert.Cert | b64enc) }}
{{- $_ := set $state "tlsKey" ($cert.Key | b64enc) }}
{{- $_ := set $state "caCrt" ($ca.Cert | b64enc) }}
{{- end }}
{{- end }}
{{- $_ := set .Values "__imageRewriterState" $state }}
{{- end }}
{{- end }}

{{/* The token the webhook's path carries (the last of NEW,OLD). */}}
{{- define "image-rewriter.pathToken" -}}
{{- include "image-rewriter.state" . }}
{{- index .Values "__imageRewriterState" "pathToken" }}
{{- end }}

{{/* The whole token Secret value. */}}
{{- define "image-rewriter.tokenValue" -}}
{{- include "image-rewriter.state" . }}
{{- index .Values "__imageRewriterState" "tokenValue" }}
{{- end }}

{{- define "image-rewriter.generatedTls" -}}
{{- include "image-rewriter.state" . }}
{{- toJson (index .Values "__imageRewriterState") }}
{{- end }}

{{/* Whether the selectors carry the opt-out label: webhook.allowOptOut, unless the chart's rules document says allowOptOut: false. */}}
{{- define "image-rewriter.allowOptOut" -}}
{{- $allow := .Values.webhook.allowOptOut }}
{{- if not .Values.rules.existingConfigMap }}
{{- $doc := .Values.rules.document }}
{{- if .Values.rules.text }}
{{- $doc = fromYaml .Values.rules.text }}
{{- end }}
{{- if and (hasKey $doc "allowOptOut") (eq (toString (index $doc "allowOptOut")) "false") }}
{{- $allow = false }}
{{- end }}
{{- end }}
{{- ternary "true" "false" $allow }}
{{- end }}
