#!/usr/bin/env bash
# Build local/debian-trixie:base with debootstrap when it is missing; reuse it when present. The bed also
# builds local/debian-bookworm:base (LLMSTACK_BASE_IMAGE, LLMSTACK_BASE_SUITE=bookworm) for PostgreSQL 15.
# No registry is reachable from the test machines, so every image the bed uses starts here.
set -euo pipefail

image=${LLMSTACK_BASE_IMAGE:-local/debian-trixie:base}
suite=${LLMSTACK_BASE_SUITE:-trixie}
packages=python3,systemd,systemd-sysv,ca-certificates,iproute2,sudo

if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  echo "bed: installing debootstrap" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq debootstrap >/dev/null
fi

# The mirror this machine already uses is the one the network lets through.
mirror=${LLMSTACK_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
fi
if [ -z "$mirror" ]; then
  mirror=$(awk '/^deb / && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

rootfs=$(mktemp -d /var/tmp/llmstack-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

echo "bed: debootstrap $suite from $mirror into $image" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >/dev/null
# The image's own apt sources must point at the same reachable mirror.
printf 'deb %s %s main\n' "$mirror" "$suite" >"$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import - "$image" >/dev/null
echo "bed: built $image" >&2
