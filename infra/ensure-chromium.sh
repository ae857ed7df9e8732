#!/usr/bin/env bash
# Print the path of the system's Chromium, installing Debian's package first when it is
# missing and this is root (the browser tests drive it; Playwright's own browser downloads
# are not used). Fails, saying why, when neither is possible.
set -euo pipefail
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "no chromium on PATH: install Debian's package (sudo apt-get install chromium)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "installing Debian's chromium package ..." >&2
  apt-get install -y -q chromium >/tmp/apt-chromium.log 2>&1 ||
    { apt-get update -q >>/tmp/apt-chromium.log 2>&1 &&
      apt-get install -y -q chromium >>/tmp/apt-chromium.log 2>&1; } ||
    { echo "apt-get install chromium failed: $(tail -n 1 /tmp/apt-chromium.log)" >&2; exit 1; }
fi
command -v chromium
