#!/bin/sh
{{/* The swarm flavor's built-in init script of a manager, run in the new node. */ -}}
set -o errexit
set -o nounset
{{ ENGINE_LABELS_SCRIPT }}
{{ if and (eq INSTANCE_LOGICAL_ID SPEC.SwarmJoinIP) (not SWARM_INITIALIZED) }}
docker swarm init --advertise-addr {{ INSTANCE_LOGICAL_ID }}
{{- else }}
docker swarm join --advertise-addr {{ INSTANCE_LOGICAL_ID }} --token {{ SWARM_JOIN_TOKENS.Manager }} {{ SWARM_MANAGER_ADDR }}
{{- end }}
