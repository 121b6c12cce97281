#!/usr/bin/env bash
# Build the stand-in service images of the test bed (tests only, never defaults of the collection):
#   local/ollama-double:<version>  the Ollama double behind an `ollama` CLI (stands in for ollama/ollama)
#   local/litellm:<version>        the real LiteLLM proxy from PyPI      (stands in for ghcr.io/berriai/litellm)
#   local/postgres:17              Debian trixie's PostgreSQL 17         (stands in for postgres:17)
#   local/postgres:15              Debian bookworm's PostgreSQL 15       (stands in for postgres:15: the old major
#                                  of the major-upgrade test), FROM local/debian-bookworm:base
#   local/nginx:1.26.3             Debian trixie's nginx                (stands in for nginx: a worker's TLS proxy)
#   local/prometheus:2.53.3        Debian trixie's prometheus           (stands in for prom/prometheus; promtool for
#                                  the alert rules' tests)
#   local/redis:7.0                Debian bookworm's redis-server       (stands in for redis:7.x: the gateways' shared
#                                  state), FROM local/debian-bookworm:base
#   local/keepalived:2             Debian trixie's keepalived           (the real daemon; its --config-test checks the
#                                  rendered VRRP config)
# All FROM the bed's base images (no registry is reachable). An image is rebuilt only when its tag is
# missing or its build context changed: each image carries the sha256 of its context (plus the base image
# ID) in the label io.llmstack.bed.context. LLMSTACK_BUILD_NO_CACHE=1 rebuilds them all, without Docker's
# layer cache (fresh apt and pip downloads).
# Usage: build-service-images.sh [ollama-double|litellm|postgres|postgres-15|nginx|prometheus|redis|keepalived]...
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
base=${LLMSTACK_BASE_IMAGE:-local/debian-trixie:base}
litellm_version=${LLMSTACK_LITELLM_VERSION:-1.108.7}
# The CA bundle pip must trust inside `docker build` (PyPI is reached through a TLS-inspecting proxy here).
ca_bundle=${LLMSTACK_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
label=io.llmstack.bed.context

double_version=$(sed -n 's/^VERSION = "\(.*\)"$/\1/p' "$repo/tests/ollama_double/state.py")
declare -A tags=(
  [ollama-double]=${LLMSTACK_OLLAMA_DOUBLE_IMAGE:-local/ollama-double:$double_version}
  [litellm]=${LLMSTACK_LITELLM_IMAGE:-local/litellm:$litellm_version}
  [postgres]=${LLMSTACK_POSTGRES_IMAGE:-local/postgres:17}
  [postgres-15]=${LLMSTACK_POSTGRES_15_IMAGE:-local/postgres:15}
  [nginx]=${LLMSTACK_NGINX_IMAGE:-local/nginx:1.26.3}
  [prometheus]=${LLMSTACK_PROMETHEUS_IMAGE:-local/prometheus:2.53.3}
  [redis]=${LLMSTACK_REDIS_IMAGE:-local/redis:7.0}
  [keepalived]=${LLMSTACK_KEEPALIVED_IMAGE:-local/keepalived:2}
)
# The base image and build context (tests/images/<dir>) of an image, where they are not $base and its name.
declare -A bases=([postgres-15]=${LLMSTACK_BOOKWORM_BASE_IMAGE:-local/debian-bookworm:base}
  [redis]=${LLMSTACK_BOOKWORM_BASE_IMAGE:-local/debian-bookworm:base})
declare -A contexts=([postgres-15]=postgres)

workdir=$(mktemp -d /var/tmp/llmstack-images.XXXXXX)
trap 'rm -rf "$workdir"' EXIT

# Assemble the build context of one image in $1 (files that are not in tests/images/<name> come from
# elsewhere in the checkout, or from this machine for the CA bundle).
assemble() {
  local name=$1 ctx=$2
  cp -a "$repo/tests/images/${contexts[$name]:-$name}/." "$ctx/"
  case "$name" in
    ollama-double)
      mkdir "$ctx/ollama_double"
      (cd "$repo/tests/ollama_double" && find . -name '*.py' -print0 | xargs -0 cp --parents -t "$ctx/ollama_double")
      ;;
    litellm)
      cp "$ca_bundle" "$ctx/bed-ca.crt"
      ;;
  esac
}

# The identity of a build: every context file except the machine's CA bundle, the base image, the args.
context_hash() {
  local ctx=$1 base_id=$2
  shift 2
  {
    (cd "$ctx" && find . -type f ! -name bed-ca.crt -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    echo "base $base_id"
    echo "args $*"
  } | sha256sum | cut -c1-16
}

build() {
  local name=$1 tag=${tags[$1]} from=${bases[$1]:-$base} base_id ctx hash current old_id reason start seconds size log
  local -a args=()
  if ! base_id=$(docker image inspect -f '{{.Id}}' "$from" 2>/dev/null); then
    echo "bed: base image $from is missing; run tests/bed/build-base-image.sh first" >&2
    return 1
  fi
  case "$name" in
    litellm) args=(--build-arg "LITELLM_VERSION=$litellm_version") ;;
    postgres-15) args=(--build-arg PG_MAJOR=15 --build-arg "BASE_IMAGE=$from") ;;
    redis) args=(--build-arg "BASE_IMAGE=$from") ;;
  esac
  ctx=$workdir/$name
  log=$workdir/$name.log
  mkdir "$ctx"
  assemble "$name" "$ctx"
  hash=$(context_hash "$ctx" "$base_id" "${args[@]}")
  current=$(docker image inspect -f "{{ index .Config.Labels \"$label\" }}" "$tag" 2>/dev/null || true)
  if [ "$current" = "$hash" ] && [ -z "${LLMSTACK_BUILD_NO_CACHE:-}" ]; then
    echo "bed: $tag is up to date (context $hash)"
    return 0
  fi
  old_id=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
  if [ -z "$old_id" ]; then
    reason=missing
  elif [ "$current" != "$hash" ]; then
    reason="context changed: ${current:-none} -> $hash"
  else
    reason="LLMSTACK_BUILD_NO_CACHE is set"
  fi
  echo "bed: building $tag ($reason)"
  start=$(date +%s)
  [ -z "${LLMSTACK_BUILD_NO_CACHE:-}" ] || args+=(--no-cache)
  if ! docker build --label "$label=$hash" "${args[@]}" -t "$tag" "$ctx" >"$log" 2>&1; then
    echo "bed: building $tag failed:" >&2
    tail -n 40 "$log" >&2
    return 1
  fi
  seconds=$(($(date +%s) - start))
  size=$(docker image inspect -f '{{.Size}}' "$tag")
  echo "bed: built $tag in ${seconds} s ($((size / 1000000)) MB, context $hash)"
  if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(ollama-double litellm postgres postgres-15 nginx prometheus redis keepalived)
for name in "${names[@]}"; do
  if [ -z "${tags[$name]:-}" ]; then
    echo "bed: unknown image $name (known: ${!tags[*]})" >&2
    exit 2
  fi
  build "$name"
done
