#!/usr/bin/env bash
# The `sam local` tier (make test-sam-local): the functions and the training image in
# Lambda containers (make sam-local). Docker is Debian's docker.io, installed and started
# here when the machine allows it (and stopped again afterwards); where it cannot run, the
# tier says "skipped" and why, and does not pass silently.
set -uo pipefail
cd "$(dirname "$0")/.."

skip() {
  echo "sam-local tier: skipped: $*"
  exit 0
}

docker_answers() {
  timeout 20 docker info >/tmp/ci-docker-info.log 2>&1
}

install_packages() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "$@" >/tmp/ci-apt.log 2>&1 ||
    { apt-get update -q >>/tmp/ci-apt.log 2>&1 && apt-get install -y -q "$@" >>/tmp/ci-apt.log 2>&1; }
}

command -v docker >/dev/null || [ "$(id -u)" = 0 ] ||
  skip "no docker client, and only root may install one"
if ! docker_answers; then
  [ "$(id -u)" = 0 ] ||
    skip "no Docker daemon answers ($(tail -n 1 /tmp/ci-docker-info.log)), and only root may start one"
  if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    install_packages docker.io debootstrap ||
      skip "apt-get install docker.io debootstrap failed: $(tail -n 1 /tmp/ci-apt.log)"
  fi
  dockerd >/tmp/ci-dockerd.log 2>&1 &
  dockerd_pid=$!
  trap 'kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null' EXIT
  for _ in $(seq 60); do
    docker_answers && break
    sleep 1
  done
  docker_answers || skip "dockerd did not start: $(tail -n 1 /tmp/ci-dockerd.log)"
fi
if ! command -v debootstrap >/dev/null && [ "$(id -u)" = 0 ]; then
  install_packages debootstrap || echo "debootstrap could not be installed: only the official image will do"
fi
echo "sam-local tier: Docker $(docker info --format '{{.ServerVersion}}') answers; running make sam-local"
make sam-local
