#!/bin/sh
# virtagent - install the Debian packages a build or a test run needs
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: scripts/install-deps.sh [core|all]
# Installs only what is missing, as root or through sudo.
set -e

core="build-essential pkg-config libglib2.0-dev libxmlrpc-core-c3-dev valgrind"
# libvirt's daemon, QEMU driver, virsh and Python bindings: check-libvirt.
# Installed without their recommends, which would bring a system libvirtd's
# configuration and services; the suite runs a private daemon.
libvirt="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
         python3-libvirt"
# gcc ships ASan/UBSan; clang and its runtime are for libFuzzer (check-fuzz).
# e2fsprogs' mkfs.ext4 makes the guest's disk in check-methods.
all="$core ccache ninja-build python3 python3-venv libpixman-1-dev libfdt-dev
     nettle-dev dpkg-dev patch busybox-static cpio seabios qemu-system-data xz-utils zstd
     clang libclang-rt-14-dev e2fsprogs $libvirt"

case "${1:-core}" in
core) pkgs=$core ;;
all) pkgs=$all ;;
*) echo "usage: $0 [core|all]" >&2; exit 2 ;;
esac

missing=
norec=
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
         grep -q 'install ok installed'; then
        case " $(echo $libvirt) " in
        *" $p "*) norec="$norec $p" ;;
        *) missing="$missing $p" ;;
        esac
    fi
done
[ -z "$missing$norec" ] && exit 0

if [ "$(id -u)" = 0 ]; then
    sudo=
elif command -v sudo >/dev/null; then
    sudo=sudo
else
    echo "missing packages:$missing$norec (run as root or install sudo)" >&2
    exit 1
fi
echo "installing:$missing$norec"
$sudo apt-get update -qq
install="$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq"
[ -z "$missing" ] || $install $missing >/dev/null
[ -z "$norec" ] || $install --no-install-recommends $norec >/dev/null
