#!/usr/bin/env bash
# The main job: build the sync server and run it on its embedded SQLite database (./baton.db)
# with the demo org seeded; it prints the demo logins. Extra arguments go to `sync-server serve`,
# e.g. scripts/run.sh --bind 0.0.0.0:8080. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "error: cargo is missing; install Rust from https://rustup.rs" >&2; exit 1; }
cargo build --release --locked -p sync-server
exec target/release/sync-server serve --demo "$@"
