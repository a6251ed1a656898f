#!/usr/bin/env bash
# Starts or stops the local stand-in for WhatsApp's Cloud API, Amazon SNS and AWS Secrets
# Manager (scripts/standin.py): the messages it "delivers" are appended to <outbox>; it
# holds secret `omnisession-dev` with config/dev.env's secrets, which `sam local invoke`
# reads as a deployed function reads its own (config/sam-local.json).
#   scripts/standin.sh start <port> <outbox>
#   scripts/standin.sh stop <port>
set -euo pipefail
cd "$(dirname "$0")/.."

action=${1:?usage: standin.sh start|stop <port> [outbox]}
port=${2:?port}
pidfile=.local/standin-$port.pid
log=.local/standin-$port.log

healthy() { curl -sf -m 1 "http://127.0.0.1:$port/_standin/health" >/dev/null 2>&1; }
up() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

case "$action" in
  start)
    if healthy; then
      echo "standin: already listening on 127.0.0.1:$port"
      exit 0
    fi
    if up; then
      echo "standin: port $port is taken by something else" >&2
      exit 1
    fi
    outbox=${3:?outbox file}
    mkdir -p .local "$(dirname "$outbox")"
    nohup python3 scripts/standin.py --port "$port" --outbox "$outbox" \
      --secrets-from config/dev.env --secret-name omnisession-dev >"$log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 50); do
      if healthy; then
        echo "standin: WhatsApp, SMS and Secrets Manager on http://127.0.0.1:$port, messages in $outbox (log: $log)"
        exit 0
      fi
      sleep 0.1
    done
    echo "standin: did not start; see $log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
      # Until the port is free: a start right after must not find the old instance.
      for _ in $(seq 1 50); do
        up || break
        sleep 0.1
      done
    fi
    ;;
  *)
    echo "usage: standin.sh start|stop <port> [outbox]" >&2
    exit 2
    ;;
esac
