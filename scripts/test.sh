#!/usr/bin/env bash
# Installs what is missing on a fresh machine, then runs every check and test:
#   formatting and clippy (host and wasm32), unit tests, the server's integration suite against
#   real SQLite and real PostgreSQL 15, the extension build (WASM size budget included), DOM tests
#   in headless Chromium (wasm-bindgen-test), and the end-to-end tests: real Chromium profiles with
#   the extension loaded, a real sync server and the WhatsApp Web fixture.
# Ends with a line "N passed, N failed". Usage: scripts/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  log "installing $*"
  as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" \
    || die "cannot install $*"
}

# --- what a fresh machine may lack ---------------------------------------------------------------
command -v cargo >/dev/null || die "cargo is missing; install Rust from https://rustup.rs"
command -v node >/dev/null || die "node is missing; install Node.js 20 or newer"
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v openssl >/dev/null || missing+=(openssl)
export PG_CLUSTER=${PG_CLUSTER:-15}
if ! command -v pg_ctlcluster >/dev/null || ! pg_lsclusters 2>/dev/null | grep -q "^$PG_CLUSTER "; then
  missing+=("postgresql-$PG_CLUSTER")
fi
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

if ! pg_lsclusters | grep -q "^$PG_CLUSTER  *main  *[0-9]*  *online"; then
  log "starting PostgreSQL $PG_CLUSTER"
  as_root pg_ctlcluster "$PG_CLUSTER" main start || die "cannot start PostgreSQL $PG_CLUSTER"
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
pg_isready -q -h 127.0.0.1 || die "PostgreSQL does not accept connections on 127.0.0.1"
# The tests create one database per test as this role and drop it afterwards.
as_root su postgres -c "psql -q -v ON_ERROR_STOP=1 -c \"DO \\\$\\\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'baton_test') THEN
    CREATE ROLE baton_test LOGIN PASSWORD 'baton_test' CREATEDB;
  END IF; END \\\$\\\$;\"" || die "cannot create the PostgreSQL test role"
export BATON_TEST_PG_URL=${BATON_TEST_PG_URL:-postgres://baton_test:baton_test@127.0.0.1:5432/postgres}

# --- checks and tests ----------------------------------------------------------------------------
failed_steps=()
checks_passed=0
checks_failed=0
output=$(mktemp)
e2e_output=$(mktemp)
trap 'rm -f "$output" "$e2e_output"' EXIT

# check NAME COMMAND...: a step that is one check (passes or fails as a whole).
check() {
  local name=$1
  shift
  log "$name"
  if "$@"; then
    checks_passed=$((checks_passed + 1))
  else
    checks_failed=$((checks_failed + 1))
    failed_steps+=("$name")
  fi
}

# tests NAME COMMAND...: a step whose `cargo test` result lines are counted.
tests() {
  local name=$1
  shift
  log "$name"
  timeout 45m "$@" 2>&1 | tee -a "$output"
  local status=${PIPESTATUS[0]}
  [ "$status" = 0 ] || failed_steps+=("$name (exit $status)")
  return 0
}

check "cargo fmt --check" cargo fmt --all -- --check
check "cargo clippy (host)" cargo clippy --locked --workspace --all-targets -- -D warnings
check "cargo clippy (wasm32 core)" cargo clippy --locked -p core-wasm --target wasm32-unknown-unknown \
  --features overlay,worker,lead,settings,seat --all-targets -- -D warnings
tests "cargo test (unit, and the server on SQLite and PostgreSQL)" cargo test --locked --workspace
check "build the extension (scripts/build-extension.sh)" scripts/build-extension.sh
tests "DOM tests in headless Chromium (wasm-bindgen-test)" \
  env CHROMEDRIVER="$(command -v chromedriver)" CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --locked -p core-wasm --features overlay --target wasm32-unknown-unknown

log "end-to-end: Chromium with the extension, the sync server, the WhatsApp Web fixture"
e2e_status=1
if cargo build --locked -p sync-server; then
  timeout 20m node tests/e2e/run.mjs 2>&1 | tee "$e2e_output"
  e2e_status=${PIPESTATUS[0]}
fi
[ "$e2e_status" = 0 ] || failed_steps+=("end-to-end tests (exit $e2e_status)")

# Totals: every cargo test binary, the end-to-end tests, and each check as one.
passed=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed' "$output" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$output" | awk '{s+=$6} END {print s+0}')
e2e_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$e2e_output" | tail -1)
e2e_passed=$(echo "${e2e_line:-0 passed, 0 failed}" | awk '{print $1}')
e2e_failed=$(echo "${e2e_line:-0 passed, 0 failed}" | awk '{print $3}')
[ "$e2e_status" = 0 ] || [ "$e2e_failed" != 0 ] || e2e_failed=1  # a crash counts
passed=$((passed + e2e_passed + checks_passed))
failed=$((failed + e2e_failed + checks_failed))
if [ ${#failed_steps[@]} -gt 0 ] && [ "$failed" = 0 ]; then failed=${#failed_steps[@]}; fi

if [ ${#failed_steps[@]} -gt 0 ]; then
  printf '\nfailed: %s\n' "${failed_steps[@]}"
fi
echo "$passed passed, $failed failed"
[ ${#failed_steps[@]} -eq 0 ]
