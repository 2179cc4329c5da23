#!/usr/bin/env bash
# Start / stop a local moto server (AWS API mock: SSM, Secrets Manager, ...) on 127.0.0.1.
#   hack/python/moto.sh start [PORT]   -> starts in background, waits until ready, prints the URL as the LAST
#                                         stdout line; pid in $MOTO_DIR/moto.pid, log in $MOTO_DIR/moto.log
#   hack/python/moto.sh stop           -> stops the server recorded in $MOTO_DIR/moto.pid
# Env: MOTO_DIR (default: <cache>/moto), MOTO_PORT (default 5005; 0 = pick a free port),
#      MOTO_VENV (default: output of setup-venv.sh).
# Clients then need: AWS_ENDPOINT_URL=<url> AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${IMAGE_REWRITER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/image-rewriter}"
dir="${MOTO_DIR:-$cache/moto}"
pidfile="$dir/moto.pid"

stop() {
  if [[ -f "$pidfile" ]]; then
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "moto: stopped pid $pid" >&2
    fi
    rm -f "$pidfile"
  fi
}

start() {
  local port="${1:-${MOTO_PORT:-5005}}"
  local venv="${MOTO_VENV:-$("$here/setup-venv.sh" | tail -n1)}"
  mkdir -p "$dir"
  stop
  if [[ "$port" == 0 ]]; then
    port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  fi
  local url="http://127.0.0.1:$port"
  # Fake credentials/region so nothing in moto tries to read ~/.aws.
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
    nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
  echo $! >"$pidfile"
  local start=$SECONDS
  # Ready when moto's own API answers (the Flask app is loaded lazily per service on first call).
  until curl -fsS -o /dev/null "$url/moto-api/data.json" 2>/dev/null; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "moto: server exited; log:" >&2; cat "$dir/moto.log" >&2; exit 1
    fi
    if (( SECONDS - start > 60 )); then echo "moto: not ready after 60s" >&2; stop; exit 1; fi
    sleep 0.1
  done
  echo "moto: ready at $url (pid $(cat "$pidfile"), log $dir/moto.log)" >&2
  echo "$url"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  *) echo "usage: $0 start [PORT] | stop" >&2; exit 2 ;;
esac
