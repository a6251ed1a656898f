#!/usr/bin/env bash
# `make test`'s RUSTC_WORKSPACE_WRAPPER: cargo calls it as `clippy-rustc.sh <rustc> <args>`
# for the workspace's own crates only (dependencies are compiled by plain rustc), and
# clippy-driver compiles them as rustc would, with clippy's lints, every warning an error.
# So one `cargo build --workspace --all-targets` both lints (what `cargo clippy
# --workspace --all-targets -- -D warnings` checks: the same driver and lints) and builds,
# instead of `cargo clippy` checking the ~300 dependency crates a second time (a check
# build of its own, which the dev build cannot reuse). What this writes is what rustc
# writes. The arm64 Lambda build does not use it (scripts/test.sh unsets it for
# scripts/deployable.sh). After `make test`, a plain `cargo build` recompiles only the
# workspace's own crates (cargo keys them on the wrapper), and the other way round.
set -euo pipefail
exec clippy-driver "$@" -D warnings
