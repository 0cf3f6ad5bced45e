# FreeCAS — one GNU Makefile for the library, the five programs, the
# simulators, the tests, the fuzzers and the benchmarks.
#
#   make                 build everything into build/
#   make check           install missing packages, unit + integration tests,
#                        then the whole suite again under ASan+UBSan, fuzz smoke
#   make SANITIZE=address  the sanitizer build into build-asan/
#   make bench           the benchmarks (printed figures)
#   make fuzz            longer libFuzzer runs (FUZZ_SECONDS, default 60)
#   make install         PREFIX=/usr/local DESTDIR=

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc/freecas
DESTDIR  ?=

CC       ?= cc
V        ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
endif
PKG_CONFIG ?= pkg-config
PKGS     := libsodium libevent sqlite3 libcurl
SANITIZE ?=

ifeq ($(SANITIZE),address)
BUILD    ?= build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD    ?= build
SANFLAGS :=
endif

WARN     := -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes \
            -Wshadow -Wpointer-arith -Wcast-qual -Wsign-compare
CSTD     := -std=c11
OPT      ?= -O2 -g
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) libevent_pthreads 2>/dev/null)
CPPFLAGS += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Ilibcas -I$(BUILD)/gen
ALL_CFLAGS = $(CSTD) $(WARN) $(OPT) $(SANFLAGS) $(PKG_CFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS      = $(PKG_LIBS) -lm -lpthread

PROGRAMS := ecmgd emmgd casapid cascron casprog
LIBCAS_SRC := $(sort $(wildcard libcas/*.c))
LIBCAS_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(LIBCAS_SRC)) $(BUILD)/gen/schema_sql.o
LIBCAS     := $(BUILD)/libcas.a
SCHEMA_SQL := $(sort $(wildcard schema/*.sql))

# Every program folder and contrib tool with C sources becomes one binary.
prog_src  = $(sort $(wildcard $(1)/*.c))
prog_obj  = $(patsubst %.c,$(BUILD)/%.o,$(call prog_src,$(1)))
PROG_BINS := $(addprefix $(BUILD)/bin/,$(PROGRAMS))
CONTRIB_TOOLS := $(notdir $(patsubst %/,%,$(dir $(wildcard contrib/*/main.c))))
CONTRIB_BINS := $(addprefix $(BUILD)/bin/,$(CONTRIB_TOOLS))

