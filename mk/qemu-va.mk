# qemu-va - the guest agent, va-call, and their tests
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# $(B)/qemu-va and $(B)/va-call are linked statically (glibc, GLib and
# xmlrpc-c archives) so they drop into any x86_64 Linux guest, the test
# image included. A sanitizer build (SAN set) cannot link statically, so
# there they are dynamic.

guest-rpc-obj := $(B)/qemu-va/guest-rpc.o

# The test programs, one GTest binary each.
guest-tests-y := test-guest-rpc test-guest-config
GUEST_TESTS := $(addprefix $(B)/tests/guest/,$(guest-tests-y))

$(B)/tests/guest/test-guest-rpc: $(B)/tests/guest/test-guest-rpc.o \
                                 $(guest-rpc-obj)
	$(CC) -o $@ $^ $(LIBS_ALL)

$(B)/tests/guest/test-guest-config: $(B)/tests/guest/test-guest-config.o \
                                    $(B)/qemu-va/guest-config.o \
                                    $(B)/qemu-va/pidfile.o $(guest-rpc-obj)
	$(CC) -o $@ $^ $(LIBS_ALL)

.PHONY: check-guest check-guest-asan
check-guest: $(GUEST_TESTS)
	@scripts/run-tests.sh $(GUEST_TESTS)

# The daemon and the tests with ASan+UBSan, in the same tree as check-asan.
check-guest-asan:
	$(MAKE) B=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	    check-guest

CHECK_EXTRA += check-guest check-guest-asan
