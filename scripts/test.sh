#!/usr/bin/env bash
# Runs every check and test of Brook. Installs what the tests need when it is
# missing (psql, openssl, a C toolchain for librdkafka, Python psycopg, the
# tansu Kafka broker), so it works on a fresh machine. The disk-full test
# mounts a small tmpfs, so the tests run as root (as CI does).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
# PostgreSQL 15 itself: the oracle of the differential tests (tests/it/differential.rs).
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_apt+=(postgresql-15)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
# librdkafka is built from source by rdkafka-sys: a C compiler, make, and
# OpenSSL/zlib headers for TLS, SASL and compression.
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v make >/dev/null 2>&1 || need_apt+=(make)
dpkg -s libssl-dev >/dev/null 2>&1 || need_apt+=(libssl-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need_apt+=(zlib1g-dev)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# The TLS tests make their certificates with the openssl command.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# pgJDBC (what DBeaver, Metabase and Tableau connect with), run by a JDK.
command -v java >/dev/null 2>&1 || need_apt+=(default-jdk-headless)
dpkg -s libpostgresql-jdbc-java >/dev/null 2>&1 || need_apt+=(libpostgresql-jdbc-java)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
# Python clients and peers: psycopg (a real Postgres driver), SQLAlchemy and
# pandas (the client tests), Alembic and pgcli (tests/it/tools.rs), PyYAML (checks docker/compose.yml) and
# scikit-learn (the independent check of EVALUATE's metrics).
if ! python3 -c 'import psycopg, psycopg2, sklearn, numpy, yaml, sqlalchemy, pandas, alembic, pgcli' >/dev/null 2>&1; then
  echo "installing: psycopg, psycopg2, SQLAlchemy, Alembic, pgcli, pandas, scikit-learn, numpy, PyYAML (Python)"
  pkgs=('psycopg[binary]>=3.1' 'psycopg2-binary>=2.9' 'sqlalchemy>=2.0' 'alembic>=1.13' 'pandas>=2.0' 'scikit-learn>=1.3' 'numpy' 'pyyaml' 'pgcli>=4')
  python3 -m pip install --quiet --disable-pip-version-check "${pkgs[@]}" \
    || python3 -m pip install --quiet --break-system-packages "${pkgs[@]}"
fi

# The Kafka-compatible broker the pipeline tests run against (about 12 minutes
# to build once; kept in ~/.cargo/bin afterwards).
if ! command -v tansu >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tansu" ]; then
  echo "installing: tansu (Kafka-compatible broker, for the pipeline tests)"
  cargo install tansu --locked --features dynostore,libsql
fi
export PATH="$HOME/.cargo/bin:$PATH"

# Imports run one way along the data path (server → sql → engine →
# {ml, pipeline} → catalog → storage): no module loop at either depth.
python3 scripts/layers.py src
python3 scripts/layers.py src --depth 2

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
