#!/bin/sh
# Entry point of the factory image: give the container a clone of the GitOps repository at
# $FACTORY_REPO, then run its command. Every role goes through it (code server, run pods,
# daemon, CronJobs), so a run pod on any node starts from a fresh clone of the remote.
#
#   GIT_REPO_URL   URL of the GitOps repository; unset: no clone (the webserver needs none)
#   GIT_BRANCH     branch to clone (default: main)
#   GIT_TOKEN      token allowed to push (from a Secret); git gets it from a credential
#                  helper only, never in a URL or a log line
#   FACTORY_REPO   where the clone goes (default: /work/repo)
# The deploy repository's own names DEPLOY_REPO_URL and DEPLOY_REPO_TOKEN fill the first and
# the third when those are unset (the legacy CronJobs' Secret keeps working).
set -eu

GIT_REPO_URL="${GIT_REPO_URL:-${DEPLOY_REPO_URL:-}}"
GIT_TOKEN="${GIT_TOKEN:-${DEPLOY_REPO_TOKEN:-}}"

if [ -n "${GIT_REPO_URL:-}" ]; then
  FACTORY_REPO="${FACTORY_REPO:-/work/repo}"
  export FACTORY_REPO
  mkdir -p "$HOME"
  if [ -n "${GIT_TOKEN:-}" ]; then
    # git's own shell expands the variable when it asks for a password: single quotes intended.
    # shellcheck disable=SC2016
    git config --global credential.helper \
      '!f() { echo username=x-access-token; echo "password=${GIT_TOKEN}"; }; f'
  fi
  git config --global user.name "${FACTORY_GIT_AUTHOR_NAME:-factory}"
  git config --global user.email "${FACTORY_GIT_AUTHOR_EMAIL:-factory@invalid}"
  if [ ! -d "$FACTORY_REPO/.git" ]; then
    git clone --quiet --branch "${GIT_BRANCH:-main}" "$GIT_REPO_URL" "$FACTORY_REPO"
  fi
fi

exec "$@"
