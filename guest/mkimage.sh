#!/bin/sh
# virtagent - build the test guest's kernel and initramfs from Debian packages
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage:
#   guest/mkimage.sh resolve                    print "package version" lines
#   guest/mkimage.sh kernel PKGLIST DEST        write the kernel image to DEST
#   guest/mkimage.sh initrd PKGLIST DEST [BIN...]
#                                               write the initramfs to DEST,
#                                               with the static programs BIN...
#                                               (qemu-va in /usr/sbin, others
#                                               in /usr/bin)
#   guest/mkimage.sh fetch PKG                  fetch the candidate version
#                                               of PKG, print its directory
#
# VA_IMAGE_EXTRA=DIR adds DIR's tree to the initramfs (the benchmark's
# image adds Debian's qemu-ga and its libraries that way).
#
# PKGLIST is the output of "resolve".  Nothing is installed on the host:
# packages are fetched with "apt-get download" into
# ${VA_CACHE_DIR:-$HOME/.cache/virtagent}/guest/ and unpacked there, one
# directory per package version, so a new Debian kernel simply lands beside
# the old one and a rebuild never reuses stale files.
set -e

srcdir=$(cd "$(dirname "$0")" && pwd)
cache=${VA_CACHE_DIR:-$HOME/.cache/virtagent}/guest

# The drivers in dependency order: insmod does not resolve dependencies,
# so the image loads exactly this sequence.  The virtio-serial stack for
# the agent, then a virtio disk with ext4 and a virtio NIC, for the guest
# methods' VM tests (tests/vm/test-methods.py); each is loaded at boot but
# binds only to a device the VM has.
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev
         virtio_pci virtio_console virtio_blk failover net_failover
         virtio_net crc16 mbcache jbd2 crc32c_generic ext4"

die() { echo "mkimage: $*" >&2; exit 1; }

candidate() {
    v=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p')
    case "$v" in
    ''|'(none)') die "no installable version of $1 (run apt-get update?)" ;;
    esac
    echo "$v"
}

# linux-image-amd64 is a metapackage; the image lives in the versioned
# package it depends on (linux-image-6.1.0-N-amd64 on Debian 12).
resolve() {
    kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
           sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
    [ -n "$kpkg" ] || die "cannot resolve linux-image-amd64 (run apt-get update?)"
    for p in "$kpkg" busybox-static base-files; do
        echo "$p $(candidate "$p")"
    done
}

