#!/usr/bin/env bash
# `make dev`: the whole local stack. DynamoDB Local on :8100 (data kept in
# .local/dynamodb-data), tables from template.yaml, demo data, the stand-in for WhatsApp
# and SMS delivery on :8102 (messages in .local/outbox.jsonl), and every function on
# http://localhost:8000 through `cargo lambda watch` (reloads on code changes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
# pip may put cargo-lambda in a scripts directory that is not on PATH yet.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
set -a
# shellcheck source=../config/dev.env
. config/dev.env
set +a
scripts/dynamodb.sh start 8100 .local/dynamodb-data
scripts/seed.sh
scripts/standin.sh start 8102 .local/outbox.jsonl
# Each code the stack sends, in this terminal too. `--pid $$`: tail ends with the functions
# (exec below keeps this process id), since Ctrl-C does not reach a background job.
touch .local/outbox.jsonl
tail -n 0 -F --pid $$ .local/outbox.jsonl 2>/dev/null | sed -u 's/^/outbox: /' &
echo "dev: serving the API on http://localhost:8000 (Ctrl-C stops the functions; 'make stop' stops DynamoDB Local and the delivery stand-in)"
exec scripts/serve.sh 8000 config/dev.env
