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
UNIT_LIBS := -larchive -lssl -lcrypto -ljansson -lseccomp -lcap -pthread

.PHONY: all check bench demo clean format fuzz unit deps
all: $(BUILD)/afterimage-capture $(BUILD)/afterimage-analyze $(UNIT_BINS) $(FUZZ_BINS) $(BUILD)/tests/fixtures/holder

$(BUILD)/%.o: %.c $(wildcard common/*.h capture/*.h analyze/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libcommon.a: $(COMMON_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/afterimage-capture: $(CAPTURE_OBJS) $(BUILD)/libcommon.a
	$(CC) $(CAPTURE_STATIC) $(LDFLAGS_SAN) -Wl,--gc-sections -o $@ $^ $(CAPTURE_LIBS)

$(BUILD)/afterimage-analyze: $(ANALYZE_OBJS) $(BUILD)/libcommon.a
	$(CC) $(LDFLAGS_SAN) -Wl,--gc-sections -o $@ $^ $(ANALYZE_LIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libcommon.a $(wildcard common/*.h tests/unit/*.h capture/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS_SAN) -o $@ $< $(BUILD)/libcommon.a $(UNIT_LIBS)

# Unit tests and fuzz targets named *analyze* also link the analyzer's modules (all but main).
ANALYZE_LIB_OBJS := $(filter-out $(BUILD)/analyze/main.o,$(ANALYZE_OBJS))
$(BUILD)/libanalyze.a: $(ANALYZE_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

UNIT_ANALYZE_BINS := $(foreach b,$(UNIT_BINS),$(if $(findstring analyze,$(notdir $(b))),$(b)))
FUZZ_ANALYZE_BINS := $(foreach b,$(FUZZ_BINS),$(if $(findstring analyze,$(notdir $(b))),$(b)))
$(UNIT_ANALYZE_BINS): $(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libanalyze.a $(BUILD)/libcommon.a $(wildcard common/*.h tests/unit/*.h analyze/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS_SAN) -o $@ $< $(BUILD)/libanalyze.a $(BUILD)/libcommon.a $(UNIT_LIBS) $(ANALYZE_LIBS)

$(FUZZ_ANALYZE_BINS): $(BUILD)/tests/fuzz/%: tests/fuzz/%.c tests/fuzz/driver.inc tests/fuzz/views.inc $(BUILD)/libanalyze.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS_SAN) -DAI_FUZZ_REPLAY -o $@ $< $(BUILD)/libanalyze.a $(BUILD)/libcommon.a $(UNIT_LIBS) $(ANALYZE_LIBS)

# Fuzz targets build as plain replay drivers (tests/fuzz/driver.c) so make check runs every
# corpus input; `make fuzz` builds them with libFuzzer instead.
$(BUILD)/tests/fuzz/%: tests/fuzz/%.c tests/fuzz/driver.inc $(BUILD)/libcommon.a $(BUILD)/libcapture-fuzz.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS_SAN) -DAI_FUZZ_REPLAY -o $@ $< $(BUILD)/libcapture-fuzz.a $(BUILD)/libcommon.a $(UNIT_LIBS)

# Capture modules a fuzz target may exercise (everything but main).
$(BUILD)/libcapture-fuzz.a: $(filter-out $(BUILD)/capture/main.o,$(CAPTURE_OBJS))
	@rm -f $@
	ar rcs $@ $^

# A static helper baked into the test image: it holds a memfd, a UNIX and a UDP socket.
$(BUILD)/tests/fixtures/holder: tests/fixtures/holder.c
	@mkdir -p $(dir $@)
	$(CC) -static -O2 -Wall -Werror -o $@ $<

# Coverage-guided fuzzing with libFuzzer (clang): build-fuzz/NAME, run e.g.
#   build-fuzz/mountinfo -max_total_time=300 tests/fuzz/corpus/mountinfo
# and keep every crash input in the corpus: make check replays them all.
fuzz:
	$(MAKE) CC=clang BUILD=build-fuzz SANITIZER=address,undefined EXTRA_CFLAGS=-fsanitize=fuzzer-no-link \
		build-fuzz/libcommon.a build-fuzz/libcapture-fuzz.a build-fuzz/libanalyze.a
	for f in $(FUZZ_SRCS:tests/fuzz/%.c=%); do \
		clang $(CFLAGS_BASE) -g -O1 -fsanitize=fuzzer,address,undefined -o build-fuzz/$$f tests/fuzz/$$f.c \
			$$(case $$f in *analyze*) echo build-fuzz/libanalyze.a;; esac) \
			build-fuzz/libcapture-fuzz.a build-fuzz/libcommon.a $(UNIT_LIBS) $(ANALYZE_LIBS) || exit 1; \
	done

unit: $(UNIT_BINS)

check: all
	bash tests/run $(BUILD)

bench: all
	bash tests/bench/run $(BUILD)

demo:
	bash scripts/install-deps
	$(MAKE) all
	bash scripts/demo $(BUILD)

format:
	clang-format -i $(COMMON_SRCS) $(CAPTURE_SRCS) $(ANALYZE_SRCS) $(wildcard */*.h) $(UNIT_SRCS)

clean:
	rm -rf build build-san build-fuzz
