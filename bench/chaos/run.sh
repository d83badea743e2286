#!/usr/bin/env bash
# The full-size crash harness of RELIABILITY.md: 200,000 keyed messages, 20
# kill -9s at random moments, release build. CI runs the same test with
# CHAOS_MESSAGES=20000 CHAOS_KILLS=5 (its defaults).
#   bench/chaos/run.sh [messages] [kills] [seed]
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
export CHAOS_MESSAGES="${1:-200000}" CHAOS_KILLS="${2:-20}" CHAOS_SEED="${3:-7}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/brook-release}"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(date -u +%F)"
exec cargo test --release --locked --test it chaos:: -- --nocapture --test-threads 1
