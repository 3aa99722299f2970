# virtagent - QEMU 10.0 with the virtagent chardev and monitor commands
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# scripts/qemu-build.sh keeps QEMU's tree and build under $(VA_CACHE_DIR)
# and lets ninja decide what to rebuild, so the binary's rule always runs;
# the binary is replaced only when it changed.

VA_CACHE_DIR ?= $(HOME)/.cache/virtagent
QEMU_BIN := $(B)/qemu-system-x86_64
# Firmware from Debian's seabios and qemu-system-data packages.
QEMU_FIRMWARE := -L /usr/share/seabios -L /usr/share/qemu

ALL_EXTRA += $(QEMU_BIN)
CHECK_EXTRA += check-qemu

.PHONY: qemu check-qemu check-qemu-valgrind qemu-force
qemu: $(QEMU_BIN)

$(QEMU_BIN): qemu-force
	QEMU_SRC="$(QEMU_SRC)" scripts/qemu-build.sh . "$(VA_CACHE_DIR)" $@ \
	    $(core-obj-y:.o=.c)

check-qemu: $(QEMU_BIN)
	python3 tests/qemu/test-virtagent.py --qemu $(QEMU_BIN) \
	    -- $(QEMU_FIRMWARE)

# The same under valgrind (about 3 minutes): a memory error or a definite
# leak makes QEMU exit 99, which fails the test that ran it.
check-qemu-valgrind: $(QEMU_BIN)
	python3 tests/qemu/test-virtagent.py --qemu $(QEMU_BIN) \
	    --wrapper "valgrind -q --error-exitcode=99 --leak-check=full \
	    --errors-for-leak-kinds=definite" -- $(QEMU_FIRMWARE)
