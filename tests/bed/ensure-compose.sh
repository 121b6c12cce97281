#!/usr/bin/env bash
# Ensure `docker compose` (Compose v2) works on this machine, for integration tests that run the
# litellm_stack role against this machine's own engine. Does nothing when it already works.
# Bookworm has only Compose v1 (docker-compose 1.29), so the plugin comes from Debian trixie's docker-compose
# package (the one the bed's workstations install), fetched with apt inside the bed's trixie base image.
set -euo pipefail

base=${LLMSTACK_BASE_IMAGE:-local/debian-trixie:base}
plugins=${LLMSTACK_COMPOSE_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}

if docker compose version >/dev/null 2>&1; then
  exit 0
fi

workdir=$(mktemp -d /var/tmp/llmstack-compose.XXXXXX)
trap 'rm -rf "$workdir"' EXIT

echo "bed: installing the Compose v2 plugin from Debian trixie's docker-compose into $plugins" >&2
docker run --rm --network bridge --volume "$workdir:/out" --workdir /out "$base" \
  sh -c 'apt-get update -qq && apt-get -o APT::Sandbox::User=root download -qq docker-compose'
dpkg-deb --extract "$workdir"/docker-compose_*.deb "$workdir/root"
install -D --mode=0755 "$workdir/root/usr/libexec/docker/cli-plugins/docker-compose" "$plugins/docker-compose"
docker compose version >&2
