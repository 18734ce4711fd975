#!/usr/bin/env bash
# Installs what the image build needs on a fresh Debian/Ubuntu machine: mmdebstrap (to make the
# offline base image from Debian packages). Idempotent; prints one line when nothing is needed.
set -euo pipefail

need=()
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
if ((${#need[@]} == 0)); then
  echo "deps: mmdebstrap present"
  exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deps: need root (or sudo) to install: ${need[*]}" >&2; exit 1; }
  sudo=(sudo -n)
fi
echo "deps: installing ${need[*]} with apt-get"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "deps: installed ${need[*]}"
