#!/usr/bin/env bash
# Checks, without an AWS account, that the stack deploys: the template lints, `sam build`
# works without Docker, and every function builds as an arm64 Lambda zip (sizes printed).
# Part of `make test`; also useful alone before `sam deploy`.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-ap-south-1}
export SAM_CLI_TELEMETRY=0

FUNCTIONS=(session auth qr sales-memory whatsapp)

echo "== template: cfn-lint and sam validate --lint"
cfn-lint template.yaml
sam validate --lint >/dev/null
echo "template.yaml: cfn-lint and sam validate --lint pass"

echo "== arm64 Lambda zips (cargo lambda build --release --arm64 --output-format zip)"
packages=()
for f in "${FUNCTIONS[@]}"; do packages+=(--package "$f"); done
cargo lambda build --quiet --release --arm64 --output-format zip "${packages[@]}"
budget=$((6 * 1024 * 1024))
for f in "${FUNCTIONS[@]}"; do
  zip=${CARGO_TARGET_DIR:-target}/lambda/$f/bootstrap.zip
  size=$(stat -c %s "$zip")
  printf '%-14s %8d bytes (%s MB)  %s\n' "$f" "$size" "$(awk "BEGIN { printf \"%.2f\", $size / 1048576 }")" "$zip"
  if [ "$size" -gt "$budget" ]; then
    echo "deployable: $zip is larger than the 6 MB budget" >&2
    exit 1
  fi
done

echo "== sam build (no Docker)"
sam build >.local/sam-build.log 2>&1 || { tail -n 40 .local/sam-build.log >&2; exit 1; }
for fn in SessionFunction AuthFunction QrFunction SalesMemoryFunction WhatsAppFunction; do
  bootstrap=.aws-sam/build/$fn/bootstrap
  # ELF e_machine 183 (0xB7) is AArch64.
  machine=$(python3 -c 'import sys; d = open(sys.argv[1], "rb").read(20); print(int.from_bytes(d[18:20], "little") if d[:4] == b"\x7fELF" else 0)' "$bootstrap" 2>/dev/null || echo 0)
  if [ "$machine" != 183 ]; then
    echo "deployable: $bootstrap is missing or not an arm64 executable" >&2
    exit 1
  fi
  echo "$bootstrap: arm64"
done
