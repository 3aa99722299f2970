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
# gcc ships ASan/UBSan; clang and its runtime are for libFuzzer (check-fuzz).
all="$core ccache ninja-build python3 python3-venv libpixman-1-dev libfdt-dev
     dpkg-dev patch busybox-static cpio seabios qemu-system-data xz-utils zstd
     clang libclang-rt-14-dev"

case "${1:-core}" in
core) pkgs=$core ;;
all) pkgs=$all ;;
*) echo "usage: $0 [core|all]" >&2; exit 2 ;;
esac

missing=
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
         grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ]; then
    sudo=
elif command -v sudo >/dev/null; then
    sudo=sudo
else
    echo "missing packages:$missing (run as root or install sudo)" >&2
    exit 1
fi
echo "installing:$missing"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
