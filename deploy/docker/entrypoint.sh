#!/bin/sh
# Entry point of the factory image: give the container a clone of the GitOps repository at
# $FACTORY_REPO and a Dagster instance at $DAGSTER_HOME, then run its command. Every role goes
# through it (code server, run pods, daemon, CronJobs), so a run pod on any node starts from a
# fresh clone of the remote.
#
#   GIT_REPO_URL   URL of the GitOps repository (https); unset: no clone (the webserver needs none)
#   GIT_BRANCH     branch to clone (default: main)
#   GIT_TOKEN      token allowed to push (from a Secret); git gets it from a credential
#                  helper only, never in a URL, an argument or a log line
#   FACTORY_REPO   where the clone goes (default: /work/repo)
#   DAGSTER_HOME   the instance; without a dagster.yaml there, it gets the one-machine one
# The deploy repository's own names DEPLOY_REPO_URL and DEPLOY_REPO_TOKEN fill the first and
# the third when those are unset (the legacy CronJobs' Secret keeps working).
set -eu

GIT_REPO_URL="${GIT_REPO_URL:-${DEPLOY_REPO_URL:-}}"
GIT_TOKEN="${GIT_TOKEN:-${DEPLOY_REPO_TOKEN:-}}"
[ -z "$GIT_TOKEN" ] || export GIT_TOKEN # the helper below reads it, whichever name gave it

if [ -n "${GIT_REPO_URL:-}" ]; then
  FACTORY_REPO="${FACTORY_REPO:-/work/repo}"
  export FACTORY_REPO
  mkdir -p "$HOME"
  if [ -n "${GIT_TOKEN:-}" ]; then
    # git's own shell expands the variable when it asks for a password, so the token is in
    # no file and no argument list; the helper answers `get` only (store/erase are no-ops).
    # shellcheck disable=SC2016
    git config --global credential.helper \
      '!f() { test "$1" = get || exit 0; echo username=x-access-token; echo "password=${GIT_TOKEN}"; }; f'
  fi
  git config --global user.name "${FACTORY_GIT_AUTHOR_NAME:-factory}"
  git config --global user.email "${FACTORY_GIT_AUTHOR_EMAIL:-factory@invalid}"
  if [ ! -d "$FACTORY_REPO/.git" ]; then
    git clone --quiet --branch "${GIT_BRANCH:-main}" "$GIT_REPO_URL" "$FACTORY_REPO"
  fi
fi

# The image's DAGSTER_HOME is on the writable volume; the manifests mount their own dagster.yaml
# there (or the chart's), and a home without one gets the single-machine file the image carries.
if [ -n "${DAGSTER_HOME:-}" ] && [ ! -e "$DAGSTER_HOME/dagster.yaml" ] \
  && [ -f /opt/factory/dagster.yaml ] && mkdir -p "$DAGSTER_HOME" 2>/dev/null; then
  cp /opt/factory/dagster.yaml "$DAGSTER_HOME/dagster.yaml"
fi

exec "$@"
