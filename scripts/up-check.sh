#!/usr/bin/env bash
# Checks `make up` as a newcomer would use it: it comes up, `ping` answers Pong, a secured route
# asks for credentials, and Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
# A background job starts with SIGINT ignored; restore it so the Ctrl-C below is a real one.
setsid env --default-signal=INT scripts/up.sh >"$log" 2>&1 &
up=$!
fail() { echo "up-check: $*" >&2; cat "$log" >&2; kill -INT "$up" 2>/dev/null || true; exit 1; }
for _ in $(seq 600); do
  grep -q '^Ready' "$log" && break
  kill -0 "$up" 2>/dev/null || fail "make up exited before it was ready"
  sleep 0.5
done
grep -q '^Ready' "$log" || fail "make up was not ready in 300s"
[ "$(curl -s http://127.0.0.1:8080/api/v2.0/ping)" = Pong ] || fail "ping did not answer Pong"
[ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/api/v2.0/registries)" = 401 ] || fail "no 401 without credentials"
kill -INT "$up"
for _ in $(seq 60); do kill -0 "$up" 2>/dev/null || break; sleep 0.5; done
kill -0 "$up" 2>/dev/null && fail "make up did not stop on Ctrl-C"
if pgrep -f 'scripts/moto_server.py -H 127.0.0.1 -p 4566|DynamoDBLocal.jar .* -port 4567|registry-500[12]/config.yml|cargo-lambda lambda watch|ferry-local serve' >/dev/null; then
  fail "processes left behind: $(pgrep -af 'moto_server|DynamoDBLocal|docker-registry|cargo-lambda|ferry-local')"
fi
echo "up-check: make up came up, answered ping and stopped cleanly"
