#!/usr/bin/env bash
# The main job, end to end: build infrakit, run the group controller with the process and
# vanilla plugins, commit examples/quickstart.yml (three local web servers), show the group
# converge, kill a server and show it healed. Then it keeps the group running until Ctrl-C;
# the servers outlive it (`scripts/quickstart.sh down` removes them).
set -euo pipefail
cd "$(dirname "$0")/.."

export INFRAKIT_HOME="${INFRAKIT_HOME:-$PWD/target/quickstart-home}"
export INFRAKIT_GROUP_POLL_INTERVAL="${INFRAKIT_GROUP_POLL_INTERVAL:-2s}"
infrakit=target/release/infrakit

echo "== building infrakit"
cargo build --release --locked -q -p infrakit

if [ "${1:-}" = "down" ]; then
  "$infrakit" group destroy web 2>/dev/null || {
    "$infrakit" plugin start group process vanilla & server=$!
    sleep 1; "$infrakit" group commit examples/quickstart.yml >/dev/null; "$infrakit" group destroy web
    kill "$server"; wait "$server" || true
  }
  exit 0
fi

echo "== starting plugins (home: $INFRAKIT_HOME)"
"$infrakit" plugin start group process vanilla &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; echo; echo "plugins stopped; the servers keep running: scripts/quickstart.sh down removes them"' EXIT
for _ in $(seq 100); do [ -S "$INFRAKIT_HOME/plugins/group-stateless" ] && break; sleep 0.1; done

"$infrakit" group commit examples/quickstart.yml

wait_healthy() {
  for _ in $(seq 60); do
    "$infrakit" group ls | grep -q "web  *converged  *3  *3  *3" && return 0
    sleep 1
  done
  echo "the group did not converge; see: $infrakit group describe web" >&2
  return 1
}

echo "== waiting for 3 healthy servers"
wait_healthy
"$infrakit" group describe web
curl -s -o /dev/null -w "GET http://127.0.0.1:18081/ -> %{http_code}\n" http://127.0.0.1:18081/ || true

victim=$("$infrakit" instance process describe -q --tags infrakit.group=web | head -1)
echo "== killing server $victim by hand"
"$infrakit" instance process destroy "$victim"
for _ in $(seq 60); do
  members=$("$infrakit" group describe web -q)
  if ! grep -qx "$victim" <<<"$members" && [ "$(wc -l <<<"$members")" -eq 3 ]; then break; fi
  sleep 1
done
wait_healthy
echo "== healed:"
"$infrakit" group describe web | tail -n 4

echo "== the group is kept at its spec until Ctrl-C (try: $infrakit group events web --follow)"
wait "$server"
