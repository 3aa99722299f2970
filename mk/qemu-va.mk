# qemu-va - the guest agent, va-call, and their tests
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later
#
# $(B)/qemu-va and $(B)/va-call are linked statically (glibc, GLib and
# xmlrpc-c archives) so they drop into any x86_64 Linux guest, the test
# image included: about 2.2 MB each stripped. Sanitizer and valgrind
# builds (SAN set, or QEMU_VA_STATIC=no) are dynamic, in trees of their
# own.

# Objects live in $(B)/qemu-va.o/: $(B)/qemu-va is the daemon itself.
QO := $(B)/qemu-va.o
$(QO)/%.o: qemu-va/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

guest-rpc-obj := $(addprefix $(QO)/,$(guest-rpc-obj-y))
qemu-va-obj := $(addprefix $(QO)/,$(qemu-va-obj-y))
va-call-obj := $(addprefix $(QO)/,$(va-call-obj-y))

# va.set_user_password hashes with libcrypt (libxcrypt, libcrypt-dev).
GUEST_RPC_LIBS := -lcrypt

QEMU_VA_STATIC ?= yes
ifeq ($(SAN)$(QEMU_VA_STATIC),yes)
# The static libraries' own dependencies, from their .pc files.
STATIC_LDFLAGS := -static
STATIC_LIBS := $(XMLRPC_LIBS) $(shell pkg-config --static --libs glib-2.0) \
               -lpthread
else
STATIC_LDFLAGS :=
STATIC_LIBS := $(LIBS_ALL)
endif

$(B)/qemu-va: $(qemu-va-obj) $(GLIB_LIB) $(CORE_LIB)
	$(CC) $(SAN) $(STATIC_LDFLAGS) -o $@ $^ $(GUEST_RPC_LIBS) $(STATIC_LIBS)

$(B)/va-call: $(va-call-obj) $(GLIB_LIB) $(CORE_LIB)
	$(CC) $(SAN) $(STATIC_LDFLAGS) -o $@ $^ $(STATIC_LIBS)

ALL_EXTRA += $(B)/qemu-va $(B)/va-call

# Into a guest's tree: make install-guest-agent DESTDIR=/mnt/guest
PREFIX ?= /usr
.PHONY: install-guest-agent
install-guest-agent: $(B)/qemu-va $(B)/va-call
	install -D -m 755 $(B)/qemu-va $(DESTDIR)$(PREFIX)/sbin/qemu-va
	install -D -m 755 $(B)/va-call $(DESTDIR)$(PREFIX)/bin/va-call
	install -D -m 644 qemu-va/qemu-va.8 \
	    $(DESTDIR)$(PREFIX)/share/man/man8/qemu-va.8
	install -D -m 644 qemu-va/va-call.1 \
	    $(DESTDIR)$(PREFIX)/share/man/man1/va-call.1
	install -D -m 644 qemu-va/qemu-va.service \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system/qemu-va.service
	install -D -m 644 qemu-va/99-qemu-va.rules \
	    $(DESTDIR)$(PREFIX)/lib/udev/rules.d/99-qemu-va.rules
	install -D -m 644 qemu-va/qemu-va.conf.example \
	    $(DESTDIR)$(PREFIX)/share/doc/qemu-va/qemu-va.conf.example

# The test programs (Makefile.objs), one GTest binary each.
GUEST_TESTS := $(addprefix $(B)/tests/guest/,$(guest-tests-y))

$(B)/tests/guest/test-guest-rpc: $(B)/tests/guest/test-guest-rpc.o \
                                 $(guest-rpc-obj) $(CORE_LIB)
	$(CC) -o $@ $^ $(GUEST_RPC_LIBS) $(LIBS_ALL)

$(B)/tests/guest/test-guest-config: $(B)/tests/guest/test-guest-config.o \
                                    $(QO)/guest-config.o \
                                    $(QO)/pidfile.o $(guest-rpc-obj) \
                                    $(CORE_LIB)
	$(CC) -o $@ $^ $(GUEST_RPC_LIBS) $(LIBS_ALL)

$(B)/tests/guest/test-va-call-args: $(B)/tests/guest/test-va-call-args.o \
                                    $(QO)/va-call-args.o
	$(CC) -o $@ $^ $(LIBS_ALL)

# It runs the daemon and va-call built alongside it.
$(B)/tests/guest/test-qemu-va: $(B)/tests/guest/test-qemu-va.o \
                               $(GLIB_LIB) $(CORE_LIB) | \
                               $(B)/qemu-va $(B)/va-call
	$(CC) -o $@ $^ $(LIBS_ALL)

.PHONY: check-guest check-guest-asan check-guest-valgrind
check-guest: $(GUEST_TESTS) $(B)/qemu-va $(B)/va-call
	@scripts/run-tests.sh $(GUEST_TESTS)

# The daemon, va-call and the tests with ASan+UBSan. A tree apart from
# check-asan's, so that both may run in one parallel make.
check-guest-asan:
	$(MAKE) B=build/asan-guest OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	    check-guest

# The tests, and every daemon they start, under valgrind (dynamic build).
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect \
            --child-silent-after-fork=yes
VG_TESTS := $(GUEST_TESTS:$(B)/%=build/valgrind-guest/%)
check-guest-valgrind:
	$(MAKE) B=build/valgrind-guest QEMU_VA_STATIC=no $(VG_TESTS) \
	    build/valgrind-guest/qemu-va build/valgrind-guest/va-call
	@VA_TEST_WRAPPER="$(VALGRIND)" QEMU_VA_WRAPPER="$(VALGRIND)" \
	    scripts/run-tests.sh $(VG_TESTS)

CHECK_EXTRA += check-guest check-guest-asan check-guest-valgrind
