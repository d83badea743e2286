#!/usr/bin/env bash
# The full-size randomized driver of RELIABILITY.md: 100,000 mutated
# statements and 100,000 malformed frames over TCP, release build; then the
# randomized unit tests (decoders, parser, SCRAM) with 100,000 cases each.
# CI runs 5,000 statements and 2,000 frames (the test's defaults).
#   bench/fuzz/run.sh [statements] [frames] [seed]
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
export FUZZ_STATEMENTS="${1:-100000}" FUZZ_FRAMES="${2:-100000}" FUZZ_SEED="${3:-11}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/brook-release}"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(date -u +%F)"
cargo test --release --locked --test it fuzz:: -- --nocapture --test-threads 1
BROOK_FUZZ_CASES=100000 cargo test --release --locked --lib randomized -- --nocapture
