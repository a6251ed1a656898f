#!/usr/bin/env bash
# `make test`: the whole test suite, on a fresh machine too. It runs beside a `make dev`
# stack without touching it: its own in-memory DynamoDB Local (:8101), its own tables,
# its own functions port (:9100). OMNISESSION_TEST_DDB_PORT and OMNISESSION_TEST_API_PORT
# move them, so that two checkouts can run their suites at once.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
# pip may put cargo-lambda in a scripts directory that is not on PATH yet.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"

DDB_PORT=${OMNISESSION_TEST_DDB_PORT:-8101}
API_PORT=${OMNISESSION_TEST_API_PORT:-9100}
mkdir -p .local
sed -e "s#^DYNAMODB_ENDPOINT=.*#DYNAMODB_ENDPOINT=http://127.0.0.1:$DDB_PORT#" \
    -e "s#-dev-#-test-#" \
    -e "s#^BCRYPT_COST=.*#BCRYPT_COST=4#" \
    config/dev.env >.local/test.env
set -a
. .local/test.env
set +a
export OMNISESSION_API_URL=http://127.0.0.1:$API_PORT
# The functions' log over HTTP, which a test scans for secrets.
export OMNISESSION_WATCH_LOG=$PWD/.local/watch.log

watch_pid=
cleanup() {
  [ -n "$watch_pid" ] && kill -- -"$watch_pid" 2>/dev/null || true
  scripts/dynamodb.sh stop "$DDB_PORT"
}
trap cleanup EXIT

echo "== format and lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings

echo "== DynamoDB Local and seed data"
scripts/dynamodb.sh stop "$DDB_PORT"
scripts/dynamodb.sh start "$DDB_PORT" --in-memory
scripts/seed.sh --recreate

echo "== functions over HTTP (cargo lambda watch on :$API_PORT)"
cargo build --quiet --workspace --bins
set -m
scripts/serve.sh "$API_PORT" .local/test.env --ignore-changes >.local/watch.log 2>&1 &
watch_pid=$!
set +m

echo "== deployable to AWS"
scripts/deployable.sh

echo "== tests"
if ! cargo nextest run --workspace --no-fail-fast; then
  echo "---- last lines of .local/watch.log" >&2
  tail -n 40 .local/watch.log >&2 || true
  exit 1
fi

