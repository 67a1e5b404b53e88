#!/usr/bin/env bash
# Installs what is missing (PostgreSQL included, started with its test role) and runs every test
# of the workspace; the store conformance suite runs on SQLite and on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
OSMV_TEST_POSTGRES="$(bash scripts/postgres-setup.sh)"
export OSMV_TEST_POSTGRES
cargo test --workspace --locked
