#!/usr/bin/env bash
# The compatibility suite of tools nobody here wrote (issue #20): dbt,
# Alembic, pg_dump, each run against Brook and against PostgreSQL 15 in the
# same job, so that a failure is Brook's. Too slow for every `cargo test`
# (dbt alone starts Python a dozen times); CI runs the Alembic part through
# `tests/it/tools.rs`. The tools live in a virtual environment kept in
# ~/.cache (made on first use). Writes target/compat.md; the latest
# figures are in docs/compatibility.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/brook-target}"
venv="${BROOK_COMPAT_VENV:-$HOME/.cache/brook-compat}"
if [ ! -x "$venv/bin/dbt" ] || [ ! -x "$venv/bin/alembic" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'dbt-core>=1.9,<1.10' 'dbt-postgres>=1.9,<1.10' \
    'alembic>=1.13' 'psycopg[binary]>=3.1' 'psycopg2-binary' 'sqlalchemy>=2.0'
fi
cargo build --locked --bin brook
exec "$venv/bin/python" scripts/compat.py "$CARGO_TARGET_DIR/debug/brook" "$venv"
