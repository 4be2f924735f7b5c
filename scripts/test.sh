#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs every check and test.
# Used by CI (.ci/run) and by developers: `scripts/test.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

echo "== format"
cargo fmt --all -- --check
echo "== lint"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  # Doc tests first: nextest's summary must be the last word.
  cargo test --workspace --locked --doc -q
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
