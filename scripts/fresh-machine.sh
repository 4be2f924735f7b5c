#!/usr/bin/env bash
# Checks the README's main command on a fresh machine: a minimal Debian 12 (debootstrap's
# minbase, imported into Docker) with only what any Rust build on Linux needs (gcc and libc6-dev:
# rustc links through `cc`), ca-certificates (for crates.io) and python3 (the quickstart's web
# servers). No protoc, no other build tool. The host's Rust toolchain is mounted read-only; the
# cargo registry starts empty, so every crate is downloaded (the only step with a network); the
# build and the run are offline, in a network namespace of their own, from an empty target folder.
#
# It runs `cargo run --release -p infrakit -- up examples/quickstart.yml` on a copy of HEAD, waits
# for the three web servers to answer, stops `up`, and prints the build's time. Needs root,
# debootstrap and the Docker engine; takes the length of a cold release build (not run by CI).
#
# Usage: scripts/fresh-machine.sh        (FRESH_MIRROR overrides apt's Debian mirror)
set -euo pipefail
cd "$(dirname "$0")/.."

base=infrakit-fresh:bookworm
image=infrakit-fresh:toolchain
# The Debian mirror this machine's apt already uses (deb822 or one-line sources).
host_mirror() {
  grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -1 | tr -d ' ' || true
}
mirror=${FRESH_MIRROR:-$(host_mirror)}
[ -n "$mirror" ] || { echo "no Debian mirror in apt's sources: set FRESH_MIRROR"; exit 1; }
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_bin=$(dirname "$(command -v cargo)")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! docker image inspect "$base" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  echo "== debootstrap (minbase, bookworm) from $mirror"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log"
  tar -C "$work/rootfs" -c . | docker import - "$base" >/dev/null
  rm -rf "$work/rootfs"
fi
if ! docker image inspect "$image" >/dev/null 2>&1; then
  echo "== $image: $base + gcc libc6-dev ca-certificates python3"
  docker rm -f infrakit-fresh-prep >/dev/null 2>&1 || true
  docker run --name infrakit-fresh-prep --network host "$base" sh -c \
    'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev ca-certificates python3 >/dev/null'
  docker commit infrakit-fresh-prep "$image" >/dev/null
  docker rm infrakit-fresh-prep >/dev/null
fi

mkdir -p "$work/src" "$work/cargo-home"
git archive HEAD | tar -x -C "$work/src"
echo "== in the container: protoc is $(docker run --rm "$image" sh -c 'command -v protoc || echo absent')"
docker_run() {
  docker run --rm -v "$rustup_home:/opt/rustup:ro" -v "$cargo_bin:/opt/cargo-bin:ro" \
    -v "$work/cargo-home:/cargo" -v "$work/src:/src" -w /src \
    -e RUSTUP_HOME=/opt/rustup -e CARGO_HOME=/cargo -e INFRAKIT_HOME=/tmp/infrakit-home \
    -e PATH=/opt/cargo-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
echo "== cargo fetch --locked (from crates.io)"
# With the host's trusted certificates, for networks whose proxy signs with a local authority.
docker_run --network host -v /etc/ssl/certs:/etc/ssl/certs:ro "$image" cargo fetch --locked -q
echo "== cargo run --release -p infrakit -- up examples/quickstart.yml (offline)"
# The servers answering prove `up` ran; then `up` is stopped (its servers outlive it, as the
# README says, and go with the container).
docker_run --network none -e CARGO_NET_OFFLINE=true \
  "$image" bash -c '
    set -euo pipefail
    # The build under getrusage: wall, CPU (user+sys) and peak memory of its largest process.
    python3 -c "
import resource, subprocess, sys, time
start = time.time()
code = subprocess.run(sys.argv[1:]).returncode
used = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f\"cold release build: {time.time() - start:.0f} s wall, {used.ru_utime + used.ru_stime:.0f} s CPU, max RSS {used.ru_maxrss // 1024} MiB\")
sys.exit(code)
" cargo build --release -p infrakit --locked
    cargo run --release -p infrakit -- up examples/quickstart.yml >up.log 2>&1 &
    up=$!
    for port in 18081 18082 18083; do
      for _ in $(seq 1 300); do
        python3 -c "import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:$port/\", timeout=1)" 2>/dev/null && break
        kill -0 "$up" 2>/dev/null || { cat up.log; echo "up exited"; exit 1; }
        sleep 0.2
      done
      python3 -c "import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:$port/\", timeout=1)"
      echo "web server on $port answers"
    done
    kill -INT "$up"
    wait "$up" || true
    echo "--- up printed:"
    cat up.log
  '
echo "== the main command built and ran on a fresh machine"
