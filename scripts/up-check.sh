#!/usr/bin/env bash
# Checks `make up` as a newcomer would use it: it comes up, `ping` answers Pong, a secured route
# asks for credentials, the functions' metrics can be read, the `ferry` command line applies a
# mirror file and runs it, and Ctrl-C stops everything it started.
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
# The metrics: a registry check through the API writes its requests, which `ferry-local metrics`
# sums from the file the functions write to.
code=$(curl -s -o /dev/null -w '%{http_code}' -u "admin:${FERRY_ADMIN_PASSWORD:-Harbor12345}" \
  -H 'Content-Type: application/json' -d '{"type": "docker-registry", "url": "http://127.0.0.1:5001"}' \
  http://127.0.0.1:8080/api/v2.0/registries/ping)
[ "$code" = 200 ] || fail "registry ping answered $code"
target/debug/ferry-local metrics --file .local/metrics.jsonl | grep -q 'Ferry/RegistryRequests {Registry=127.0.0.1:5001,StatusClass=2xx}' \
  || fail "no registry requests in the metrics: $(target/debug/ferry-local metrics --file .local/metrics.jsonl 2>&1)"
# The command line against it: a mirror file applied twice (the second changes nothing), and a
# run followed to its end.
mirror=$(mktemp --suffix=.yaml)
cat >"$mirror" <<'YAML'
registries:
  - {name: up-check-src, type: docker-registry, url: "http://127.0.0.1:5001"}
  - {name: up-check-dst, type: docker-registry, url: "http://127.0.0.1:5002"}
policies:
  - {name: up-check, source: up-check-src, destination: up-check-dst, filters: [{type: name, value: "up-check/**"}]}
YAML
export FERRY_URL=http://127.0.0.1:8080 FERRY_PASSWORD=${FERRY_ADMIN_PASSWORD:-Harbor12345}
target/debug/ferry apply -f "$mirror" >>"$log" 2>&1 || fail "ferry apply failed"
target/debug/ferry apply -f "$mirror" 2>&1 | tee -a "$log" | grep -q '^0 change(s) applied, 3 unchanged' \
  || fail "a second ferry apply changed something"
target/debug/ferry run up-check --wait --timeout 120 >>"$log" 2>&1 || fail "ferry run --wait did not succeed"
rm -f "$mirror"
kill -INT "$up"
for _ in $(seq 60); do kill -0 "$up" 2>/dev/null || break; sleep 0.5; done
kill -0 "$up" 2>/dev/null && fail "make up did not stop on Ctrl-C"
if pgrep -f 'scripts/moto_server.py -H 127.0.0.1 -p 4566|DynamoDBLocal.jar .* -port 4567|registry-500[12]/config.yml|cargo-lambda lambda watch|ferry-local serve' >/dev/null; then
  fail "processes left behind: $(pgrep -af 'moto_server|DynamoDBLocal|docker-registry|cargo-lambda|ferry-local')"
fi
echo "up-check: make up came up, answered ping, wrote metrics, took a ferry apply and run, and stopped cleanly"
