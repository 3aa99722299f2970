# virtagent - the demo, the VM tests and the VM benchmark
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make demo      boot the test guest with the virtagent chardev and show
#                the monitor commands at work (scripts/demo.py)
# make check-vm  the end-to-end tests against the real guest (tests/vm/),
#                part of make check
# make check-methods
#                qemu-va's guest methods (exec, files, fsfreeze, network,
#                time, users, vCPUs, suspend) and what they did, in a guest
#                given a disk, a NIC and two vCPUs (tests/vm/test-methods.py),
#                part of make check
# make check-migration
#                live migration between two QEMUs with calls running both
#                ways (tests/vm/test-migration.py), part of make check
# make bench-vm  our agent beside Debian's qemu-ga and a raw port, in one
#                boot (bench/bench-vm.py; figures in docs/benchmarks.md);
#                BENCH_VM_ARGS takes its options, e.g. "--smp 2";
#                BENCH_VM_FILES the MiB of its file transfers (0: none)
#
# These boot build/qemu-system-x86_64 with the test image, so they depend
# on both (rules in mk/qemu.mk and mk/guest.mk; the binary is named by its
# path because those files may be read after this one).

VM_DEPS := $(B)/qemu-system-x86_64 guest

.PHONY: demo check-vm check-methods check-migration bench-vm
demo: $(VM_DEPS)
	scripts/demo.py

check-vm: $(VM_DEPS)
	tests/vm/test-vm.py
CHECK_EXTRA += check-vm

check-methods: $(VM_DEPS)
	tests/vm/test-methods.py
CHECK_EXTRA += check-methods

check-migration: $(VM_DEPS)
	tests/vm/test-migration.py
CHECK_EXTRA += check-migration

# The test image plus Debian's qemu-ga and its libraries, downloaded into
# the guest cache (bench/qga-image.sh).  Second expansion: the guest's
# variables are set in mk/guest.mk.
BENCH_INITRD := $(B)/bench/initrd-qga.img
BENCH_VM_ARGS ?=
BENCH_VM_FILES ?= 64
.SECONDEXPANSION:
$(BENCH_INITRD): $$(GUEST_PKGS) $$(GUEST_SRC) bench/qga-image.sh \
        $$(sort $$(filter $$(GUEST_BINS),$$(ALL_EXTRA)) $$(guest_bins_built))
	@mkdir -p $(@D)
	VA_CACHE_DIR=$(VA_CACHE_DIR) bench/qga-image.sh $(B)/bench/qga-root \
	    $< $@ $(filter $(GUEST_BINS),$^)

bench-vm: $(VM_DEPS) $(BENCH_INITRD)
	bench/bench-vm.py --initrd $(BENCH_INITRD) --files $(BENCH_VM_FILES) \
	    $(BENCH_VM_ARGS)
