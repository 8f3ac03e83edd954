#!/usr/bin/env bash
# Installs what Corvid needs to build and test, from Debian/Ubuntu packages.
# Runs apt-get only for packages that are missing; uses sudo when not root.
set -euo pipefail

packages=(build-essential cmake pkg-config ccache doctest-dev libcli11-dev libomp-dev libpcre2-dev nlohmann-json3-dev python3 python3-pip unzip)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: everything is already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
