#!/usr/bin/env bash
# `make test`: the whole test suite, on a fresh machine too. It runs beside a `make dev`
# stack without touching it: its own in-memory DynamoDB Local (:8101), its own tables,
# its own functions port (:9100), its own WhatsApp/SMS stand-in (:8103, outbox
# .local/test-outbox.jsonl). OMNISESSION_TEST_DDB_PORT, OMNISESSION_TEST_API_PORT and
# OMNISESSION_TEST_STANDIN_PORT move them, so that two checkouts can run their suites at once.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
# pip may put cargo-lambda in a scripts directory that is not on PATH yet.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"

DDB_PORT=${OMNISESSION_TEST_DDB_PORT:-8101}
API_PORT=${OMNISESSION_TEST_API_PORT:-9100}
STANDIN_PORT=${OMNISESSION_TEST_STANDIN_PORT:-8103}
mkdir -p .local
sed -e "s#^DYNAMODB_ENDPOINT=.*#DYNAMODB_ENDPOINT=http://127.0.0.1:$DDB_PORT#" \
    -e "s#^GRAPH_API_BASE=http://127.0.0.1:[0-9]*/#GRAPH_API_BASE=http://127.0.0.1:$STANDIN_PORT/#" \
    -e "s#^SNS_ENDPOINT=.*#SNS_ENDPOINT=http://127.0.0.1:$STANDIN_PORT#" \
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
deploy_pid=
cleanup() {
  [ -n "$watch_pid" ] && kill -- -"$watch_pid" 2>/dev/null || true
  [ -n "$deploy_pid" ] && kill -- -"$deploy_pid" 2>/dev/null || true
  scripts/dynamodb.sh stop "$DDB_PORT"
  scripts/standin.sh stop "$STANDIN_PORT"
}
trap cleanup EXIT

echo "== format"
cargo fmt --all --check

# The deploy checks build the arm64 release (minutes of CPU) beside the dev build below:
# cargo locks each profile's directory of the target dir on its own, and each build leaves
# a core idle for long stretches (one large crate, then the link-time optimisation of each
# function), which the other fills. The tests start only once it is done (some of them time
# things). The deployed arm64 build is compiled by plain rustc, as `sam build` and a deploy do.
echo "== deployable to AWS: started in the background (.local/deployable.log)"
set -m
env -u RUSTC_WORKSPACE_WRAPPER scripts/deployable.sh >.local/deployable.log 2>&1 &
deploy_pid=$!
set +m

# Started first: its JVM warms up while the workspace compiles.
echo "== DynamoDB Local (in memory, :$DDB_PORT)"
scripts/dynamodb.sh stop "$DDB_PORT"
scripts/dynamodb.sh start "$DDB_PORT" --in-memory

# What the functions served below send (verification codes) goes here; the courier's own
# tests start a private stand-in per test process (testkit's `standin()`).
echo "== WhatsApp and SMS stand-in (:$STANDIN_PORT)"
scripts/standin.sh stop "$STANDIN_PORT"
rm -f .local/test-outbox.jsonl
scripts/standin.sh start "$STANDIN_PORT" .local/test-outbox.jsonl

# One compile of the workspace per profile and target: the dev build below serves clippy,
# seed.sh, `cargo lambda watch` and nextest alike (tools/workspace-hack gives every command
# the same features; scripts/clippy-rustc.sh lints our crates while they compile, as
# `cargo clippy --workspace --all-targets -- -D warnings` would, every warning an error).
echo "== lint and build every target (clippy -D warnings)"
export RUSTC_WORKSPACE_WRAPPER=$PWD/scripts/clippy-rustc.sh
cargo build --quiet --workspace --all-targets

echo "== seed data"
scripts/seed.sh --recreate

echo "== functions over HTTP (cargo lambda watch on :$API_PORT)"
set -m
scripts/serve.sh "$API_PORT" .local/test.env --ignore-changes >.local/watch.log 2>&1 &
watch_pid=$!
set +m

echo "== deployable to AWS (waiting for the background checks)"
deploy_status=0
wait "$deploy_pid" || deploy_status=$?
deploy_pid=
cat .local/deployable.log
if [ "$deploy_status" != 0 ]; then
  echo "deployable: scripts/deployable.sh failed (exit $deploy_status)" >&2
  exit 1
fi

echo "== tests"
if ! cargo nextest run --workspace --no-fail-fast; then
  echo "---- last lines of .local/watch.log" >&2
  tail -n 40 .local/watch.log >&2 || true
  exit 1
fi

