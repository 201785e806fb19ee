#!/usr/bin/env bash
# Makes this machine able to run `make test` on Debian 12: the system programs the tests
# drive, a RabbitMQ on 127.0.0.1:5672 and a Docker engine. With --bench, what `make bench`
# needs instead: wrk and the RabbitMQ.
# Installs and starts only what is missing, so it takes a moment when everything is there.
# As root it installs with apt; otherwise it names what is missing and how to get it.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Several of the programs live in sbin, which a user's PATH often lacks.
PATH=$PATH:/usr/sbin:/sbin

bench=
for arg in "$@"; do
  case $arg in
    --bench) bench=1 ;;
    *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
  esac
done

root=
[ "$(id -u)" -eq 0 ] && root=1

listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

apt_install() {
  if [ -z "${apt_updated:-}" ]; then
    apt-get update -q >/dev/null
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

# Page tests drive Debian's Chromium (Playwright never downloads a browser here); delivery
# tests push over SSH to an sshd in a network namespace; fault tests drop packets between
# namespaces with nft; cloud tests validate with cloud-init and boot a debootstrapped Debian
# under systemd-nspawn; container tests need a Docker engine. The bench needs only wrk and
# the RabbitMQ.
missing=()
if [ -n "$bench" ]; then
  command -v wrk >/dev/null || missing+=(wrk)
else
  command -v chromium >/dev/null || missing+=(chromium)
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v git >/dev/null || missing+=(git)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v nft >/dev/null || missing+=(nftables)
  command -v curl >/dev/null || missing+=(curl)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
  command -v cloud-init >/dev/null || missing+=(cloud-init)
fi

rabbitmq_up=
listening 127.0.0.1 5672 && rabbitmq_up=1
if [ -z "$rabbitmq_up" ] && ! command -v rabbitmq-server >/dev/null; then
  missing+=(rabbitmq-server)
fi

if [ -z "$root" ]; then
  problems=()
  [ ${#missing[@]} -eq 0 ] || problems+=("missing packages: ${missing[*]}")
  [ -n "$rabbitmq_up" ] || problems+=("no RabbitMQ listening on 127.0.0.1:5672")
  if [ -z "$bench" ]; then
    docker info >/dev/null 2>&1 || problems+=("no Docker engine answers \`docker info\`")
    docker compose version >/dev/null 2>&1 || problems+=("\`docker compose\` (v2) is missing")
  fi
  if [ ${#problems[@]} -gt 0 ]; then
    {
      echo "setup-machine: this machine is not ready yet:"
      printf '  - %s\n' "${problems[@]}"
      echo "Run this script as root to install and start what is missing:"
      echo "  sudo $0${*:+ $*}"
      if [ ${#missing[@]} -gt 0 ]; then
        echo "or install the packages yourself: sudo apt-get install ${missing[*]}"
      fi
    } >&2
    exit 1
  fi
  echo "setup-machine: everything needed is here"
  exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-machine: installing ${missing[*]}"
  apt_install "${missing[@]}"
fi

# The package may have started a node as it installed; a second one would not start.
if ! listening 127.0.0.1 5672; then
  echo "setup-machine: starting RabbitMQ"
  rabbitmqctl -q status >/dev/null 2>&1 || rabbitmq-server -detached
  timeout 120 rabbitmqctl await_startup >/dev/null
fi

[ -n "$bench" ] || deploy/docker/ensure-docker.sh >/dev/null
echo "setup-machine: everything needed is here"
