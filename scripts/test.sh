#!/usr/bin/env bash
# Installs what is missing on a fresh machine, then runs every check and test: formatting, clippy,
# unit tests, and the integration suite against real SQLite and real PostgreSQL 15.
# Ends with a line "N passed, N failed". Usage: scripts/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- what a fresh machine may lack ---------------------------------------------------------------
command -v cargo >/dev/null || die "cargo is missing; install Rust from https://rustup.rs"
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

export PG_CLUSTER=${PG_CLUSTER:-15}
if ! command -v pg_ctlcluster >/dev/null || ! pg_lsclusters 2>/dev/null | grep -q "^$PG_CLUSTER "; then
  log "installing PostgreSQL $PG_CLUSTER"
  as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "postgresql-$PG_CLUSTER" \
    || die "cannot install PostgreSQL $PG_CLUSTER"
fi
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
output=$(mktemp)
trap 'rm -f "$output"' EXIT

checks_passed=0
log "cargo fmt --check"
if cargo fmt --all -- --check; then checks_passed=$((checks_passed + 1)); else failed_steps+=("cargo fmt (run: cargo fmt --all)"); fi

log "cargo clippy"
if cargo clippy --locked --workspace --all-targets -- -D warnings; then
  checks_passed=$((checks_passed + 1))
else
  failed_steps+=("cargo clippy")
fi

log "cargo test (SQLite and PostgreSQL)"
timeout 45m cargo test --locked --workspace 2>&1 | tee "$output"
test_status=${PIPESTATUS[0]}
[ "$test_status" = 0 ] || failed_steps+=("cargo test (exit $test_status)")

# Totals over every test binary; fmt and clippy count as one check each.
passed=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed' "$output" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo 'test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$output" | awk '{s+=$6} END {print s+0}')
if [ "$test_status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi  # a crash or timeout counts
passed=$((passed + checks_passed))
failed=$((failed + 2 - checks_passed))

if [ ${#failed_steps[@]} -gt 0 ]; then
  printf '\nfailed: %s\n' "${failed_steps[@]}"
fi
echo "$passed passed, $failed failed"
[ ${#failed_steps[@]} -eq 0 ]
