#!/usr/bin/env bash
# Serves every function on 127.0.0.1:<port> through `cargo lambda watch` and its router
# (the root Cargo.toml), with the functions' settings and secrets from <env-file>.
#   scripts/serve.sh <port> <env-file> [more cargo lambda watch options]
# cargo-lambda's own log level is set here, not inherited: at INFO its process supervisor
# prints each function's whole environment (every key and secret) when it spawns it.
# The functions log at the RUST_LOG of <env-file>.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:?usage: serve.sh <port> <env-file> [options]}
env_file=${2:?usage: serve.sh <port> <env-file> [options]}
shift 2
export RUST_LOG=info,watchexec=warn,watchexec_supervisor=warn
exec cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --env-file "$env_file" "$@"
