#!/usr/bin/env bash
# The full differential run against PostgreSQL 15 (every query of the
# sqllogictest corpus in tests/data/sqllogictest and 5,000 generated ones),
# in the dev profile (the test build CI already has). Prints the table docs/compatibility.md quotes and keeps it in
# target/differential.md. CI runs a sample of the same test (every 7th query).
set -euo pipefail
cd "$(dirname "$0")/.."
export BROOK_DIFF_STRIDE="${BROOK_DIFF_STRIDE:-1}"
export BROOK_DIFF_GENERATED="${BROOK_DIFF_GENERATED:-5000}"
export BROOK_DIFF_REPORT="${BROOK_DIFF_REPORT:-$PWD/target/differential.md}"
mkdir -p "$(dirname "$BROOK_DIFF_REPORT")"
status=0
cargo test --locked --test it differential::brook_answers_as_postgres_does_or_refuses \
  -- --exact --nocapture || status=$?
echo "report: $BROOK_DIFF_REPORT"
exit "$status"
