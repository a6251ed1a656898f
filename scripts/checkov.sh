#!/usr/bin/env bash
# checkov, the policy scanner, on template.yaml (README -> Operate -> Policy scan): every
# check passes or is skipped in the template, with a reason, in the resource's
# `Metadata: checkov: skip`. Exits nonzero on any failed check. Part of `make test`
# (scripts/deployable.sh).
#   scripts/checkov.sh            scan template.yaml (compact: failures and the counts)
#   scripts/checkov.sh install    install it when missing (scripts/install.sh does this)
#
# Pinned, in a virtualenv of its own outside the checkout, shared by every checkout of the
# machine: installed beside aws-sam-cli and cfn-lint, its requirements would downgrade
# theirs (boto3 1.43 to 1.35, networkx 3 to 2.6, packaging 26 to 23).
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION=3.3.30
venv=${XDG_CACHE_HOME:-$HOME/.cache}/omnisession/checkov-$CHECKOV_VERSION

# Asks the package metadata: `checkov --version` loads all of checkov (3 s).
installed() {
  [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("checkov"))' \
    2>/dev/null || true)" = "$CHECKOV_VERSION" ]
}

if [ "${1:-}" = install ]; then
  if ! installed; then
    echo "install: checkov $CHECKOV_VERSION (PyPI, in $venv)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
  fi
  exit 0
fi

installed || { echo "checkov $CHECKOV_VERSION is missing: run scripts/install.sh" >&2; exit 1; }
# cloudformation: the resources (SAM's too); secrets: keys or tokens written into the file.
# --skip-download: no call to Prisma Cloud for guidelines (offline, and nothing to send).
"$venv/bin/checkov" --file template.yaml --framework cloudformation secrets \
  --skip-download --compact --quiet
