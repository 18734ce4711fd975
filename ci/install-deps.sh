#!/usr/bin/env bash
# Installs what the suite needs on a fresh Debian machine: mmdebstrap (to make the offline base
# image from Debian packages) and chromium (to render the dashboard page headless). Idempotent;
# prints one line when nothing is needed.
set -euo pipefail

need=()
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if ((${#need[@]} == 0)); then
  echo "deps: mmdebstrap and chromium present"
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
