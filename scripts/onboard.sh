#!/usr/bin/env sh
# Onboarding wrapper: checks that cargo is present, then runs
# `cargo xtask onboard` with the arguments given and passes its exit status on.
# Usage: scripts/onboard.sh [--local] [--yes] [--json] [--password-from aws-secret:ID[#key]|aws-rds-managed] ...
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is not installed. Install Rust from https://rustup.rs, then run this again." >&2
  exit 2
fi
cd "$(dirname "$0")/.." || exit 2
cargo xtask onboard "$@"
exit $?
