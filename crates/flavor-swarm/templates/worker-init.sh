#!/bin/sh
{{/* The swarm flavor's built-in init script of a worker, run in the new node. */ -}}
set -o errexit
set -o nounset
{{ ENGINE_LABELS_SCRIPT }}
docker swarm join --token {{ SWARM_JOIN_TOKENS.Worker }} {{ SWARM_MANAGER_ADDR }}
