#!/usr/bin/env bash
# A Redis server for the distributed calibration test (Debian's redis-server). Idempotent.
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
