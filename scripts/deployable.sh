#!/usr/bin/env bash
# Checks, without an AWS account, that the stack deploys: the template lints and passes
# the policy scan (checkov, every skip with its reason in the template), `sam build`
# works without Docker and builds every function as an arm64 executable, whose zip stays
# within the 6 MB budget (sizes printed).
# Part of `make test`; also useful alone before `sam deploy`.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-ap-south-1}
export SAM_CLI_TELEMETRY=0

echo "== template: cfn-lint, sam validate --lint, checkov"
cfn-lint template.yaml
sam validate --lint >/dev/null
scripts/checkov.sh
echo "template.yaml: cfn-lint, sam validate --lint and checkov pass"

# One arm64 release build: `sam build` runs `cargo lambda build --release --arm64 --bin <f>`
# per function (aws-lambda-builders' rust-cargolambda workflow). A build of all five in
# one cargo command first would resolve features across them, so sam's per-function
# builds could not reuse it and would compile again.
echo "== sam build (no Docker): arm64 release builds"
sam build >.local/sam-build.log 2>&1 || { tail -n 40 .local/sam-build.log >&2; exit 1; }

echo "== arm64 bootstraps and their zips (what sam deploy uploads)"
budget=$((6 * 1024 * 1024))
# Every function template.yaml declares (its AWS::Serverless::Function resources).
functions=$(python3 -c '
import re, sys
text = open("template.yaml").read()
print(" ".join(re.findall(r"^  (\w+):\n    Type: AWS::Serverless::Function$", text, re.M)))')
[ -n "$functions" ] || { echo "deployable: no functions found in template.yaml" >&2; exit 1; }
for fn in $functions; do
  bootstrap=.aws-sam/build/$fn/bootstrap
  # ELF e_machine 183 (0xB7) is AArch64; the zip is deflated as sam deploy's is.
  read -r machine size < <(python3 - "$bootstrap" <<'PY'
import io, sys, zipfile
path = sys.argv[1]
try:
    data = open(path, "rb").read()
except OSError:
    print(0, 0)
    sys.exit()
machine = int.from_bytes(data[18:20], "little") if data[:4] == b"\x7fELF" else 0
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("bootstrap", data)
print(machine, len(buffer.getvalue()))
PY
)
  if [ "$machine" != 183 ]; then
    echo "deployable: $bootstrap is missing or not an arm64 executable" >&2
    exit 1
  fi
  printf '%-20s arm64, zipped %8d bytes (%s MB)\n' "$fn" "$size" "$(awk "BEGIN { printf \"%.2f\", $size / 1048576 }")"
  if [ "$size" -gt "$budget" ]; then
    echo "deployable: $fn's zip is larger than the 6 MB budget" >&2
    exit 1
  fi
done
