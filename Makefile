# virtagent - build
#
# Copyright (c) 2026 The virtagent authors
# SPDX-License-Identifier: GPL-2.0-or-later

-include config.mak
include Makefile.objs

B := build
CC ?= cc
OPT ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes \
        -Wno-unused-parameter
GLIB_CFLAGS := $(shell pkg-config --cflags glib-2.0)
GLIB_LIBS := $(shell pkg-config --libs glib-2.0)
XMLRPC_CFLAGS := $(shell xmlrpc-c-config --cflags)
XMLRPC_LIBS := $(shell xmlrpc-c-config server-util --libs)
CFLAGS_ALL = $(OPT) $(WARN) $(SAN) -std=gnu11 -I. -Ivirtagent \
             $(GLIB_CFLAGS) $(XMLRPC_CFLAGS) -MMD -MP $(CFLAGS)
LIBS_ALL = $(SAN) $(XMLRPC_LIBS) $(GLIB_LIBS) -lpthread

CORE_LIB := $(B)/libvirtagent.a
GLIB_LIB := $(B)/libvirtagent-glib.a

# Other parts (mk/*.mk) add their targets to ALL_EXTRA and CHECK_EXTRA.
# Their rules come first in the file, so name the default goal.
.DEFAULT_GOAL := all
ALL_EXTRA :=
CHECK_EXTRA :=
-include mk/*.mk

.PHONY: all check check-unit check-asan check-valgrind bench-core clean
all: $(CORE_LIB) $(GLIB_LIB) $(ALL_EXTRA)

config.mak:
	@echo "run ./configure first" >&2; exit 1

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(CORE_LIB): $(addprefix $(B)/,$(core-obj-y))
	rm -f $@; ar rcs $@ $^

$(GLIB_LIB): $(addprefix $(B)/,$(glib-obj-y))
	rm -f $@; ar rcs $@ $^

TEST_BINS := $(addprefix $(B)/,$(unit-tests-y))
$(B)/tests/unit/%: $(B)/tests/unit/%.o $(B)/tests/unit/va-test-util.o \
                   $(GLIB_LIB) $(CORE_LIB)
	$(CC) -o $@ $^ $(LIBS_ALL)

# Each test program is a GTest binary; the runner counts their results.
check-unit: $(TEST_BINS)
	@scripts/run-tests.sh $(TEST_BINS)

# The same tests built with ASan+UBSan in a tree of their own.
check-asan:
	$(MAKE) B=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	    check-unit

check-valgrind: $(TEST_BINS)
	@VA_TEST_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full \
	    --errors-for-leak-kinds=definite,indirect" \
	    scripts/run-tests.sh $(TEST_BINS)

check: check-unit check-asan check-valgrind check-fuzz $(CHECK_EXTRA)

$(B)/bench/bench-core: $(B)/bench/bench-core.o $(GLIB_LIB) $(CORE_LIB)
	$(CC) -o $@ $^ $(LIBS_ALL)

bench-core: $(B)/bench/bench-core
	$<

# Instructions per ping in qemu-va and in Debian's qemu-ga, natively under
# callgrind (bench/agent-instr.sh; the qemu-ga tree comes with bench-vm's
# image, mk/vm.mk).
$(B)/bench/agent-ping: $(B)/bench/agent-ping.o $(GLIB_LIB) $(CORE_LIB)
	$(CC) -o $@ $^ $(LIBS_ALL)

.PHONY: bench-instr
bench-instr: $(B)/bench/agent-ping $(B)/qemu-va $(B)/bench/initrd-qga.img
	bench/agent-instr.sh $(B)

clean:
	rm -rf build

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# libFuzzer (clang): the boundary alone, the frame parser, the channel.
# "make fuzz" runs each for FUZZ_SECONDS (default 600), keeping what it
# finds in $(B)/fuzz/corpus; "make check-fuzz" runs each for
# FUZZ_CHECK_SECONDS (default 30) from the committed corpus; "make
# fuzz-corpus" merges the long runs' finds into it, minimised.
FUZZ_TARGETS := boundary frame channel
FUZZ_BINS := $(addprefix $(B)/fuzz/fuzz-,$(FUZZ_TARGETS))
FUZZ_CORE := $(core-obj-y:.o=.c)
$(B)/fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_CORE) $(wildcard virtagent/*.h)
	@mkdir -p $(dir $@)
	clang -g -O1 $(WARN) -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -Ivirtagent $(GLIB_CFLAGS) \
	    $(XMLRPC_CFLAGS) -o $@ $< $(FUZZ_CORE) $(XMLRPC_LIBS) $(GLIB_LIBS)

.PHONY: fuzz check-fuzz fuzz-corpus
fuzz: $(FUZZ_BINS)
	@tests/fuzz/run-fuzz.sh $${FUZZ_SECONDS:-600} $(B)/fuzz/corpus \
	    $(FUZZ_BINS)

check-fuzz: $(FUZZ_BINS)
	@rm -rf $(B)/fuzz/check
	@tests/fuzz/run-fuzz.sh $${FUZZ_CHECK_SECONDS:-30} $(B)/fuzz/check \
	    $(FUZZ_BINS)

fuzz-corpus: $(FUZZ_BINS)
	@tests/fuzz/run-fuzz.sh merge $(B)/fuzz/corpus $(FUZZ_BINS)
