#!/usr/bin/env bash
# Headless Chromium (Debian) and the dashboard's browser assets, for the browser test. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# Python side (the dashboard extra) is installed by the caller, together with any other extras.
bash experiments/dashboard_assets.sh
