#!/usr/bin/env bash
# Build the factory image from deploy/Dockerfile with podman (`make image`).
#
#   IMAGE       the tag (default: the published name, scripts/image_name.py)
#   BASE_IMAGE  the base (default: the Dockerfile's own, python:3.11-slim, when it can be pulled;
#               otherwise a Debian bookworm base built with mmdebstrap, kept and reused)
#   PYTHON      the interpreter whose pip configuration is read (default: python3)
#
# A package index reached through a private CA: the bundle pip's configuration names as `cert`
# and a pip.conf naming it, with the index URLs pip is configured with (http(s) only: a file://
# index is a path on this machine), go in as build secrets, mounted read-only for the pip steps
# only (deploy/Dockerfile). Secrets are not layers: nothing of them is in the image.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
IMAGE="${IMAGE:-$("$PYTHON" scripts/image_name.py)}"
podman=(scripts/podman.sh)

# The local base: the release python:3.11-slim is built on, with the distribution's python3.
BASE_SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,git,ca-certificates
# As Debian's slim images: no documentation, manual pages or translations (70 MB).
BASE_DPKG_OPTIONS=(
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
)

qualified() {  # podman resolves no short names without a terminal: python:3.11-slim -> docker.io/library/...
  case "$1" in
    */*) echo "$1" ;;
    *) echo "docker.io/library/$1" ;;
  esac
}

# Built once and kept: its tag carries a digest of the recipe, so a changed recipe builds anew.
# `podman rmi` the tag to refresh it (security updates come with the next build of it).
local_base() {
  local recipe tag tmp
  recipe="mmdebstrap --variant=minbase --include=$BASE_PACKAGES ${BASE_DPKG_OPTIONS[*]} $BASE_SUITE"
  tag="localhost/factory-base:$BASE_SUITE-$(printf '%s' "$recipe" | sha256sum | cut -c1-12)"
  if ! "${podman[@]}" image exists "$tag"; then
    echo "building the local base $tag: $recipe" >&2
    tmp=$(mktemp -d /tmp/factory-base.XXXXXX)
    mmdebstrap --quiet --variant=minbase --include="$BASE_PACKAGES" "${BASE_DPKG_OPTIONS[@]}" \
      "$BASE_SUITE" \
      "$tmp/base.tar" >&2 || { rm -rf "$tmp"; return 1; }
    "${podman[@]}" import --quiet \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["/bin/sh"]' \
      "$tmp/base.tar" "$tag" >/dev/null || { rm -rf "$tmp"; return 1; }
    rm -rf "$tmp"
  fi
  echo "$tag"
}

if [ -z "${BASE_IMAGE:-}" ]; then
  default=$(qualified "$(sed -n 's/^ARG BASE_IMAGE=//p' deploy/Dockerfile)")
  if "${podman[@]}" image exists "$default" \
    || timeout 300 "${podman[@]}" pull --quiet "$default" >/dev/null 2>&1; then
    BASE_IMAGE="$default"
  else
    echo "$default cannot be pulled here: using a local Debian $BASE_SUITE base" >&2
    BASE_IMAGE=$(local_base)
  fi
fi

# pip's own reading of its configuration (files and PIP_* variables); the last one wins.
pip_setting() {
  "$PYTHON" -m pip config list 2>/dev/null | sed -n "s/^[^=]*\\.$1='\\(.*\\)'\$/\\1/p" | tail -n 1
}
# The build's pip configuration, as build secrets: mounted for the pip steps only, never stored.
tmp=$(mktemp -d /tmp/factory-image.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
printf '[global]\n' >"$tmp/pip.conf"
secrets=(--secret "id=pip.conf,src=$tmp/pip.conf")
cert="${PIP_CERT:-$(pip_setting cert)}"
if [ -n "$cert" ] && [ -f "$cert" ]; then
  printf 'cert = /run/secrets/pip-cert\n' >>"$tmp/pip.conf"
  secrets+=(--secret "id=pip-cert,src=$cert")
fi
index=$(pip_setting index-url)
case "$index" in http://* | https://*) printf 'index-url = %s\n' "$index" >>"$tmp/pip.conf" ;; esac
extra=$(for url in $(pip_setting extra-index-url); do
  case "$url" in http://* | https://*) printf ' %s' "$url" ;; esac
done)
[ -z "$extra" ] || printf 'extra-index-url =%s\n' "$extra" >>"$tmp/pip.conf"

echo "building $IMAGE from deploy/Dockerfile on $BASE_IMAGE" >&2
previous=$("${podman[@]}" image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
"${podman[@]}" build --network host --layers \
  --ignorefile deploy/Dockerfile.dockerignore \
  --build-arg "BASE_IMAGE=$BASE_IMAGE" "${secrets[@]}" -f deploy/Dockerfile -t "$IMAGE" .
current=$("${podman[@]}" image inspect --format '{{.Id}}' "$IMAGE")
# The build it replaces is untagged now: remove it (its 400 MB environment layer), unless a
# container still uses it. The cached build layers stay, for the next build.
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
  "${podman[@]}" rmi "$previous" >/dev/null 2>&1 || true
fi
"${podman[@]}" image inspect --format "$IMAGE: {{.Size}} bytes, {{.Id}}" "$IMAGE"
