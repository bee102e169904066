#!/usr/bin/env bash
# Packages Ferry for AWS (`make package`): `sam validate --lint` on infra/template.yaml, then
# `sam build`, which cross-compiles the four functions for arm64 (release) with cargo-lambda
# and zig, then a zip of each function's bootstrap with its size. `sam deploy --guided` follows
# (README.md, "Deploying to AWS").
#   .venv-sam/   aws-sam-cli, pinned below; apart from .venv, which CI installs and keeps small
#   .venv/       cargo-lambda and zig (scripts/requirements.txt, `make deps`)
#   The Rust standard library for aarch64-unknown-linux-gnu: rustup's when its toolchain has the
#   target; otherwise, on Debian, the rustc-web compiler with its arm64 standard library from
#   Debian's packages (installed here, as root or with sudo), used as RUSTC for this build only.
# CARGO_TARGET_DIR is honoured (default target/); the build is a release one: it takes minutes.
# Nothing here talks to AWS: validate and build need no credentials, and SAM's telemetry is off.
set -euo pipefail
cd "$(dirname "$0")/.."

sam_version=1.170.0
target=aarch64-unknown-linux-gnu
venv=.venv-sam
build_dir=.aws-sam/build
zip_dir=.aws-sam/zips

export SAM_CLI_TELEMETRY=0
# sam reads a region even for commands that call nothing; dummy credentials keep it from
# looking for real ones. Neither is used to reach AWS here.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" AWS_REGION="${AWS_REGION:-us-east-1}"
if [ -z "${AWS_ACCESS_KEY_ID:-}" ] && [ -z "${AWS_PROFILE:-}" ]; then
  export AWS_ACCESS_KEY_ID=package AWS_SECRET_ACCESS_KEY=package
fi

stamp="$venv/.installed-aws-sam-cli-$sam_version"
if [ ! -f "$stamp" ]; then
  echo "package: aws-sam-cli $sam_version into $venv"
  python3 -m venv "$venv"
  echo '*' >"$venv/.gitignore"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==$sam_version"
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi
[ -x .venv/bin/cargo-lambda ] || scripts/install-deps.sh
# cargo-lambda and zig (the ziglang package, found through the venv's python) for sam build.
export PATH="$PWD/.venv/bin:$PATH"

echo "package: sam validate --lint"
"$venv/bin/sam" validate --lint --template-file infra/template.yaml

if [ -z "${RUSTC:-}" ] && ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  # No aarch64 standard library for rustup's toolchain (and no network to fetch one with
  # `rustup target add`): Debian's compiler, whose arm64 standard library is a package.
  if ! dpkg-query -W -f='${Status}' "libstd-rust-web-dev:arm64" 2>/dev/null | grep -q installed; then
    echo "package: Debian's rustc-web and libstd-rust-web-dev:arm64 (no $target for rustup)"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" dpkg --add-architecture arm64
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
      rustc-web "libstd-rust-web-dev:arm64" >/dev/null
  fi
  export RUSTC=/usr/bin/rustc
  # cargo-lambda looks for the target in rustup's toolchain, not in RUSTC's sysroot, and runs
  # `rustup target add` (a download) when it is not there: Debian's rustc needs none.
  shim=$(mktemp -d)
  trap 'rm -rf "$shim"' EXIT
  real_rustup=$(command -v rustup || true)
  cat >"$shim/rustup" <<SHIM
#!/bin/sh
[ "\$1 \$2" = "target add" ] && exit 0
[ -n "$real_rustup" ] && exec "$real_rustup" "\$@"
exit 1
SHIM
  chmod +x "$shim/rustup"
  export PATH="$shim:$PATH"
fi
echo "package: sam build (release, arm64; rustc: $("${RUSTC:-rustc}" --version))"
started=$(date +%s)
# Not cached: SAM's cache hashes every file under CodeUri, the whole repository with target/.
"$venv/bin/sam" build --template-file infra/template.yaml --config-file "$PWD/samconfig.toml" \
  --build-dir "$build_dir" --beta-features --no-cached
echo "package: built in $(($(date +%s) - started)) s"

rm -rf "$zip_dir"
mkdir -p "$zip_dir"
printf '%-20s %12s %12s\n' function bootstrap zip
for dir in "$build_dir"/*/; do
  function=$(basename "$dir")
  [ -f "$dir/bootstrap" ] || continue
  zip="$zip_dir/$function.zip"
  python3 - "$dir/bootstrap" "$zip" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    info = zipfile.ZipInfo("bootstrap")
    info.external_attr = 0o755 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(sys.argv[1], "rb") as f:
        z.writestr(info, f.read(), compresslevel=9)
EOF
  printf '%-20s %12s %12s\n' "$function" "$(stat -c %s "$dir/bootstrap")" "$(stat -c %s "$zip")"
done
echo "package: $build_dir holds the template and artifacts for \`sam deploy --guided\`; zips in $zip_dir"
