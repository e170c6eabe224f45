#!/usr/bin/env bash
# The main job: build the extension (into extension/dist/, loadable as an unpacked extension from
# this folder) and run the sync server on its embedded SQLite database (./baton.db) with the demo
# org seeded; it prints the demo logins. Extra arguments go to `sync-server serve`, e.g.
# scripts/run.sh --bind 0.0.0.0:8080. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "error: cargo is missing; install Rust from https://rustup.rs" >&2; exit 1; }
command -v node >/dev/null || { echo "error: node is missing; install Node.js 20 or newer" >&2; exit 1; }
scripts/build-extension.sh
cargo build --release --locked -p sync-server
# The address the server will listen on: --bind's, if given, else the default.
address=127.0.0.1:8080
previous=
for arg in "$@"; do
  case "$arg" in
    --bind=*) address=${arg#--bind=} ;;
    *) [ "$previous" = --bind ] && address=$arg ;;
  esac
  previous=$arg
done
cat <<MSG

Extension built. In Chrome or Chromium open chrome://extensions, switch on Developer mode, choose
"Load unpacked" and pick this folder: $(pwd)
Then click the Baton toolbar button and log in with a demo login below (server http://$address).

MSG
exec target/release/sync-server serve --demo "$@"
