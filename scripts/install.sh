#!/usr/bin/env bash
# Install everything labctl needs on Debian 12, as root: system packages, the Python package
# in ./.venv (linked as /usr/local/bin/labctl), and a running libvirtd.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  python3 python3-venv python3-dev gcc pkg-config libvirt-dev
  qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients
  mmdebstrap e2fsprogs iproute2 graphviz ca-certificates tcpdump
  websockify spice-html5 chromium
)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "labctl: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
ln -sf "$PWD/.venv/bin/labctl" /usr/local/bin/labctl
.venv/bin/labctl host start
