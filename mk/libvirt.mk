# virtagent - the libvirt suite
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make check-libvirt  the test guest under a private libvirtd and virtlogd
#                     (tests/libvirt/test-libvirt.py, as root; part of make
#                     check): QMP and HMP passthrough, events, save/restore,
#                     managedsave, a memory snapshot, a call across a save.
#                     Skipped, with a line saying why, without root or
#                     libvirt (scripts/install-deps.sh all installs it).

.PHONY: check-libvirt
check-libvirt: $(B)/qemu-system-x86_64 guest
	tests/libvirt/test-libvirt.py
CHECK_EXTRA += check-libvirt
