#!/usr/bin/env bash
# Installs what is missing, builds OpenSMEV and runs the bus with the embedded store and the demo
# registry (keys, registry and examples are written to ./data/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked -p opensmev-cli
exec ./target/release/opensmev serve --demo --data-dir "${OPENSMEV_DATA_DIR:-data}" "$@"
