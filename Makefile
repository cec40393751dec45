# afterimage — plain Makefile. `make` builds both tools, `make check` runs every test,
# `make bench` the benchmarks, `SANITIZER=address,undefined make check` the sanitizer build.
# Shipping: `make image` (the sidecar's OCI image), `make sbom`, `make release RELEASE_KEY=FILE`
# (or RELEASE_KEY_FD=N), `make man-check`; docs/release.md says what each makes and how to rebuild it.
CC ?= cc
SANITIZER ?=
VERSION := 0.1.0
# The repository the image's org.opencontainers.image.source label names: set it when publishing.
SOURCE_URL ?= https://example.org/afterimage

ifeq ($(SANITIZER),)
BUILD ?= build
# The sidecar must run from a FROM-scratch image, so it links statically; so does the analyzer,
# so that the release's binary runs on any Linux an analyst has.
STATIC := -static
OPT := -O2
else
BUILD ?= build-san
STATIC :=
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=$(SANITIZER) -fno-sanitize-recover=all
endif

CFLAGS_BASE := -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wshadow -Wformat=2 -Wno-format-nonliteral -fno-strict-aliasing \
	-ffunction-sections -fdata-sections -DAI_VERSION='"$(VERSION)"' -I.
# Reproducible: two builds of one commit are byte-identical wherever they run. No build path in
# any output (__FILE__, debug info: the source tree's path is mapped to "."), no date (nothing
# uses __DATE__; SOURCE_DATE_EPOCH would pin it), and a build id that hashes the content.
REPRO_CFLAGS := -ffile-prefix-map=$(CURDIR)=.
REPRO_LDFLAGS := -Wl,--build-id=sha1
CFLAGS := $(CFLAGS_BASE) $(REPRO_CFLAGS) $(if $(findstring clang,$(CC)),,-Wno-format-truncation) $(OPT) $(EXTRA_CFLAGS)
LDFLAGS_SAN := $(if $(SANITIZER),-fsanitize=$(SANITIZER),)
# Each binary's link map (BINARY.map): scripts/size-breakdown reads what each library costs,
# scripts/sbom which libraries are inside.
LDFLAGS_BIN = $(STATIC) $(LDFLAGS_SAN) $(REPRO_LDFLAGS) -Wl,--gc-sections -Wl,-Map=$@.map

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

# OPENSSL=minimal links the sidecar against a minimal static OpenSSL built from Debian's source
# package with OpenSSL's own options (scripts/build-openssl, ~3 min of CPU once per build dir):
# 3.6 MB stripped instead of 5.4 (docs/release.md). The default is Debian's libssl-dev.
OPENSSL ?= system
ifeq ($(OPENSSL),minimal)
OPENSSL_DIR := $(BUILD)/openssl-minimal
CAPTURE_SSL := $(OPENSSL_DIR)/lib/libssl.a $(OPENSSL_DIR)/lib/libcrypto.a
CAPTURE_SSL_DEP := $(OPENSSL_DIR)/lib/libcrypto.a
else
CAPTURE_SSL := -lssl -lcrypto
CAPTURE_SSL_DEP :=
endif
CAPTURE_LIBS := -larchive -lacl -lzstd -llz4 -llzma -lbz2 -lz -lseccomp -lcap $(CAPTURE_SSL) -ljansson -pthread
# libarchive's readers call acl, lz4 and bzip2: a static link needs them named.
ANALYZE_LIBS := -larchive -lacl -llz4 -lbz2 -lcrypto -ljansson -lz -lzstd -llzma -pthread

.PHONY: all binaries check bench demo clean format format-check fuzz unit deps image sbom release man-check size
all: $(BUILD)/afterimage-capture $(BUILD)/afterimage-analyze $(UNIT_BINS) $(FUZZ_BINS) $(BUILD)/tests/fixtures/holder \
	$(BUILD)/tests/fixtures/memprog

