#!/usr/bin/env bash
# Installs the Debian packages OpenSMEV needs to build and test (idempotent; quick when present).
set -euo pipefail
packages=(libxml2-dev libclang-dev pkg-config libssl-dev libengine-gost-openssl libxml2-utils ca-certificates curl)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust (rustup) first; rust-toolchain.toml pins the version." >&2
  exit 1
fi
