# virtagent - the hostile-guest suite
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# $(B)/va-hostile is a guest program (libc only, linked statically like
# qemu-va, so that it runs in the test image) that attacks the host's
# virtagent chardev from the agent port; mk/guest.mk puts it into the
# image.  make check-hostile boots the guest in the real QEMU and fires
# every attack at it while a second QMP client measures query-status
# latency and QEMU's RSS (tests/hostile/test-hostile.py, figures in
# docs/hostile.md).

$(B)/va-hostile: tests/hostile/va-hostile.c
	@mkdir -p $(@D)
	$(CC) $(OPT) $(WARN) -std=gnu11 -static -pthread -o $@ $<

ALL_EXTRA += $(B)/va-hostile

.PHONY: check-hostile
check-hostile: $(B)/qemu-system-x86_64 guest
	tests/hostile/test-hostile.py
CHECK_EXTRA += check-hostile