# test/unit/test_*.c: one cmocka binary each.  test/sim/*.c, test/bench/*.c:
# one program each (simulators, load generators).  test/fuzz/fuzz_*.c:
# libFuzzer targets (clang), also built as plain replay programs.
UNIT_SRC  := $(sort $(wildcard test/unit/test_*.c))
UNIT_BINS := $(patsubst test/unit/%.c,$(BUILD)/test/%,$(UNIT_SRC))
SIM_SRC   := $(sort $(wildcard test/sim/*.c))
SIM_BINS  := $(patsubst test/sim/%.c,$(BUILD)/bin/%,$(SIM_SRC))
BENCH_SRC := $(sort $(wildcard test/bench/*.c))
BENCH_BINS:= $(patsubst test/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
FUZZ_SRC  := $(sort $(wildcard test/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(patsubst test/fuzz/%.c,$(BUILD)/fuzz/%-replay,$(FUZZ_SRC))
FUZZ_LF   := $(patsubst test/fuzz/%.c,build-fuzz/%,$(FUZZ_SRC))
IT_SCRIPTS := $(sort $(wildcard test/it/*.sh))

.PHONY: all deps check check-build check-run check-asan fuzz fuzz-smoke bench \
        install clean demo unit it
.DEFAULT_GOAL := all

all: $(LIBCAS) $(PROG_BINS) $(CONTRIB_BINS) $(SIM_BINS) $(UNIT_BINS) $(BENCH_BINS) $(FUZZ_REPLAY)

deps:
	@sh contrib/deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# The schema is compiled into the library so a program never depends on the
# working directory to create or migrate its database.
$(BUILD)/gen/schema_sql.c: $(SCHEMA_SQL) contrib/embed-schema.sh
	@mkdir -p $(dir $@)
	$(Q)sh contrib/embed-schema.sh $(SCHEMA_SQL) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/schema_sql.o: $(BUILD)/gen/schema_sql.c
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBCAS): $(LIBCAS_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@
	$(Q)ar rcs $@ $^

.SECONDEXPANSION:
$(PROG_BINS): $(BUILD)/bin/%: $$(call prog_obj,%) $(LIBCAS)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(call prog_obj,$*) $(LIBCAS) $(LIBS)

$(CONTRIB_BINS): $(BUILD)/bin/%: $$(call prog_obj,contrib/%) $(LIBCAS)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(call prog_obj,contrib/$*) $(LIBCAS) $(LIBS)

# DVB-CSA for the demo's scrambler and receiver (libdvbcsa has no .pc file).
$(BUILD)/bin/demo-headend $(BUILD)/bin/demo-receiver: LIBS += -ldvbcsa

$(SIM_BINS): $(BUILD)/bin/%: $(BUILD)/test/sim/%.o $(LIBCAS)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBCAS) $(LIBS)

$(BENCH_BINS): $(BUILD)/bench/%: $(BUILD)/test/bench/%.o $(LIBCAS)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBCAS) $(LIBS)

$(UNIT_BINS): $(BUILD)/test/%: $(BUILD)/test/unit/%.o $(LIBCAS)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBCAS) $(LIBS) -lcmocka

# Replay build of each fuzz target: runs the target over the files named on
# the command line (the corpus), so every toolchain can check the corpus.
$(BUILD)/fuzz/%-replay: $(BUILD)/test/fuzz/%.o $(BUILD)/test/fuzz-replay-main.o $(LIBCAS)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/test/fuzz-replay-main.o $(LIBCAS) $(LIBS)

$(BUILD)/test/fuzz-replay-main.o: test/fuzz/replay_main.inc
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -x c -c $< -o $@

# libFuzzer builds (clang only), in their own tree.
FUZZ_CFLAGS = -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) \
              -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Ilibcas -Ibuild-fuzz/gen
build-fuzz/libcas.a: $(LIBCAS_SRC) $(SCHEMA_SQL)
	@mkdir -p build-fuzz/obj build-fuzz/gen
	@echo "  FUZZLIB $@"
	$(Q)sh contrib/embed-schema.sh $(SCHEMA_SQL) > build-fuzz/gen/schema_sql.c
	$(Q)cd build-fuzz/obj && for f in $(LIBCAS_SRC) ../gen/schema_sql.c; do \
	  case $$f in ../*) src=$$f;; *) src=../../$$f;; esac; \
	  clang -std=c11 -g -O1 -fsanitize=fuzzer-no-link,address,undefined $(PKG_CFLAGS) \
	    -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I../../libcas -c $$src || exit 1; done
	$(Q)rm -f $@; ar rcs $@ build-fuzz/obj/*.o

build-fuzz/%: test/fuzz/%.c build-fuzz/libcas.a
	@echo "  FUZZ    $@"
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $< build-fuzz/libcas.a $(PKG_LIBS) -lm -lpthread

FUZZ_SECONDS ?= 60
fuzz: deps $(FUZZ_LF)
	@for f in $(FUZZ_LF); do n=$$(basename $$f); mkdir -p build-fuzz/corpus/$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 build-fuzz/corpus/$$n test/fuzz/corpus/$$n 2>&1 | tail -n 3 || exit 1; done

# A short run of every fuzzer inside `make check`.
fuzz-smoke: $(FUZZ_LF)
	@for f in $(FUZZ_LF); do n=$$(basename $$f); mkdir -p build-fuzz/corpus/$$n; \
	  $$f -max_total_time=$${FUZZ_SMOKE_SECONDS:-10} build-fuzz/corpus/$$n test/fuzz/corpus/$$n >build-fuzz/$$n.log 2>&1 \
	    || { tail -n 40 build-fuzz/$$n.log; echo "fuzz: $$n FAILED"; exit 1; }; \
	  echo "fuzz: $$n ok ($$(grep -o 'Done [0-9]* runs' build-fuzz/$$n.log | cut -d' ' -f2) runs)"; done

unit: $(UNIT_BINS)
	@sh test/run-unit.sh $(BUILD) $(UNIT_BINS)

it: all
	@sh test/run-it.sh $(BUILD) $(IT_SCRIPTS)

check-run:
	@rm -f $(BUILD)/results-unit $(BUILD)/results-it
	@$(MAKE) --no-print-directory unit; u=$$?; $(MAKE) --no-print-directory it; i=$$?; [ $$u -eq 0 ] && [ $$i -eq 0 ]

check: deps
	$(MAKE) all
	$(MAKE) check-run
	$(MAKE) SANITIZE=address all
	$(MAKE) SANITIZE=address check-run
	$(MAKE) fuzz-smoke
	@cat build/results-unit build/results-it build-asan/results-unit build-asan/results-it | \
	  awk '{p += $$1; f += $$2} END {print "check: " p " passed, " f " failed"; exit f > 0}'


bench: deps
	$(MAKE) OPT='-O2 -g -DNDEBUG' all
	@sh test/run-bench.sh $(BUILD)

demo: deps
	$(MAKE) all
	@sh contrib/demo/demo.sh $(BUILD)

MANPAGES := $(sort $(wildcard doc/*.[1-8]))
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(SYSCONFDIR)
	install -m 0755 $(PROG_BINS) $(CONTRIB_BINS) $(DESTDIR)$(BINDIR)/
	for m in $(MANPAGES); do s=$${m##*.}; install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	install -m 0644 contrib/cas.conf $(DESTDIR)$(SYSCONFDIR)/cas.conf.sample

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Keep intermediate objects (fuzz targets, tests) between runs.
.SECONDARY:
