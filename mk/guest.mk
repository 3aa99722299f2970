# virtagent - the test guest image and the VM runner
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make guest   build/guest/vmlinuz (and its uncompressed vmlinux) and
#              build/guest/initrd.img from Debian packages (guest/mkimage.sh),
#              cached in $(VA_CACHE_DIR)/guest
# make run     boot them in build/qemu-system-x86_64 and leave the HMP
#              prompt on the terminal (scripts/vm/vm.py run)
# make check-vm-boot
#              boot, check the agent's channel, power off (part of check)

VA_CACHE_DIR ?= $(HOME)/.cache/virtagent
GUEST_DIR := $(B)/guest
GUEST_PKGS := $(GUEST_DIR)/packages.txt
GUEST_SRC := guest/mkimage.sh guest/mkcpio.py guest/init guest/qemu-va-start \
             guest/profile

# The static guest programs of the daemon's build (mk/qemu-va.mk) and the
# hostile guest (mk/hostile.mk).  Those the build makes (listed in
# ALL_EXTRA, complete only once every mk/*.mk has been read: hence the
# second expansion) are real prerequisites; if it does not, ones already
# built are taken as they are; without any, an image without the agent is
# still useful for boot tests.
GUEST_BINS := $(B)/qemu-va $(B)/va-call $(B)/va-hostile
guest_bins_built := $(shell for f in $(GUEST_BINS); do \
                        [ -f $$f ] && echo $$f; done)

.PHONY: guest run
guest: $(GUEST_DIR)/vmlinuz $(GUEST_DIR)/vmlinux $(GUEST_DIR)/initrd.img
ALL_EXTRA += guest

# The package versions apt would fetch now.  They can change only when apt's
# package lists do (apt-cache is slow: asking on every make costs seconds).
# packages.txt is rewritten only when the versions differ, and that is what
# rebuilds the image; the stamp records that the lists were looked at.
APT_LISTS := $(wildcard /var/lib/apt/lists/*_Packages /var/lib/apt/lists/*_Packages.*)
$(GUEST_DIR)/packages.stamp: $(APT_LISTS) guest/mkimage.sh
	@mkdir -p $(@D)
	@guest/mkimage.sh resolve > $(GUEST_PKGS).new
	@if cmp -s $(GUEST_PKGS).new $(GUEST_PKGS); then rm $(GUEST_PKGS).new; \
	else mv $(GUEST_PKGS).new $(GUEST_PKGS); \
	    echo "guest packages: $$(echo $$(cat $(GUEST_PKGS)))"; fi
	@touch $@
$(GUEST_PKGS): $(GUEST_DIR)/packages.stamp ;

$(GUEST_DIR)/vmlinuz: $(GUEST_PKGS) guest/mkimage.sh
	VA_CACHE_DIR=$(VA_CACHE_DIR) guest/mkimage.sh kernel $< $@

# The same kernel uncompressed, for QEMU's PVH entry: it saves the guest
# decompressing itself under TCG, about 7 s of every boot.
$(GUEST_DIR)/vmlinux: $(GUEST_DIR)/vmlinuz guest/extract-vmlinux.py
	guest/extract-vmlinux.py $< $@

.SECONDEXPANSION:
$(GUEST_DIR)/initrd.img: $(GUEST_PKGS) $(GUEST_SRC) \
        $$(sort $$(filter $(GUEST_BINS),$$(ALL_EXTRA)) $(guest_bins_built))
	@[ -n "$(filter $(B)/qemu-va,$^)" ] || \
	    echo "note: no $(B)/qemu-va yet; building the image without the agent"
	VA_CACHE_DIR=$(VA_CACHE_DIR) guest/mkimage.sh initrd $< $@ \
	    $(filter $(GUEST_BINS),$^)

# Everything, then the VM with HMP on this terminal.  VM_ARGS takes
# vm.py's options, e.g. VM_ARGS="--transport isa-serial".
VM_ARGS ?=
run: all
	scripts/vm/vm.py run $(VM_ARGS)

# The smoke test: the image boots in our QEMU and the agent's channel
# works, on both transports.  The QEMU binary is a prerequisite when the
# build makes it (second expansion, as above).
.PHONY: check-vm-boot
check-vm-boot: guest $$(filter $(B)/qemu-system-x86_64,$$(ALL_EXTRA))
	scripts/vm/vm.py boot $(VM_ARGS)
	scripts/vm/vm.py boot --transport isa-serial $(VM_ARGS)
CHECK_EXTRA += check-vm-boot
