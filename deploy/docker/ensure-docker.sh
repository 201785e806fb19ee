#!/usr/bin/env bash
# Makes sure a Docker engine answers and `docker compose` (v2) works, on Debian 12.
# Installs Debian's docker.io if needed and starts dockerd without iptables (nothing here is
# published beyond this machine). Compose v2 is not packaged for Debian 12: its plugin is
# taken from Debian 13's docker-compose package, with apt, into the CLI plugin folder.
set -euo pipefail

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io >/dev/null
  fi
  nohup dockerd --iptables=false >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null
fi

if ! docker compose version >/dev/null 2>&1; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
  echo "deb http://deb.debian.org/debian trixie main" > "$work/sources.list"
  apt_opts=(-o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=/nonexistent
            -o Dir::State::lists="$work/lists" -o Dir::Cache="$work/cache")
  apt-get -q "${apt_opts[@]}" update >/dev/null
  (cd "$work" && apt-get -q "${apt_opts[@]}" download docker-compose >/dev/null 2>&1)
  dpkg -x "$work"/docker-compose_*.deb "$work/x"
  install -D -m 0755 "$work/x/usr/libexec/docker/cli-plugins/docker-compose" \
    /usr/local/lib/docker/cli-plugins/docker-compose
fi
docker compose version
