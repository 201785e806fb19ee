#!/usr/bin/env bash
# Builds a Debian root filesystem (12 "bookworm" unless DEBIAN_SUITE says otherwise, e.g.
# trixie for Debian 13) as a stock cloud image has it (systemd, cloud-init, python3, OpenSSH,
# sudo) without any image registry: debootstrap, then apt inside the new tree.
#
#   deploy/rootfs/build-debian-rootfs.sh TARGET [EXTRA_PACKAGE...]
#
# Extra packages are installed too. Needs root, debootstrap and systemd-nspawn
# (systemd-container).
set -euo pipefail
target=${1:?usage: $0 TARGET [EXTRA_PACKAGE...]}
shift
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${DEBIAN_SUITE:-bookworm}

debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,ca-certificates \
  "$suite" "$target" "$mirror"
# No service starts while packages install: this tree is not running yet.
printf '#!/bin/sh\nexit 101\n' > "$target/usr/sbin/policy-rc.d"
chmod +x "$target/usr/sbin/policy-rc.d"
systemd-nspawn --quiet --register=no --keep-unit -D "$target" \
  env DEBIAN_FRONTEND=noninteractive sh -c \
  "apt-get update -q && apt-get install -y -q --no-install-recommends \
     cloud-init python3 openssh-server iproute2 sudo $* && apt-get clean"
rm "$target/usr/sbin/policy-rc.d"
# Each boot gets a fresh identity, as a new instance would.
: > "$target/etc/machine-id"
