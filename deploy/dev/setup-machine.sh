#!/usr/bin/env bash
# Makes this machine able to run `make test` on Debian 12: the system programs the tests
# drive, a RabbitMQ on 127.0.0.1:5672, a PostgreSQL on 127.0.0.1:5432 that its `postgres`
# role may use without a password (the tests create and drop databases of their own), and a
# Docker engine. With --bench, what `make bench`
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

# The prediction log's tests run on the machine's PostgreSQL, and start private servers of
# their own (initdb, pg_ctl) to stop under load.
postgres_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
postgres_ok() { psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; }
if [ -z "$bench" ] && { [ -z "$(postgres_bin)" ] || ! command -v psql >/dev/null; }; then
  missing+=(postgresql)
fi

if [ -z "$root" ]; then
  problems=()
  [ ${#missing[@]} -eq 0 ] || problems+=("missing packages: ${missing[*]}")
  [ -n "$rabbitmq_up" ] || problems+=("no RabbitMQ listening on 127.0.0.1:5672")
  if [ -z "$bench" ]; then
    postgres_ok || problems+=("no PostgreSQL on 127.0.0.1:5432 open to its postgres role")
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

if [ -z "$bench" ] && ! postgres_ok; then
  echo "setup-machine: starting PostgreSQL"
  version=$(basename "$(dirname "$(postgres_bin)")")
  [ -d "/etc/postgresql/$version/main" ] || pg_createcluster "$version" main >/dev/null
  if ! listening 127.0.0.1 5432; then
    pg_ctlcluster "$version" main start
  fi
  if ! postgres_ok; then
    # A test machine: the postgres role may connect over loopback without a password.
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
    pg_ctlcluster "$version" main reload
  fi
  postgres_ok
fi

[ -n "$bench" ] || deploy/docker/ensure-docker.sh >/dev/null
echo "setup-machine: everything needed is here"
