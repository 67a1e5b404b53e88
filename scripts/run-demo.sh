#!/usr/bin/env bash
# Installs what is missing, builds OpenSMEV, installs the `opensmev` binary into ~/.cargo/bin (so
# the README's `opensmev …` commands work as printed) and runs the bus with the embedded store and
# the demo registry (keys, registry and examples are written to ./data/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
# Built in ./target (the release build is shared with `cargo build --release`).
cargo install --path crates/opensmev-cli --locked --target-dir target --quiet
echo "$(command -v opensmev): $(opensmev --version)"
exec opensmev serve --demo --data-dir "${OPENSMEV_DATA_DIR:-data}" "$@"
