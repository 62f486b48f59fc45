#!/usr/bin/env bash
# Runs router, one worker and the frontend on this machine; Ctrl-C stops all three.
# Called by `make run`, which sets BIN_DIR, MODEL and the ports.
set -euo pipefail
: "${BIN_DIR:?}" "${MODEL:?}"
ROUTER_PORT=${ROUTER_PORT:-7000} EVENTS_PORT=${EVENTS_PORT:-7001} WORKER_PORT=${WORKER_PORT:-7100}
WORKER_SYSTEM_PORT=${WORKER_SYSTEM_PORT:-8081} ROUTER_SYSTEM_PORT=${ROUTER_SYSTEM_PORT:-8082} HTTP_PORT=${HTTP_PORT:-8000}

pids=()
stop() {
  trap - INT TERM EXIT
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

"$BIN_DIR/patchwork-router" --listen "tcp://127.0.0.1:$ROUTER_PORT" --events-listen "tcp://127.0.0.1:$EVENTS_PORT" \
  --system-host 127.0.0.1 --system-port "$ROUTER_SYSTEM_PORT" &
pids+=($!)
"$BIN_DIR/patchwork-worker" --router "tcp://127.0.0.1:$ROUTER_PORT" --model "$MODEL" \
  --served-model-name SmolLM2-135M-Instruct --listen "tcp://127.0.0.1:$WORKER_PORT" \
  --system-host 127.0.0.1 --system-port "$WORKER_SYSTEM_PORT" --enable-lora &
pids+=($!)
"$BIN_DIR/patchwork-frontend" --router "tcp://127.0.0.1:$ROUTER_PORT" --http-host 127.0.0.1 --http-port "$HTTP_PORT" &
pids+=($!)

# The worker answers once its model is loaded (seconds); the frontend at once.
for port in "$WORKER_SYSTEM_PORT" "$HTTP_PORT"; do
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
# The demo adapters, when present (examples/adapters/).
for adapter in "$(cd "$(dirname "$0")/../.." && pwd)"/examples/adapters/*/; do
  [ -f "$adapter/adapter_config.json" ] || continue
  name=$(basename "$adapter")
  if answer=$(curl -s -X POST "http://127.0.0.1:$WORKER_SYSTEM_PORT/v1/loras" -H 'Content-Type: application/json' \
      -d "{\"lora_name\": \"$name\", \"source\": {\"uri\": \"file://${adapter%/}\"}}") && [[ "$answer" == *'"success"'* ]]; then
    echo "loaded adapter $name"
  else
    echo "could not load adapter $name: $answer" >&2
  fi
done

cat <<MSG

Patchwork is running:
  frontend (OpenAI API)  http://127.0.0.1:$HTTP_PORT/v1/models
  worker (adapters)      http://127.0.0.1:$WORKER_SYSTEM_PORT/v1/loras
  router (cluster view)  http://127.0.0.1:$ROUTER_SYSTEM_PORT/cluster
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}"
echo "a process exited; stopping the others" >&2
exit 1
