#!/usr/bin/env python3
# virtagent - extract the uncompressed kernel (vmlinux) from a bzImage
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Usage: extract-vmlinux.py VMLINUZ OUT
#
# Under TCG a Debian kernel spends about 7 s of a 16 s boot decompressing
# itself. QEMU boots an uncompressed vmlinux straight into the kernel
# through its PVH entry point (Debian's kernels have CONFIG_PVH=y), so the
# tests boot that instead. The payload is found through the bzImage header
# (Documentation/arch/x86/boot.rst), not by searching for a magic number.

import lzma
import os
import struct
import sys

XZ_MAGIC = b"\xfd7zXZ\x00"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: extract-vmlinux.py VMLINUZ OUT")
    src, dest = sys.argv[1:]
    with open(src, "rb") as f:
        img = f.read()
    if img[0x202:0x206] != b"HdrS":
        sys.exit("%s: not a bzImage" % src)
    setup_sects = img[0x1f1] or 4
    offset, length = struct.unpack_from("<II", img, 0x248)
    start = (setup_sects + 1) * 512 + offset
    payload = img[start:start + length]
    # Debian's amd64 kernels are xz-compressed (CONFIG_KERNEL_XZ).
    if not payload.startswith(XZ_MAGIC):
        sys.exit("%s: payload is not xz-compressed" % src)
    vmlinux = lzma.LZMADecompressor().decompress(payload)
    if not vmlinux.startswith(b"\x7fELF"):
        sys.exit("%s: payload is not an ELF kernel" % src)
    with open(dest + ".tmp", "wb") as f:
        f.write(vmlinux)
    os.replace(dest + ".tmp", dest)


if __name__ == "__main__":
    main()
