#!/usr/bin/env bash
# Creates the tables from template.yaml and loads the demo customers (customer 103,
# +919876543210, password test123) through the same import command operators use.
# Expects the configuration (config/dev.env or the test variant) in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
admin=${CARGO_TARGET_DIR:-target}/debug/omnisession-admin
cargo build --quiet -p omnisession-admin
"$admin" create-tables "$@"
"$admin" import-customers demo/customers.csv
OMNISESSION_PASSWORD=test123 "$admin" set-password +919876543210
