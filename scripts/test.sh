#!/usr/bin/env bash
# Runs every check and test of Brook. Installs what the tests need when it is
# missing (psql, Python psycopg), so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
if ! python3 -c 'import psycopg' >/dev/null 2>&1; then
  echo "installing: psycopg (Python)"
  python3 -m pip install --quiet --disable-pip-version-check 'psycopg[binary]>=3.1' \
    || python3 -m pip install --quiet --break-system-packages 'psycopg[binary]>=3.1'
fi

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
