#!/usr/bin/env bash
# `make up`: the whole system on this machine, in the foreground; Ctrl-C stops all of it.
#
#   AWS emulators     DynamoDB Local on 127.0.0.1:4567 for DynamoDB and moto on :4566 for the rest
#                     (default), or LocalStack for all (FERRY_EMULATOR=localstack, needs Docker)
#   registries        CNCF distribution on 127.0.0.1:5001 (source) and :5002 (destination)
#   functions         the four binaries under `cargo lambda watch` (reloads on code changes)
#   event plane       ferry-local: SQS deliveries, schedules, and the API on 127.0.0.1:8080, and
#                     the IAM guard on 127.0.0.1:4568 between the functions and the emulators
# Debug builds by default; FERRY_PROFILE=release builds and runs release binaries (slower to
# build, as fast as Lambda runs them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

emulator=${FERRY_EMULATOR:-moto}
aws_port=${FERRY_AWS_PORT:-4566}
dynamodb_port=${FERRY_DYNAMODB_PORT:-4567}
profile=${FERRY_PROFILE:-debug}
case $profile in
  debug) build_flags=() ;;
  release) build_flags=(--release) ;;
  *) echo "up: FERRY_PROFILE is debug or release, not $profile" >&2; exit 2 ;;
esac
api_address=${FERRY_API_ADDRESS:-127.0.0.1:8080}
invoke_port=${FERRY_INVOKE_PORT:-9000}
# The functions reach the emulators through the event plane's IAM guard, which refuses what
# their policies in infra/template.yaml do not allow; FERRY_IAM_GUARD=off lets them straight through.
iam_guard_address=${FERRY_IAM_GUARD_ADDRESS:-127.0.0.1:4568}
iam_guard=${FERRY_IAM_GUARD:-on}
localstack_image=${FERRY_LOCALSTACK_IMAGE:-localstack/localstack:4.9.2}
export FERRY_ADMIN_PASSWORD=${FERRY_ADMIN_PASSWORD:-Harbor12345}
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_DEFAULT_REGION=${AWS_REGION:-us-east-1}
export AWS_ENDPOINT_URL=http://127.0.0.1:$aws_port
export RUST_LOG=${RUST_LOG:-info}
state=.local
mkdir -p "$state/logs"

pids=()
localstack_started=
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping..."
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  [ -n "$localstack_started" ] && docker stop ferry-localstack >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  echo "stopped."
}
trap cleanup INT TERM EXIT

# Starts a command in its own process group, logging to .local/logs/NAME.log.
start() {
  local name=$1; shift
  setsid "$@" >"$state/logs/$name.log" 2>&1 &
  pids+=($!)
}

wait_for() {
  local what=$1 seconds=$2; shift 2
  for _ in $(seq $((seconds * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "up: $what did not come up in ${seconds}s; see $state/logs/" >&2
  exit 1
}

scripts/install-deps.sh
cargo build --workspace --bins --quiet "${build_flags[@]}"

if [ "$emulator" = localstack ]; then
  docker run --rm -d --name ferry-localstack -p "127.0.0.1:$aws_port:4566" \
    -e SERVICES=dynamodb,sqs,s3,kms,scheduler,secretsmanager "$localstack_image" >/dev/null
  localstack_started=1
else
  start moto .venv/bin/python scripts/moto_server.py -H 127.0.0.1 -p "$aws_port"
  start dynamodb-local scripts/dynamodb-local.sh "$dynamodb_port"
  export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$dynamodb_port
  wait_for "DynamoDB Local" 60 curl -s -o /dev/null "$AWS_ENDPOINT_URL_DYNAMODB/"
fi
wait_for "the AWS emulator" 60 curl -sf -o /dev/null "$AWS_ENDPOINT_URL/"

for port in 5001 5002; do
  dir=$state/registry-$port
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $root/$dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
CONFIG
  start "registry-$port" docker-registry serve "$dir/config.yml"
  wait_for "registry on $port" 20 curl -sf -o /dev/null "http://127.0.0.1:$port/v2/"
done

target/$profile/ferry-local bootstrap --env-file "$state/functions.env" >/dev/null
# The functions' metrics (CloudWatch embedded metric format) go to a file here, not stdout.
: >"$state/metrics.jsonl"
echo "FERRY_METRICS_FILE=$PWD/$state/metrics.jsonl" >>"$state/functions.env"
if [ "$iam_guard" = off ]; then
  guard_flags=(--no-iam-guard)
  env | grep -E '^(AWS_|FERRY_ADMIN_PASSWORD=|RUST_LOG=)' >>"$state/functions.env"
else
  guard_flags=(--iam-guard "$iam_guard_address")
  env | grep -E '^(AWS_|FERRY_ADMIN_PASSWORD=|RUST_LOG=)' | grep -v '^AWS_ENDPOINT_URL' >>"$state/functions.env"
  printf 'AWS_ENDPOINT_URL=http://%s\nAWS_ENDPOINT_URL_DYNAMODB=http://%s\n' \
    "$iam_guard_address" "$iam_guard_address" >>"$state/functions.env"
fi

start functions .venv/bin/cargo-lambda lambda watch --quiet \
  --invoke-address 127.0.0.1 --invoke-port "$invoke_port" --concurrency 4 --timeout 900 "${build_flags[@]}" \
  --env-file "$state/functions.env"
wait_for "cargo lambda watch" 120 curl -s -o /dev/null "http://127.0.0.1:$invoke_port/"

start event-plane target/$profile/ferry-local serve \
  --invoke-url "http://127.0.0.1:$invoke_port" --http "$api_address" \
  --concurrency ferry-transfer=4 "${guard_flags[@]}"
wait_for "the API" 300 bash -c "curl -sf http://$api_address/api/v2.0/ping | grep -q Pong"

cat <<READY

Ferry is up. What runs where:
  API (Harbor v2.0)   http://$api_address/api/v2.0   user admin, password \$FERRY_ADMIN_PASSWORD ($FERRY_ADMIN_PASSWORD)
  AWS emulators       $AWS_ENDPOINT_URL   ($emulator: SQS, S3, KMS, Scheduler; stack ferry-local)
                      ${AWS_ENDPOINT_URL_DYNAMODB:-$AWS_ENDPOINT_URL}   (DynamoDB)
  binaries            $profile (FERRY_PROFILE=release for release builds)
  source registry     http://127.0.0.1:5001
  destination         http://127.0.0.1:5002
  functions           cargo lambda watch on 127.0.0.1:$invoke_port (api, trigger, lister, transfer)
  event plane         ferry-local: SQS -> lister/transfer, schedules -> trigger, HTTP -> api
  IAM guard           http://$iam_guard_address (FERRY_IAM_GUARD=$iam_guard): the functions' AWS calls, held to their template policies
  logs                $state/logs/
  metrics             target/$profile/ferry-local metrics   (sums $state/metrics.jsonl, as CloudWatch would)
Ready. Ctrl-C stops everything.
READY
wait
