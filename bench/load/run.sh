#!/usr/bin/env bash
# The full-size load harness of RELIABILITY.md: 64 clients (point queries,
# aggregates, inserts) for 60 s while a pipeline ingests, release build.
# CI runs the same test with LOAD_CLIENTS=16 LOAD_SECONDS=5 (its defaults).
#   bench/load/run.sh [clients] [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
export LOAD_CLIENTS="${1:-64}" LOAD_SECONDS="${2:-60}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/brook-release}"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(date -u +%F)"
exec cargo test --release --locked --test it load:: -- --nocapture --test-threads 1