# Exact dependencies: the compiler writes a .d file beside every object and binary it builds.
DEPFLAGS = -MMD -MP

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/libcommon.a: $(COMMON_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The static links warn that getaddrinfo and OpenSSL's dlopen need glibc's shared NSS modules at
# run time: the sidecar resolves only numeric addresses and names in /etc/hosts or DNS (compiled
# into static glibc), and never loads an OpenSSL module.
$(BUILD)/afterimage-capture: $(CAPTURE_OBJS) $(BUILD)/libcommon.a $(CAPTURE_SSL_DEP)
	$(CC) $(LDFLAGS_BIN) -o $@ $(CAPTURE_OBJS) $(BUILD)/libcommon.a $(CAPTURE_LIBS)

$(BUILD)/openssl-minimal/lib/libcrypto.a: scripts/build-openssl
	bash scripts/build-openssl $(BUILD)/openssl-minimal

$(BUILD)/afterimage-analyze: $(ANALYZE_OBJS) $(BUILD)/libcommon.a
	$(CC) $(LDFLAGS_BIN) -o $@ $^ $(ANALYZE_LIBS)

binaries: $(BUILD)/afterimage-capture $(BUILD)/afterimage-analyze

# Unit tests and fuzz targets link the modules they test: every capture and analyzer module but
# the two mains, from static archives, so each binary takes only what it calls.
$(BUILD)/libcapture.a: $(filter-out $(BUILD)/capture/main.o,$(CAPTURE_OBJS))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libanalyze.a: $(filter-out $(BUILD)/analyze/main.o,$(ANALYZE_OBJS))
	@rm -f $@
	ar rcs $@ $^

TEST_LIBS := $(BUILD)/libcapture.a $(BUILD)/libanalyze.a $(BUILD)/libcommon.a
TEST_LDLIBS := $(sort $(filter-out $(CAPTURE_SSL),$(CAPTURE_LIBS)) $(ANALYZE_LIBS) -lssl)

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

# The memory capture's target (tests/integration/17-capture-memory.sh, the memory benchmark):
# static and with debug info, so gdb names its threads' frames and its global from the core.
$(BUILD)/tests/fixtures/memprog: tests/fixtures/memprog.c
	@mkdir -p $(dir $@)
	$(CC) -static -O1 -g -Wall -Werror -pthread -o $@ $<

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

# ---- shipping (docs/release.md)
# What each library costs in the stripped binaries (the sidecar's goal: <= 4 MB).
size: binaries
	@for b in afterimage-capture afterimage-analyze; do python3 scripts/size-breakdown $(BUILD)/$$b $(BUILD)/$$b.map; echo; done

# The sidecar's OCI image, FROM scratch: BUILD/image/afterimage-capture-VERSION.oci.tar; prints its digest.
image: binaries
	AI_SOURCE_URL=$(SOURCE_URL) bash scripts/build-image $(BUILD)

# The CycloneDX 1.5 SBOM of both binaries and the image: BUILD/afterimage-VERSION.cdx.json.
sbom: image
	python3 scripts/sbom $(BUILD)

# Everything in one directory (RELEASE_DIR, default release/afterimage-VERSION), built from the
# source tarball of HEAD and signed with the release key, which comes from a file or a descriptor:
#   make release RELEASE_KEY=/secure/release.key      make release RELEASE_KEY_FD=3 3</secure/release.key
# Verify with stock tools: scripts/verify-release DIR release.pub
RELEASE_DIR ?= release/afterimage-$(VERSION)
release:
	bash scripts/release --out $(RELEASE_DIR) \
		$(if $(RELEASE_KEY),--key $(RELEASE_KEY),$(if $(RELEASE_KEY_FD),--key-fd $(RELEASE_KEY_FD),))

# The man pages render without a warning, and every option of every subcommand is in them.
man-check: binaries
	bash scripts/man-check $(BUILD)

clean:
	rm -rf build build-san build-fuzz release

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
