#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs every check and test.
# Used by CI (.ci/run) and by developers: `scripts/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
# moto (the EC2 emulator) is installed into a venv, which needs ensurepip.
python3 -c 'import ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
# etcd for the manager's HA tests (etcdctl checks the test clusters' health).
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need_apt+=(etcd-client)
# openssl makes the certificate of the manager's TLS test.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

echo "== format"
cargo fmt --all -- --check
echo "== lint"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== moto, the EC2 emulator for the aws plugin's tests"
# Pinned: the tests know this version's behaviour (it ignores ClientToken, lists terminated
# instances). The venv lives under target/ so a clean checkout rebuilds it.
moto_venv=target/moto-venv
if ! "$moto_venv/bin/python" -c 'import moto, boto3' >/dev/null 2>&1; then
  python3 -m venv "$moto_venv"
  "$moto_venv/bin/pip" install -q 'moto[ec2,server]==5.2.5' 'boto3==1.44.8'
fi
moto_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$moto_venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >target/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$moto_port/moto-api/" >/dev/null 2>&1 && break
  kill -0 "$moto_pid" 2>/dev/null || { cat target/moto.log; echo "moto did not start"; exit 1; }
  sleep 0.2
done
export INFRAKIT_TEST_MOTO_URL="http://127.0.0.1:$moto_port"
export INFRAKIT_TEST_MOTO_PYTHON="$PWD/$moto_venv/bin/python"

echo "== the docker plugin's test image (busybox from Debian, no registry)"
scripts/docker-test-image.sh
echo "== the swarm node image (the host's engine binaries, no registry)"
scripts/swarm-node-image.sh
echo "== fuzz smoke: each target replays its corpus, then explores for 20 seconds"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# cargo fuzz passes the compiler unstable flags (-Zsanitizer=address); RUSTC_BOOTSTRAP lets the
# stable one take them, and stable ships the sanitizer runtime. The targets build in fuzz/target.
cargo fetch --locked --manifest-path fuzz/Cargo.toml
RUSTC_BOOTSTRAP=1 cargo fuzz build
fuzz_scratch=$(mktemp -d)
for target in rpc_request spec decide; do
  # New inputs go to a scratch folder; the committed corpus is only read.
  mkdir -p "$fuzz_scratch/$target"
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$fuzz_scratch/$target" "fuzz/corpus/$target" -- \
    -max_total_time=20 -print_final_stats=1
done
rm -rf "$fuzz_scratch"
echo "== tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  # Doc tests first: nextest's summary must be the last word.
  cargo test --workspace --locked --doc -q
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
