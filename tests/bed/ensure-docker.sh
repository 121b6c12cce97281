#!/usr/bin/env bash
# Ensure a Docker engine answers on this machine. Does nothing when one already does.
# The test machines have no systemd as PID 1, so dockerd is started in the background.
set -euo pipefail

log=${LLMSTACK_DOCKERD_LOG:-/var/log/llmstack-dockerd.log}

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "bed: installing Debian's docker.io" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "bed: starting dockerd (log: $log)" >&2
  nohup dockerd >"$log" 2>&1 &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
echo "bed: dockerd did not answer within 60 s; see $log" >&2
tail -n 20 "$log" >&2 || true
exit 1
