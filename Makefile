# afterimage — plain Makefile. `make` builds both tools, `make check` runs every test,
# `make bench` the benchmarks, `SANITIZER=address,undefined make check` the sanitizer build.
CC ?= cc
SANITIZER ?=
VERSION := 0.1.0

ifeq ($(SANITIZER),)
BUILD ?= build
# The sidecar must run from a FROM-scratch image, so it links statically.
CAPTURE_STATIC := -static
OPT := -O2
else
BUILD ?= build-san
CAPTURE_STATIC :=
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=$(SANITIZER) -fno-sanitize-recover=all
endif

CFLAGS_BASE := -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wshadow -Wformat=2 -Wno-format-nonliteral -fno-strict-aliasing \
	-ffunction-sections -fdata-sections -DAI_VERSION='"$(VERSION)"' -I.
CFLAGS := $(CFLAGS_BASE) $(if $(findstring clang,$(CC)),,-Wno-format-truncation) $(OPT) $(EXTRA_CFLAGS)
LDFLAGS_SAN := $(if $(SANITIZER),-fsanitize=$(SANITIZER),)

COMMON_SRCS := $(sort $(wildcard common/*.c))
CAPTURE_SRCS := $(sort $(wildcard capture/*.c))
ANALYZE_SRCS := $(sort $(wildcard analyze/*.c))
UNIT_SRCS := $(sort $(wildcard tests/unit/*.c))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/*.c))

COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/%.o)
CAPTURE_OBJS := $(CAPTURE_SRCS:%.c=$(BUILD)/%.o)
ANALYZE_OBJS := $(ANALYZE_SRCS:%.c=$(BUILD)/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/tests/fuzz/%)

CAPTURE_LIBS := -larchive -lacl -lzstd -llz4 -llzma -lbz2 -lz -lseccomp -lcap -lssl -lcrypto -ljansson -pthread
ANALYZE_LIBS := -larchive -lcrypto -ljansson -lz -lzstd -llzma -pthread

.PHONY: all check bench demo clean format format-check fuzz unit deps
all: $(BUILD)/afterimage-capture $(BUILD)/afterimage-analyze $(UNIT_BINS) $(FUZZ_BINS) $(BUILD)/tests/fixtures/holder

# Exact dependencies: the compiler writes a .d file beside every object and binary it builds.
DEPFLAGS = -MMD -MP

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/libcommon.a: $(COMMON_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/afterimage-capture: $(CAPTURE_OBJS) $(BUILD)/libcommon.a
	$(CC) $(CAPTURE_STATIC) $(LDFLAGS_SAN) -Wl,--gc-sections -o $@ $^ $(CAPTURE_LIBS)

$(BUILD)/afterimage-analyze: $(ANALYZE_OBJS) $(BUILD)/libcommon.a
	$(CC) $(LDFLAGS_SAN) -Wl,--gc-sections -o $@ $^ $(ANALYZE_LIBS)

# Unit tests and fuzz targets link the modules they test: every capture and analyzer module but
# the two mains, from static archives, so each binary takes only what it calls.
$(BUILD)/libcapture.a: $(filter-out $(BUILD)/capture/main.o,$(CAPTURE_OBJS))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libanalyze.a: $(filter-out $(BUILD)/analyze/main.o,$(ANALYZE_OBJS))
	@rm -f $@
	ar rcs $@ $^

TEST_LIBS := $(BUILD)/libcapture.a $(BUILD)/libanalyze.a $(BUILD)/libcommon.a
TEST_LDLIBS := $(sort $(CAPTURE_LIBS) $(ANALYZE_LIBS))

$(BUILD)/tests/unit/%: tests/unit/%.c $(TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) $(LDFLAGS_SAN) -o $@ $< $(TEST_LIBS) $(TEST_LDLIBS)

# Fuzz targets build as plain replay drivers (tests/fuzz/driver.inc) so make check runs every
# corpus input; `make fuzz` builds them with libFuzzer instead.
$(BUILD)/tests/fuzz/%: tests/fuzz/%.c $(TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) $(LDFLAGS_SAN) -DAI_FUZZ_REPLAY -o $@ $< $(TEST_LIBS) $(TEST_LDLIBS)

# A static helper baked into the test image: it holds a memfd, a UNIX and a UDP socket.
$(BUILD)/tests/fixtures/holder: tests/fixtures/holder.c
	@mkdir -p $(dir $@)
	$(CC) -static -O2 -Wall -Werror -o $@ $<

# Coverage-guided fuzzing with libFuzzer (clang): `make fuzz` builds build-fuzz/NAME for every
# tests/fuzz/NAME.c (ASan and UBSan on); `make fuzz FUZZ_SECONDS=N` (or `make fuzz-run
# FUZZ_SECONDS=N` once built) then runs each target for N seconds, one process at a time, over
# build-fuzz/corpus/NAME, a working copy seeded from tests/fuzz/corpus/NAME (what libFuzzer adds
# stays there, uncommitted). A crash stops that target and lands in tests/fuzz/corpus/NAME/ as
# crash-<sha1>: rename it to say what it was (crash-<what>), fix the parser and commit both;
# make check replays every file of the corpus. FUZZ_TARGETS='a b' runs only those.
FUZZ_SECONDS ?=
FUZZ_TARGETS ?= $(FUZZ_SRCS:tests/fuzz/%.c=%)
.PHONY: fuzz-run
fuzz:
	$(MAKE) CC=clang BUILD=build-fuzz SANITIZER=address,undefined EXTRA_CFLAGS=-fsanitize=fuzzer-no-link \
		build-fuzz/libcommon.a build-fuzz/libcapture.a build-fuzz/libanalyze.a
	for f in $(FUZZ_SRCS:tests/fuzz/%.c=%); do \
		clang $(CFLAGS_BASE) -g -O1 -fsanitize=fuzzer,address,undefined -o build-fuzz/$$f tests/fuzz/$$f.c \
			build-fuzz/libcapture.a build-fuzz/libanalyze.a build-fuzz/libcommon.a $(TEST_LDLIBS) || exit 1; \
	done
	$(if $(FUZZ_SECONDS),$(MAKE) fuzz-run FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGETS='$(FUZZ_TARGETS)')

fuzz-run:
	@test -n "$(FUZZ_SECONDS)" || { echo "fuzz-run: set FUZZ_SECONDS=N"; exit 2; }
	@failed=; for f in $(FUZZ_TARGETS); do \
		test -x build-fuzz/$$f || { echo "fuzz-run: no build-fuzz/$$f, run make fuzz"; exit 2; }; \
		mkdir -p build-fuzz/corpus/$$f; cp -n tests/fuzz/corpus/$$f/* build-fuzz/corpus/$$f/ 2>/dev/null; \
		echo "=== fuzz $$f: $(FUZZ_SECONDS) s"; \
		build-fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=tests/fuzz/corpus/$$f/ build-fuzz/corpus/$$f >build-fuzz/$$f.log 2>&1 \
			|| failed="$$failed $$f"; \
		grep -E '^(stat::number_of_executed_units|SUMMARY|artifact_prefix)' build-fuzz/$$f.log; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz-run: crashed:$$failed (logs: build-fuzz/NAME.log)"; exit 1; fi

unit: $(UNIT_BINS)

check: all format-check
	bash tests/run $(BUILD)

bench: all
	bash tests/bench/run $(BUILD)

demo:
	bash scripts/install-deps
	$(MAKE) all
	bash scripts/demo $(BUILD)

# Every C file git tracks (or would track) follows the committed .clang-format.
FORMAT_SRCS = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' '*.inc' 2>/dev/null)

format:
	clang-format -i $(FORMAT_SRCS)

format-check:
	@bad=$$(for f in $(FORMAT_SRCS); do clang-format --dry-run --Werror "$$f" >/dev/null 2>&1 || echo "$$f"; done); \
	if [ -n "$$bad" ]; then echo "format-check: not formatted (make format):" $$bad; exit 1; fi; \
	echo "format-check: $(words $(FORMAT_SRCS)) files formatted"

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
