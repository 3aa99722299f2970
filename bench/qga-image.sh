#!/bin/sh
# virtagent - the benchmark's guest image: the test image plus Debian's qemu-ga
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: bench/qga-image.sh ROOT PKGLIST DEST [BIN...]
#
# Builds the test guest's initramfs (guest/mkimage.sh initrd, same
# arguments after ROOT) with Debian 12's qemu-ga added as the package
# ships it: the dynamic binary in /usr/sbin, the shared libraries it
# needs (followed through their own NEEDED entries) in
# /lib/x86_64-linux-gnu, and the loader in /lib64.  They are assembled
# in the directory ROOT, which stays (bench/agent-instr.sh runs that
# qemu-ga natively).  The packages are downloaded and unpacked into the
# guest cache (mkimage.sh fetch), never installed on the host, so bench-vm
# compares our agent with exactly what a Debian guest runs.
set -e

srcdir=$(cd "$(dirname "$0")/.." && pwd)
mkimage=$srcdir/guest/mkimage.sh
# qemu-ga's Depends, and what libglib2.0-0 and libc6 bring of them.
PKGS="qemu-guest-agent libc6 libglib2.0-0 libnuma1 libudev1 liburing2
      libpcre2-8-0"
LIBDIR=lib/x86_64-linux-gnu

die() { echo "qga-image: $*" >&2; exit 1; }

[ $# -ge 3 ] || die "usage: $0 ROOT PKGLIST DEST [BIN...]"
stage=$1
shift

dirs=
for p in $PKGS; do
    dirs="$dirs $("$mkimage" fetch "$p")"
done

rm -rf "$stage"
mkdir -p "$stage/usr/sbin" "$stage/$LIBDIR" "$stage/lib64"

needed() {
    LC_ALL=C readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'
}

for d in $dirs; do
    if [ -x "$d/usr/sbin/qemu-ga" ]; then
        cp "$d/usr/sbin/qemu-ga" "$stage/usr/sbin/qemu-ga"
    fi
done
[ -f "$stage/usr/sbin/qemu-ga" ] || die "no usr/sbin/qemu-ga in the packages"

# copy_libs LIB...: copy each library named, once, then those it names.
copy_libs() {
    for lib in "$@"; do
        [ -e "$stage/$LIBDIR/$lib" ] && continue
        found=
        for d in $dirs; do
            for sub in $LIBDIR usr/$LIBDIR; do
                if [ -e "$d/$sub/$lib" ]; then
                    found=$d/$sub/$lib
                    break 2
                fi
            done
        done
        [ -n "$found" ] || die "$lib: in none of $PKGS"
        cp -L "$found" "$stage/$LIBDIR/$lib"
        copy_libs $(needed "$stage/$LIBDIR/$lib")
    done
}
copy_libs $(needed "$stage/usr/sbin/qemu-ga")
[ -e "$stage/$LIBDIR/ld-linux-x86-64.so.2" ] || die "no loader copied"
# The path the binary's PT_INTERP names.
ln -s "../$LIBDIR/ld-linux-x86-64.so.2" "$stage/lib64/ld-linux-x86-64.so.2"

VA_IMAGE_EXTRA=$stage "$mkimage" initrd "$@"
