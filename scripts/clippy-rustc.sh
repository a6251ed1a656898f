#!/usr/bin/env bash
# `make test`'s RUSTC_WORKSPACE_WRAPPER: cargo calls it as `clippy-rustc.sh <rustc> <args>`
# for the workspace's own crates only (dependencies are compiled by plain rustc), and
# clippy-driver compiles them as rustc would, with clippy's lints, every warning an error.
# So one `cargo build --workspace --all-targets` both lints (what `cargo clippy
# --workspace --all-targets -- -D warnings` checks: the same driver and lints) and builds,
# instead of `cargo clippy` checking every dependency a second time (about a minute and a
# half of both cores on a cold build). What this writes is what rustc writes. The arm64
# Lambda build does not use it (scripts/test.sh unsets it for scripts/deployable.sh).
set -euo pipefail
exec clippy-driver "$@" -D warnings
