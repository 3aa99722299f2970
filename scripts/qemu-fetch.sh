#!/bin/sh
# virtagent - fetch what building QEMU 10.0 needs: its source and meson
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: scripts/qemu-fetch.sh CACHE_DIR
#
# Prints two lines, "QEMU_SRC=<dir>" and "MESON_DIR=<dir>", on stdout.
#
# QEMU 10.0 is taken from Debian 13 (trixie)'s source package, unpacked
# with its Debian patches applied.  QEMU 10 also needs meson >= 1.5 while
# Debian 12 ships 1.0.1, and the "+ds" tarball lacks QEMU's bundled meson
# wheel; bookworm-backports has meson 1.7.0 (arch: all), which we unpack
# privately instead of installing it, so the system keeps its own meson.
# The caller puts MESON_DIR/usr/bin on PATH and
# MESON_DIR/usr/lib/python3/dist-packages on PYTHONPATH for both QEMU's
# configure and its build.
#
# Both come through private apt lists under CACHE_DIR: the system's apt
# configuration and lists are never touched.  Set QEMU_SRC to use an
# existing QEMU source tree instead of Debian's package.
set -e

cache=${1:?usage: $0 CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# apt_private NAME LINE: an apt configuration of its own with one source.
apt_private() {
    dir=$cache/apt/$1
    mkdir -p "$dir/parts" "$dir/lists/partial" "$dir/archives/partial"
    printf '%s\n' "$2" > "$dir/parts/$1.list"
    APT_OPTS="-o Dir::Etc::SourceList=/dev/null
              -o Dir::Etc::SourceParts=$dir/parts
              -o Dir::State::Lists=$dir/lists
              -o Dir::Cache::Archives=$dir/archives
              -o APT::Sandbox::User=root"
    # One update a day is plenty for a release that only gets fixes.
    stamp=$dir/lists/.updated
    if [ -z "$(find "$stamp" -mtime -1 2>/dev/null)" ]; then
        # shellcheck disable=SC2086
        apt-get -q $APT_OPTS update >&2
        touch "$stamp"
    fi
}

# --- meson ---
meson_dir=$cache/meson-1.7
if [ ! -x "$meson_dir/usr/bin/meson" ]; then
    apt_private bookworm-backports \
        "deb http://deb.debian.org/debian bookworm-backports main"
    tmp=$cache/tmp-meson
    rm -rf "$tmp"
    mkdir -p "$tmp"
    # shellcheck disable=SC2086
    (cd "$tmp" && apt-get -q $APT_OPTS download 'meson/bookworm-backports' >&2)
    deb=$(ls "$tmp"/meson_*.deb)
    rm -rf "$meson_dir"
    dpkg-deb -x "$deb" "$meson_dir"
    rm -rf "$tmp"
fi
ver=$(PYTHONPATH=$meson_dir/usr/lib/python3/dist-packages \
      python3 "$meson_dir/usr/bin/meson" --version)
case $ver in
1.[5-9].*|1.[1-9][0-9].*) ;;
*) echo "meson $ver is too old for QEMU 10" >&2; exit 1 ;;
esac

# --- QEMU source ---
if [ -n "$QEMU_SRC" ]; then
    src=$(cd "$QEMU_SRC" && pwd)
else
    src=
    for d in "$cache"/src/qemu-10.0.*; do
        [ -f "$d/.va-unpacked" ] && src=$d
    done
    if [ -z "$src" ]; then
        apt_private trixie-src \
            "deb-src http://deb.debian.org/debian trixie main"
        tmp=$cache/tmp-src
        rm -rf "$tmp"
        mkdir -p "$tmp"
        # shellcheck disable=SC2086
        (cd "$tmp" && apt-get -q $APT_OPTS source --download-only qemu >&2)
        dsc=$(ls "$tmp"/qemu_10.0.*.dsc)
        v=$(basename "$dsc" .dsc)
        v=${v#qemu_}
        src=$cache/src/qemu-$v
        rm -rf "$src"
        mkdir -p "$cache/src"
        dpkg-source -x "$dsc" "$src" >&2
        touch "$src/.va-unpacked"
        rm -rf "$tmp"
    fi
fi
[ -f "$src/VERSION" ] || { echo "$src: not a QEMU tree" >&2; exit 1; }
case $(cat "$src/VERSION") in
10.0.*) ;;
*) echo "$src: QEMU $(cat "$src/VERSION"), need 10.0" >&2; exit 1 ;;
esac

echo "QEMU_SRC=$src"
echo "MESON_DIR=$meson_dir"
