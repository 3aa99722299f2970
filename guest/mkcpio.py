#!/usr/bin/env python3
# virtagent - pack a directory into a gzip-compressed newc cpio initramfs
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: mkcpio.py DIR OUT
#
# Written instead of calling cpio(1) so that the build needs neither root
# nor fakeroot to produce root-owned files, and so that the image is
# reproducible: entries are sorted, owned by 0:0 and stamped with
# SOURCE_DATE_EPOCH (default 0) whoever builds it, whenever.

import gzip
import os
import stat
import sys


def header(ino, mode, nlink, mtime, size, namesize):
    # newc: magic, then 13 fields as 8 hex digits (see the kernel's
    # Documentation/driver-api/early-userspace/buffer-format.rst).
    fields = (ino, mode, 0, 0, nlink, mtime, size, 0, 0, 0, 0, namesize, 0)
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def pad4(n):
    return b"\0" * (-n % 4)


def entry(out, ino, name, mode, nlink, mtime, data):
    name_b = name.encode() + b"\0"
    hdr = header(ino, mode, nlink, mtime, len(data), len(name_b)) + name_b
    out.write(hdr + pad4(len(hdr)) + data + pad4(len(data)))


def pack(root, out, mtime):
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            paths.append(os.path.relpath(os.path.join(dirpath, name), root))
    # Sorting puts every directory before its contents.
    paths.sort()
    for ino, rel in enumerate(paths, 1):
        path = os.path.join(root, rel)
        st = os.lstat(path)
        perm = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            entry(out, ino, rel, stat.S_IFLNK | 0o777, 1, mtime,
                  os.readlink(path).encode())
        elif stat.S_ISDIR(st.st_mode):
            entry(out, ino, rel, stat.S_IFDIR | perm, 2, mtime, b"")
        elif stat.S_ISREG(st.st_mode):
            with open(path, "rb") as f:
                entry(out, ino, rel, stat.S_IFREG | perm, 1, mtime, f.read())
        else:
            sys.exit("mkcpio: unsupported file type: %s" % path)
    entry(out, len(paths) + 1, "TRAILER!!!", 0, 1, 0, b"")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: mkcpio.py DIR OUT")
    root, dest = sys.argv[1:]
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    with open(dest, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9,
                           mtime=mtime, filename="") as out:
            pack(root, out, mtime)


if __name__ == "__main__":
    main()
