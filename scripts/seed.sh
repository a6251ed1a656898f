#!/usr/bin/env bash
# Creates the tables from template.yaml, loads the demo customers (customer 103,
# +919876543210, password test123) and registers the development kiosk (id dev-kiosk,
# store dev-store, key $DEV_KIOSK_KEY) through the same commands operators use.
# Expects the configuration (config/dev.env or the test variant) in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
admin=${CARGO_TARGET_DIR:-target}/debug/omnisession-admin
cargo build --quiet -p omnisession-admin
"$admin" create-tables "$@"
"$admin" import-customers demo/customers.csv
OMNISESSION_PASSWORD=test123 "$admin" set-password +919876543210
# Already registered (a second `make dev`) is no error.
"$admin" kiosk add --store dev-store --label "Development kiosk" --id dev-kiosk \
  --key-from-env DEV_KIOSK_KEY
