#!/usr/bin/env bash
# Times the swarm example through the binary on this machine's engine: from `infrakit up
# examples/swarm.yml` to 6 Ready nodes, from `docker kill` of a worker to its replacement Ready,
# and from `docker kill` of the leading manager to its replacement Ready in the same swarm.
# Usage: scripts/bench-swarm.sh [RUNS] (default 3). Needs target/release/infrakit and the node
# image (scripts/swarm-node-image.sh). Removes the example's containers and network when done.
set -euo pipefail

runs="${1:-3}"
binary="${INFRAKIT_BIN:-target/release/infrakit}"
managers=(10.213.7.11 10.213.7.12 10.213.7.13)

cleanup() {
  pkill -f "infrakit up examples/swarm.yml" 2>/dev/null || true
  docker ps -aq --filter label=io.infrakit.example=swarm | xargs -r docker rm -f >/dev/null
  docker network rm infrakit-swarm >/dev/null 2>&1 || true
}
trap cleanup EXIT

now() { date +%s.%N; }
# The node list as a manager that answers sees it: "ID STATUS MANAGER-STATUS" per line.
nodes() {
  for m in "${managers[@]}"; do
    docker exec "$m" docker node ls --format '{{.ID}} {{.Status}} {{.ManagerStatus}}' 2>/dev/null && return
  done
  return 0
}
ready_ids() { nodes | awk '$2 == "Ready" {print $1}' | sort; }
wait_for() { # wait_for COUNT [IDS-FILE]: COUNT Ready nodes or more, one of them not in IDS-FILE
  while true; do
    local ids; ids="$(ready_ids)"
    if [ "$(echo "$ids" | grep -c . || true)" -ge "$1" ] && { [ -z "${2:-}" ] || [ -n "$(comm -23 <(echo "$ids") "$2")" ]; }; then
      return
    fi
    sleep 0.1
  done
}

for run in $(seq 1 "$runs"); do
  cleanup
  home="$(mktemp -d)"
  start="$(now)"
  INFRAKIT_HOME="$home" INFRAKIT_GROUP_POLL_INTERVAL=2s "$binary" up examples/swarm.yml > "$home/up.log" 2>&1 &
  wait_for 6
  up="$(echo "$(now) - $start" | bc)"

  ready_ids > "$home/before"
  worker="$(docker ps -q --filter label=infrakit.group=workers | head -1)"
  start="$(now)"
  docker kill "$worker" > /dev/null
  wait_for 6 "$home/before"
  heal="$(echo "$(now) - $start" | bc)"

  leader="$(for m in "${managers[@]}"; do
    if docker exec "$m" docker node ls --format '{{.Self}} {{.ManagerStatus}}' 2>/dev/null | grep -q '^true Leader'; then echo "$m"; fi
  done | head -1)"
  ready_ids > "$home/before"
  start="$(now)"
  docker kill "$leader" > /dev/null
  wait_for 6 "$home/before"
  failover="$(echo "$(now) - $start" | bc)"
  printf 'run %s: up to 6 Ready %6.2f s | worker killed to replacement Ready %6.2f s | leading manager (%s) killed to replacement Ready %6.2f s\n' \
    "$run" "$up" "$heal" "$leader" "$failover"
  rm -rf "$home"
done
