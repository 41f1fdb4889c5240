#!/usr/bin/env bash
# podman as this machine kind runs it (deploy/README.md, "Building and running here"):
#   - runc, where installed: crun refuses cgroups in hybrid (v1 + v2) mode;
#   - explicit ulimits for `run`, `create` and `build`: podman's default open-file limit is above
#     the hard limit here, and setrlimit fails ("Operation not permitted").
# Everything else passes through: scripts/podman.sh run --rm IMAGE ..., scripts/podman.sh ps.
set -euo pipefail

global=()
if command -v runc >/dev/null 2>&1; then
  global+=(--runtime "$(command -v runc)")
fi

# the hard limit, capped: a container needs no more than 65536 open files
limit() {
  local hard="$1" cap="$2"
  if [ "$hard" = unlimited ] || [ "$hard" -gt "$cap" ]; then echo "$cap"; else echo "$hard"; fi
}

case "${1:-}" in
  run | create | build)
    nofile=$(limit "$(ulimit -Hn)" 65536)
    nproc=$(limit "$(ulimit -Hu)" 4096)
    exec podman "${global[@]}" "$1" --ulimit "nofile=$nofile:$nofile" \
      --ulimit "nproc=$nproc:$nproc" "${@:2}"
    ;;
  *)
    exec podman "${global[@]}" "$@"
    ;;
esac