# fetch PKG VERSION: print the directory holding the unpacked package.
# Download and unpack go through temporary names and a rename, so two
# parallel make jobs never see a half-written cache entry.
fetch() {
    dir=$cache/$1_$2
    # A kernel is unpacked with the modules listed: another list, another
    # directory.
    case "$1" in
    linux-image-*) dir=${dir}_$(echo $MODULES | cksum | cut -d ' ' -f 1) ;;
    esac
    if [ ! -d "$dir" ]; then
        mkdir -p "$cache"
        tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
        # apt drops privileges to _apt for downloads, which cannot write
        # into a root-owned private directory; as root, stay root.
        sandbox=
        [ "$(id -u)" = 0 ] && sandbox="-o APT::Sandbox::User=root"
        (cd "$tmp" && apt-get download -q $sandbox "$1=$2" >&2) ||
            die "apt-get download $1=$2 failed"
        mkdir "$tmp/root"
        case "$1" in
        linux-image-*)
            # The kernel package unpacks to 400 MB of modules; the image
            # needs the kernel, its config and the modules listed.
            set -- './boot/vmlinuz-*' './boot/config-*' \
                './lib/modules/*/modules.builtin'
            for m in $MODULES; do
                set -- "$@" "./lib/modules/*/$m.ko*"
            done
            dpkg-deb --fsys-tarfile "$tmp"/*.deb |
                tar -x -C "$tmp/root" --wildcards "$@" ;;
        *)
            dpkg-deb -x "$tmp"/*.deb "$tmp/root" ;;
        esac
        # -T: if a parallel job got there first, fail rather than move
        # this copy into its directory.
        mv -T "$tmp/root" "$dir" 2>/dev/null || [ -d "$dir" ]
        rm -rf "$tmp"
    fi
    echo "$dir"
}

# pkgdir PKGLIST PREFIX: fetch the listed package whose name starts with
# PREFIX and print its directory.
pkgdir() {
    line=$(grep "^$2" "$1" | head -n 1)
    [ -n "$line" ] || die "$1 lists no $2 package"
    fetch $line
}

kernel() {
    k=$(pkgdir "$1" linux-image-)
    set -- "$2" "$k"/boot/vmlinuz-*
    [ -f "$2" ] || die "no vmlinuz in $k"
    cp "$2" "$1.tmp"
    mv "$1.tmp" "$1"
}

initrd() {
    pkglist=$1 dest=$2
    shift 2
    k=$(pkgdir "$pkglist" linux-image-)
    bb=$(pkgdir "$pkglist" busybox-static)
    base=$(pkgdir "$pkglist" base-files)
    kver=$(basename "$(echo "$k"/lib/modules/*)")

    stage=$(mktemp -d "${TMPDIR:-/tmp}/va-initrd.XXXXXX")
    trap 'rm -rf "$stage"' EXIT
    for d in bin sbin usr/bin usr/sbin etc proc sys dev run tmp root \
             var/log "lib/modules/$kver"; do
        mkdir -p "$stage/$d"
    done
    ln -s ../run "$stage/var/run"

    cp "$bb/bin/busybox" "$stage/bin/busybox"
    # Applet links made now rather than with "busybox --install" at boot:
    # the list comes from the very binary that goes into the image.
    "$bb/bin/busybox" --list-full | while read -r applet; do
        [ "$applet" = bin/busybox ] || ln -s /bin/busybox "$stage/$applet"
    done

    # Load only what is really a module: a driver built into this kernel
    # (listed in modules.builtin) has no .ko and needs no insmod.
    : > "$stage/etc/modules"
    for m in $MODULES; do
        if grep -q "/$m\.ko\$" "$k/lib/modules/$kver/modules.builtin"; then
            continue
        fi
        ko=$(find "$k/lib/modules/$kver" -name "$m.ko*" | head -n 1)
        [ -n "$ko" ] || die "$m is neither built in nor a module of $kver"
        # Whether busybox insmod can decompress depends on its build
        # options; plain ELF always loads.
        case "$ko" in
        *.ko.xz) xz -dc "$ko" ;;
        *.ko.zst) zstd -qdc "$ko" ;;
        *.ko) cat "$ko" ;;
        *) die "unknown module format: $ko" ;;
        esac > "$stage/lib/modules/$kver/$m.ko"
        echo "$m" >> "$stage/etc/modules"
    done

    cp "$base/usr/lib/os-release" "$stage/etc/os-release"
    echo virtagent-guest > "$stage/etc/hostname"
    echo 'root:x:0:0:root:/root:/bin/sh' > "$stage/etc/passwd"
    echo 'root:x:0:' > "$stage/etc/group"
    cp "$srcdir/profile" "$stage/etc/profile"
    install -m 755 "$srcdir/init" "$stage/init"
    install -m 755 "$srcdir/qemu-va-start" "$stage/usr/sbin/qemu-va-start"

    for bin in "$@"; do
        # The image has no C library: a dynamic binary would not even start.
        if LC_ALL=C readelf -l "$bin" | grep -q 'program interpreter'; then
            die "$bin is dynamically linked; the guest needs a static binary"
        fi
        name=$(basename "$bin")
        case "$name" in
        qemu-va) dir=usr/sbin ;;
        *) dir=usr/bin ;;
        esac
        install -m 755 "$bin" "$stage/$dir/$name"
    done

    if [ -n "$VA_IMAGE_EXTRA" ]; then
        cp -R "$VA_IMAGE_EXTRA"/. "$stage"/
    fi
    python3 "$srcdir/mkcpio.py" "$stage" "$dest.tmp"
    mv "$dest.tmp" "$dest"
}

case "$1" in
resolve) resolve ;;
fetch) [ $# = 2 ] || die "usage: $0 fetch PKG"
       fetch "$2" "$(candidate "$2")" ;;
kernel) [ $# = 3 ] || die "usage: $0 kernel PKGLIST DEST"; kernel "$2" "$3" ;;
initrd) [ $# -ge 3 ] || die "usage: $0 initrd PKGLIST DEST [BIN...]"
        shift; initrd "$@" ;;
*) die "usage: $0 resolve|kernel|initrd|fetch ..." ;;
esac
