#!/usr/bin/env bash
# One-time, idempotent set-up: npm dependencies, a WebGPU adapter (Mesa lavapipe from
# bookworm-backports when none is found), espeak-ng for the spoken-digit data, and Debian's chromium
# for the browser test.
# Quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

# 1. npm dependencies, exactly as locked (reinstalled when package-lock.json changed since the last install).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies" >&2
  # The lock lists every platform's optional packages (rollup, esbuild): regenerate it from scratch
  # (`rm -rf node_modules package-lock.json && npm install`) if `npm ci` ever says it is out of sync.
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# 2. A WebGPU adapter through Dawn; install the software Vulkan driver if there is none.
probe() { node scripts/probe-webgpu.mjs >/dev/null 2>&1; }
if ! probe; then
  echo "setup: no WebGPU adapter found; installing Mesa lavapipe (software Vulkan) from backports" >&2
  bash scripts/setup-vulkan.sh >&2
  if ! probe; then
    node scripts/probe-webgpu.mjs || true
    echo "setup: still no WebGPU adapter; see README (Troubleshooting)" >&2
    exit 1
  fi
fi

# 3. Optional: Debian's full Fashion-MNIST (`--fashion-mnist`), for examples/fashion-mnist.ts.
if [ "${1:-}" = --fashion-mnist ] && [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "setup: installing Debian's dataset-fashion-mnist" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

# 4. Debian's espeak-ng (the spoken-digit data, scripts/data/spoken-digits.ts), the xz/bzip2
#    decompressors (scripts/data/mlbench-to-csv.ts reads xz- and bzip2-compressed R data files) and
#    python3-torch (the float64 PyTorch cross-checks in test/, which fail without it under CI=true).
#    `--spoken-digits` also generates the spoken-digit clips into data/spoken-digits (a few minutes).
missing=""
for tool in espeak-ng:espeak-ng xz:xz-utils bzip2:bzip2; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing="$missing ${tool#*:}"
done
/usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || missing="$missing python3-torch"
if [ -n "$missing" ]; then
  echo "setup: installing Debian's$missing" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
if [ "${1:-}" = --spoken-digits ] && [ ! -e data/spoken-digits/manifest.csv ]; then
  echo "setup: generating the spoken digits into data/spoken-digits" >&2
  npx tsx scripts/data/spoken-digits.ts --out data/spoken-digits >&2
fi

# 5. Debian's chromium for the browser test (WebGPU through SwiftShader in headless mode).
if [ "${WGRAD_SKIP_BROWSER:-}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then
  echo "setup: installing Debian's chromium for the browser test" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
