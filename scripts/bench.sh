#!/usr/bin/env bash
# `make bench`: the performance benchmark (issue 7; not part of `make test`). Writes
# BENCHMARKS.md: DynamoDB round trips and capacity units per endpoint, warm latency next to
# the DynamoDB floor, cold starts through the Lambda runtime API, bcrypt, artifact sizes,
# cost per 1 M requests and docs/design.md §6's budgets.
#
# Runs beside `make dev` and `make test`: its own in-memory DynamoDB Local (:8104 unless
# BENCH_DDB_PORT says otherwise) and `-bench-` tables. Honours CARGO_TARGET_DIR.
# BENCH_SKIP_ARM64=1 skips the arm64 zip build (sizes are then read from what is there).
# Extra arguments go to omnisession-bench (e.g. --iterations 50 --cold-starts 5).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
# pip may put cargo-lambda in a scripts directory that is not on PATH yet.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"

DDB_PORT=${BENCH_DDB_PORT:-8104}
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
export CARGO_TARGET_DIR=$TARGET_DIR
FUNCTIONS=(session auth qr sales-memory whatsapp verify)
packages=()
for f in "${FUNCTIONS[@]}"; do packages+=(--package "$f"); done

cleanup() { scripts/dynamodb.sh stop "$DDB_PORT"; }
trap cleanup EXIT

echo "== release build: the functions (x86_64, for cold starts) and the bench"
cargo build --quiet --release "${packages[@]}" --package omnisession-bench

if [ "${BENCH_SKIP_ARM64:-0}" != 1 ]; then
  echo "== arm64 Lambda zips (cargo lambda build --release --arm64 --output-format zip)"
  cargo lambda build --quiet --release --arm64 --output-format zip "${packages[@]}"
fi

echo "== DynamoDB Local on :$DDB_PORT (in-memory)"
scripts/dynamodb.sh stop "$DDB_PORT"
# A stopped instance can hold the port for a moment; starting then would find it "running".
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$DDB_PORT") 2>/dev/null || break
  sleep 0.2
done
scripts/dynamodb.sh start "$DDB_PORT" --in-memory

echo "== benchmark (a few minutes; progress below, handler logs in .local/bench/handler-logs.jsonl)"
mkdir -p .local/bench
start=$(date +%s)
"$TARGET_DIR/release/omnisession-bench" --port "$DDB_PORT" --target-dir "$TARGET_DIR" \
  --command "make bench" "$@" >.local/bench/handler-logs.jsonl
echo "== done in $(($(date +%s) - start)) s: BENCHMARKS.md"
