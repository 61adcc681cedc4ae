#!/usr/bin/env bash
# Installs the software Vulkan driver (Mesa lavapipe from bookworm-backports) when it is missing.
# Idempotent: exits quickly when a Mesa >= 23 lavapipe ICD is already installed.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
have_new_mesa() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 23 && dpkg-query -W libvulkan1 >/dev/null 2>&1
}
if have_new_mesa; then exit 0; fi
if ! command -v apt-get >/dev/null; then
  echo "setup-vulkan: no apt-get; install a Vulkan driver (Mesa >= 23 lavapipe) by hand" >&2; exit 1
fi
. /etc/os-release
codename=${VERSION_CODENAME:-bookworm}
if ! grep -rqs "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "deb http://deb.debian.org/debian ${codename}-backports main" | $SUDO tee /etc/apt/sources.list.d/backports.list >/dev/null
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t "${codename}-backports" mesa-vulkan-drivers libvulkan1 >/dev/null
