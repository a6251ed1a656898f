#!/usr/bin/env bash
# Fuzzes a running stack against openapi.yaml with schemathesis: no response may be a 5xx,
# and every status code, content type and body must be what the spec declares.
#   scripts/fuzz.sh <base-url> [schemathesis run options]   e.g. scripts/fuzz.sh http://127.0.0.1:9100
# Only loopback URLs are accepted: the fuzzer signs up customers and writes junk sessions,
# and its output shows the (dev) keys and token unmasked, so each curl line reproduces.
# Every request carries the dev kiosk and service keys and the session token of a customer
# signed up at the start, so the authenticated routes are exercised too; WhatsApp requests
# go unsigned (they must be 401s the spec declares). Checks: not_a_server_error,
# status_code_conformance, response_schema_conformance, content_type_conformance.
# Bounded: about 40 s on an idle 2-core machine, and never more than FUZZ_TIMEOUT seconds.
# It fails QR codes with the dev kiosk key and wrong passwords for the demo phone, which
# locks both out for a while (429). `make test` runs it (tests/api/schemathesis.rs) against
# the functions served in process on tables of their own; against `make dev`, expect the
# dev kiosk key and the demo phone to be locked for a few minutes afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-100} # generated cases per operation, fuzzing phase
HARD_TIMEOUT=${FUZZ_TIMEOUT:-170}      # seconds for all the passes together
KIOSK_KEY=dev-kiosk-key-0000000000000001
SERVICE_KEY=dev-service-key-000000000000001
VERIFY_TOKEN=dev-whatsapp-verify-token-0001

base=${1:?usage: scripts/fuzz.sh <base-url, e.g. http://127.0.0.1:9100> [schemathesis run options]}
base=${base%/}
shift
extra=("$@") # e.g. --seed N, --report vcr
if ! [[ $base =~ ^http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?$ ]]; then
  echo "fuzz: refusing $base: only a local stack (http://127.0.0.1:<port>) may be fuzzed" >&2
  exit 2
fi

# pip may put schemathesis in a scripts directory that is not on PATH yet.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
if ! command -v schemathesis >/dev/null 2>&1; then
  echo "fuzz: schemathesis is missing; run scripts/install.sh" >&2
  exit 1
fi

# A fresh customer, so the token routes run as a real, password-level login.
phone=$(python3 -c 'import secrets; print("+9198%08d" % secrets.randbelow(10**8))')
signup=$(curl -sS --max-time 30 -X POST "$base/auth/signup" -H 'content-type: application/json' \
  -d "{\"phone_number\":\"$phone\",\"name\":\"Fuzz\",\"password\":\"fuzz-pass-1\",\"channel\":\"web\"}") ||
  { echo "fuzz: no API answering at $base" >&2; exit 1; }
read -r token sid < <(printf %s "$signup" | python3 -c '
import json, sys
try:
    body = json.load(sys.stdin)
    print(body["session_token"], body["session"]["session_id"])
except Exception:
    print("- -")')
if [ "$token" = "-" ]; then
  echo "fuzz: signup at $base/auth/signup failed: $signup" >&2
  exit 1
fi
echo "fuzz: customer $phone, session $sid"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Half of the generated `sid`s are the fuzz customer's real session, so the sales-memory
# routes get past the 404 too; the WhatsApp handshake often gets the dev verify token.
cat >"$work/schemathesis.toml" <<EOF
[dictionaries.sids]
values = ["$sid"]

[parameters]
"path.sid" = { dictionary = "sids", probability = 0.5 }
"query.hub.mode" = { dictionary = "hub_modes", probability = 0.7 }
"query.hub.verify_token" = { dictionary = "verify_tokens", probability = 0.7 }

[dictionaries.hub_modes]
values = ["subscribe"]

[dictionaries.verify_tokens]
values = ["$VERIFY_TOKEN"]
EOF
# `cargo lambda watch` answers a body that is not UTF-8 with its own 500 before any function
# runs (a limit of the local emulator, not of the functions). Such bodies become valid UTF-8
# that is still not JSON, so they reach the functions; tests/api/fuzz.rs sends arbitrary
# bytes to the handlers in-process.
cat >"$work/hooks.py" <<'PY'
import schemathesis


@schemathesis.hook
def map_case(context, case):
    body = case.body
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            case.body = bytes(body).decode("utf-8", errors="replace").encode("utf-8")
    return case
PY

# A fresh login of the fuzz customer: a token for one pass.
login() {
  curl -sS --max-time 30 -X POST "$base/auth/login" -H 'content-type: application/json' \
    -d "{\"phone_number\":\"$phone\",\"password\":\"fuzz-pass-1\",\"channel\":\"web\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["session_token"])'
}

deadline=$((SECONDS + HARD_TIMEOUT))
run() {
  local left=$((deadline - SECONDS))
  if [ "$left" -le 0 ]; then
    return 124
  fi
  SCHEMATHESIS_HOOKS="$work/hooks.py" HYPOTHESIS_STORAGE_DIRECTORY=.local/hypothesis \
    timeout --kill-after=10 "$left" \
    schemathesis --config-file "$work/schemathesis.toml" run openapi.yaml \
      --url "$base" \
      --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance \
      --phases examples,coverage,fuzzing \
      --max-examples "$MAX_EXAMPLES" \
      --generation-with-security-parameters false \
      --generation-database none \
      --request-timeout 20 \
      --workers 1 \
      --no-color \
      --output-sanitize false \
      -H "X-Kiosk-Key: $KIOSK_KEY" \
      -H "X-Service-Key: $SERVICE_KEY" \
      "${extra[@]}" "$@"
}

# The routes that end logins (or may change the password) run last, each in a pass of its
# own with a fresh login, so the first pass keeps a working token throughout.
ending=(/auth/logout /auth/logout-all /session/end /auth/password)
ending_regex="^($(IFS='|'; echo "${ending[*]}"))\$"

status=0
echo "== schemathesis: every operation but ${ending[*]}"
run -H "X-Session-Token: $token" --exclude-path-regex "$ending_regex" || status=$?
for path in "${ending[@]}"; do
  grep -q "^  $path:" openapi.yaml || continue
  echo "== schemathesis: $path"
  token=$(login)
  run -H "X-Session-Token: $token" --include-path "$path" || status=$?
done
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "fuzz: FAILED: out of time after ${HARD_TIMEOUT}s (FUZZ_TIMEOUT)" >&2
elif [ "$status" -ne 0 ]; then
  echo "fuzz: FAILED (exit $status); each failure above has a curl line to reproduce it" >&2
fi
exit "$status"
