#!/usr/bin/env bash
# Starts or stops a DynamoDB Local instance.
#   scripts/dynamodb.sh start <port> <data-dir>|--in-memory
#   scripts/dynamodb.sh stop <port>
set -euo pipefail
cd "$(dirname "$0")/.."

DDB_DIR=.local/dynamodb-local
action=${1:?usage: dynamodb.sh start|stop <port> [data-dir|--in-memory]}
port=${2:?port}
pidfile=.local/dynamodb-$port.pid
log=.local/dynamodb-$port.log

up() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

case "$action" in
  start)
    if up; then
      echo "dynamodb: already listening on 127.0.0.1:$port"
      exit 0
    fi
    storage=${3:?data dir or --in-memory}
    if [ "$storage" = "--in-memory" ]; then
      args=(-inMemory)
    else
      mkdir -p "$storage"
      args=(-dbPath "$storage")
    fi
    nohup java -Djava.library.path="$DDB_DIR/DynamoDBLocal_lib" -jar "$DDB_DIR/DynamoDBLocal.jar" \
      -sharedDb -port "$port" "${args[@]}" >"$log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      if up; then
        echo "dynamodb: listening on 127.0.0.1:$port (log: $log)"
        exit 0
      fi
      sleep 0.2
    done
    echo "dynamodb: did not start; see $log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
      # Until the port is free: a start right after must not find the old instance.
      for _ in $(seq 1 50); do
        up || break
        sleep 0.2
      done
    fi
    ;;
  *)
    echo "usage: dynamodb.sh start|stop <port> [data-dir|--in-memory]" >&2
    exit 2
    ;;
esac
