#!/usr/bin/env bash
# Set-up for `npm run bench` and `npm run bench:gpu` only (not part of `npm test` or CI): the CPU
# ceilings' Python packages — numpy and PyTorch from Debian, and OpenBLAS (`libopenblas0-pthread`),
# without which numpy's sgemm and PyTorch's CPU steps run on the reference BLAS (2–50× slower, and
# the ceilings mean nothing). Idempotent; quick when everything is there. Without apt-get (or
# root/sudo) it says what is missing and goes on: the bench leaves the ceiling columns empty.
set -uo pipefail
missing=""
/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1 || missing="$missing python3-numpy"
/usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || missing="$missing python3-torch"
dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "ok installed" || missing="$missing libopenblas0-pthread"
[ -z "$missing" ] && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v apt-get >/dev/null 2>&1 || { [ -n "$SUDO" ] && ! sudo -n true 2>/dev/null; }; then
  echo "bench-setup: missing$missing (install them for the CPU ceilings); going on without" >&2
  exit 0
fi
echo "bench-setup: installing Debian's$missing (the CPU ceilings)" >&2
$SUDO apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null \
  || echo "bench-setup: could not install$missing; the CPU ceilings may be missing or slow" >&2
exit 0
